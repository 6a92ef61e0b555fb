//! Struct field offsets from the running kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! Rust cannot emit CO-RE relocations, and layouts differ between kernels (6.18 renamed
//! `kernfs_node.parent`; `struct file` was reordered several times), so the offsets the write
//! probes follow are looked up here at run time and handed to the eBPF side as a global.
//! Only the small part of the format needed for that is read: structs, unions, their members and
//! the modifiers and typedefs between them.
//!
//! Why a parser of our own: aya 0.14's `Btf` offers only `id_by_type_name_kind`; walking a
//! struct's members (`type_by_id`, `string_at`, `members`, member offsets) is `pub(crate)` in
//! aya-obj 0.3. btf-rs 2.0 can do it, but parsed vmlinux in 120 ms against this parser's 22 ms,
//! and probe start-up is a figure cgbench reports.

use anyhow::{Context as _, bail, ensure};
use probe_common::KernelOffsets;

const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// One BTF blob, read lazily: only each type's position is indexed, and names and members are
/// decoded from the bytes when a lookup needs them (vmlinux has ~100,000 types; cgbench asks
/// about seven of them).
#[derive(Debug)]
pub struct Btf {
    data: Vec<u8>,
    strings: std::ops::Range<usize>,
    /// Byte offset of each type's `struct btf_type`, by id; id 0 is `void` and has none.
    types: Vec<usize>,
}

fn u16_at(data: &[u8], at: usize) -> anyhow::Result<u16> {
    Ok(u16::from_le_bytes(data.get(at..at + 2).context("BTF truncated")?.try_into()?))
}

fn u32_at(data: &[u8], at: usize) -> anyhow::Result<u32> {
    Ok(u32::from_le_bytes(data.get(at..at + 4).context("BTF truncated")?.try_into()?))
}

/// The common head of every type: name, kind, member count, and size or referenced type.
struct Head {
    name_off: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    size_or_type: u32,
}

impl Btf {
    pub fn from_sys_fs() -> anyhow::Result<Btf> {
        let data = std::fs::read("/sys/kernel/btf/vmlinux")
            .context("this kernel has no BTF (/sys/kernel/btf/vmlinux); cgbench needs CONFIG_DEBUG_INFO_BTF=y")?;
        Btf::parse(data)
    }

