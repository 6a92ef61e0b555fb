//! The BTF parser against blobs built the way the kernel lays them out: no kernel needed.

use super::*;

/// Builds a BTF blob the way the kernel lays it out, for fixtures.
#[derive(Default)]
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn new() -> Self {
        Builder { strings: vec![0], next_id: 1, ..Default::default() }
    }
    fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }
    fn header(&mut self, name: &str, kind: u32, vlen: usize, kind_flag: bool, size_or_type: u32) -> u32 {
        let name = self.str(name);
        let info = (kind << 24) | vlen as u32 | (u32::from(kind_flag) << 31);
        for v in [name, info, size_or_type] {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }
    fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.header(name, KIND_INT, 0, false, size);
        self.types.extend_from_slice(&(size * 8).to_le_bytes());
        id
    }
    fn ptr(&mut self, to: u32) -> u32 {
        self.header("", KIND_PTR, 0, false, to)
    }
    fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.header(name, KIND_TYPEDEF, 0, false, to)
    }
    fn record(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let id = self.header(name, kind, members.len(), false, size);
        for &(m, ty, bits) in members {
            let m = self.str(m);
            for v in [m, ty, bits] {
                self.types.extend_from_slice(&v.to_le_bytes());
            }
        }
        id
    }
    fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [24u32, 0, self.types.len() as u32, self.types.len() as u32, self.strings.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend(self.types);
        out.extend(self.strings);
        out
    }
}

#[test]
fn finds_fields_through_anonymous_unions_and_typedefs() {
    let mut b = Builder::new();
    let long = b.int("long", 8);
    let dentry_ptr = b.ptr(0);
    // struct path { void *mnt; struct dentry *dentry; }
    let path = b.record(KIND_STRUCT, "path", 16, &[("mnt", dentry_ptr, 0), ("dentry", dentry_ptr, 64)]);
    let path_t = b.typedef("path_t", path);
    // union { long f_count; struct path f_path; } at byte 8 of struct file, anonymous.
    let anon = b.record(KIND_UNION, "", 16, &[("f_count", long, 0), ("f_path", path_t, 0)]);
    b.record(KIND_STRUCT, "file", 40, &[("f_lock", long, 0), ("", anon, 64), ("f_inode", dentry_ptr, 192)]);
    let btf = Btf::parse(b.finish()).unwrap();
    assert_eq!(btf.offset_of("file", "f_path.dentry").unwrap(), 16);
    assert_eq!(btf.offset_of("file", "f_inode").unwrap(), 24);
    assert_eq!(btf.offset_of("path", "dentry").unwrap(), 8);
    let err = btf.offset_of("file", "f_pos").unwrap_err().to_string();
    assert!(err.contains("no field f_pos"), "{err}");
    let err = btf.offset_of("inode", "i_ino").unwrap_err().to_string();
    assert!(err.contains("struct inode is not in"), "{err}");
}

#[test]
fn rejects_what_is_not_btf() {
    assert!(Btf::parse(b"\x7fELF and more bytes here....".to_vec()).unwrap_err().to_string().contains("magic"));
    assert!(Btf::parse(vec![0x9f]).is_err());
}