    pub fn parse(data: Vec<u8>) -> anyhow::Result<Btf> {
        ensure!(u16_at(&data, 0)? == MAGIC, "not little-endian BTF (bad magic)");
        let hdr_len = u32_at(&data, 4)? as usize;
        let type_off = hdr_len + u32_at(&data, 8)? as usize;
        let type_len = u32_at(&data, 12)? as usize;
        let str_off = hdr_len + u32_at(&data, 16)? as usize;
        let str_len = u32_at(&data, 20)? as usize;
        ensure!(data.len() >= str_off + str_len && data.len() >= type_off + type_len, "BTF truncated");
        let mut btf = Btf { data, strings: str_off..str_off + str_len, types: vec![0] };
        let mut at = type_off;
        while at < type_off + type_len {
            let head = btf.head_at(at)?;
            let extra = match head.kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => head.vlen * 12,
                KIND_ENUM | KIND_FUNC_PROTO => head.vlen * 8,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC
                | KIND_FLOAT | KIND_TYPE_TAG => 0,
                other => bail!("unknown BTF kind {other}"),
            };
            btf.types.push(at);
            at += 12 + extra;
        }
        Ok(btf)
    }

    fn head_at(&self, at: usize) -> anyhow::Result<Head> {
        let info = u32_at(&self.data, at + 4)?;
        Ok(Head {
            name_off: u32_at(&self.data, at)?,
            kind: (info >> 24) & 0x1f,
            vlen: (info & 0xffff) as usize,
            kind_flag: info >> 31 == 1,
            size_or_type: u32_at(&self.data, at + 8)?,
        })
    }

    fn head(&self, id: u32) -> anyhow::Result<Head> {
        let at = *self
            .types
            .get(id as usize)
            .filter(|_| id != 0)
            .with_context(|| format!("BTF type id {id} out of range"))?;
        self.head_at(at)
    }

    fn name(&self, off: u32) -> &[u8] {
        let strings = &self.data[self.strings.clone()];
        strings.get(off as usize..).and_then(|s| s.split(|&b| b == 0).next()).unwrap_or_default()
    }

    /// `(name, type id, bit offset)` of member `i` of the struct or union `id`.
    fn member(&self, id: u32, i: usize) -> anyhow::Result<(&[u8], u32, u32)> {
        let head = self.head(id)?;
        let at = self.types[id as usize] + 12 + i * 12;
        let offset = u32_at(&self.data, at + 8)?;
        // With kind_flag set the top 8 bits hold a bitfield size.
        let bit_offset = if head.kind_flag { offset & 0x00ff_ffff } else { offset };
        Ok((self.name(u32_at(&self.data, at)?), u32_at(&self.data, at + 4)?, bit_offset))
    }

    fn find_struct(&self, name: &str) -> anyhow::Result<Option<u32>> {
        for id in 1..self.types.len() as u32 {
            let head = self.head(id)?;
            if head.kind == KIND_STRUCT && self.name(head.name_off) == name.as_bytes() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers down to the type they name.
    fn resolve(&self, mut id: u32) -> anyhow::Result<(u32, Head)> {
        loop {
            let head = self.head(id)?;
            match head.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => id = head.size_or_type,
                _ => return Ok((id, head)),
            }
        }
    }

    /// Bit offset and type of `name` inside the struct or union `id`, looking through the
    /// anonymous structs and unions the kernel nests fields in.
    fn find_member(&self, id: u32, name: &str) -> anyhow::Result<Option<(u32, u32)>> {
        for i in 0..self.head(id)?.vlen {
            let (member, type_id, bits) = self.member(id, i)?;
            if member == name.as_bytes() {
                return Ok(Some((bits, type_id)));
            }
            if member.is_empty() {
                let (inner, head) = self.resolve(type_id)?;
                if matches!(head.kind, KIND_STRUCT | KIND_UNION)
                    && let Some((inner_bits, type_id)) = self.find_member(inner, name)?
                {
                    return Ok(Some((bits + inner_bits, type_id)));
                }
            }
        }
        Ok(None)
    }

    /// Byte offset of a field path such as `file` → `f_path.dentry`: each step but the last must
    /// be an embedded struct (not a pointer).
    pub fn offset_of(&self, struct_name: &str, path: &str) -> anyhow::Result<u64> {
        let mut id = self
            .find_struct(struct_name)?
            .with_context(|| format!("struct {struct_name} is not in this kernel's BTF"))?;
        let mut bits = 0u64;
        for field in path.split('.') {
            let (field_bits, type_id) = self
                .find_member(id, field)?
                .with_context(|| format!("struct {struct_name} has no field {path} on this kernel"))?;
            ensure!(field_bits % 8 == 0, "{struct_name}.{path} is a bitfield");
            bits += u64::from(field_bits);
            id = self.resolve(type_id)?.0;
        }
        Ok(bits / 8)
    }

    /// The offsets the write probes need, from `current` to the written file's directory.
    pub fn kernel_offsets(&self) -> anyhow::Result<KernelOffsets> {
        Ok(KernelOffsets {
            task_files: self.offset_of("task_struct", "files")?,
            files_fdt: self.offset_of("files_struct", "fdt")?,
            fdtable_max_fds: self.offset_of("fdtable", "max_fds")?,
            fdtable_fd: self.offset_of("fdtable", "fd")?,
            file_dentry: self.offset_of("file", "f_path.dentry")?,
            dentry_parent: self.offset_of("dentry", "d_parent")?,
            dentry_name: self.offset_of("dentry", "d_name.name")?,
            dentry_inode: self.offset_of("dentry", "d_inode")?,
            inode_ino: self.offset_of("inode", "i_ino")?,
            inode_sb: self.offset_of("inode", "i_sb")?,
            super_block_dev: self.offset_of("super_block", "s_dev")?,
            kernfs_open_file_file: self.offset_of("kernfs_open_file", "file")?,
        })
    }
}

#[cfg(test)]
mod tests;
