//! The `#[repr(C)]` types that cross the kernel/user boundary. Both sides compile this file, so a
//! layout change can never make one side misread the other.
#![no_std]

pub const COMM_LEN: usize = 16;
/// Longest cgroup control-file name kept (`memory.memsw.limit_in_bytes` is 27 bytes).
pub const NAME_LEN: usize = 64;
/// Bytes of the written value or of the HTTP request kept. A request line carrying a 64-hex-digit
/// container id (`POST /v1.41/containers/<id>/update HTTP/1.1`) needs ~110.
pub const DATA_LEN: usize = 128;

/// dockerd read an HTTP request that begins with `POST `, or one half of one split by Go's
/// background read: a 1-byte `P`, or the `OST ` that follows it on the same fd.
pub const EVENT_REQUEST: u32 = 1;
/// A process whose comm is in `WRITER_COMMS` (runc) executed; it now counts as a writer.
pub const EVENT_EXEC: u32 = 2;
/// A writer wrote to a control file of a target cgroup directory.
pub const EVENT_WRITE: u32 = 3;

/// One kernel observation. Writes and reads carry both syscall entry and exit times so a single
/// record says when the kernel was asked and when it was done. Events are built in place in the
/// ring buffer without zeroing: a field that a kind does not use is unspecified, `name` ends at
/// its NUL, and only `min(count, DATA_LEN)` bytes of `data` are meaningful.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub kind: u32,
    /// Syscall number from the tracepoint record (0 for exec, `u32::MAX` for a write seen in
    /// cgroup_file_write by an fentry or kprobe hook).
    pub syscall_nr: u32,
    pub tgid: u32,
    pub tid: u32,
    /// `bpf_ktime_get_ns` (CLOCK_MONOTONIC) at syscall entry; equal to `ts_exit_ns` for exec.
    pub ts_enter_ns: u64,
    /// `bpf_ktime_get_ns` at syscall exit: for a cgroup write, the limit has been applied.
    pub ts_exit_ns: u64,
    /// Syscall return value (bytes written/read, or -errno).
    pub ret: i64,
    /// Identity of the cgroup directory written to: kernel `dev_t` of its mount and inode number.
    pub cgroup: CgroupKey,
    /// Bytes the syscall asked to write, or bytes read; `data` holds at most `DATA_LEN` of them.
    pub count: u64,
    /// The file descriptor written to or read from.
    pub fd: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
    /// File name (the dentry's name), NUL-terminated.
    pub name: [u8; NAME_LEN],
    /// The first bytes written (the new limit) or read (the request line).
    pub data: [u8; DATA_LEN],
}

/// A cgroup directory, as the kernel names it: `s_dev` of the superblock (kernel encoding,
/// `major << 20 | minor`) and the directory's inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CgroupKey {
    pub dev: u32,
    pub _pad: u32,
    pub ino: u64,
}

/// Byte offsets of the kernel struct fields the write probes follow from `current` to the file
/// written. They differ between kernels, so the user side reads them from the running kernel's BTF
/// and hands them over as a read-only global before loading.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_files: u64,
    pub files_fdt: u64,
    pub fdtable_max_fds: u64,
    pub fdtable_fd: u64,
    pub file_dentry: u64,
    pub dentry_parent: u64,
    pub dentry_name: u64,
    pub dentry_inode: u64,
    pub inode_ino: u64,
    pub inode_sb: u64,
    pub super_block_dev: u64,
    /// `kernfs_open_file.file`: the fentry and kprobe hooks on cgroup_file_write start there.
    pub kernfs_open_file_file: u64,
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `#[repr(C)]` data with explicit padding fields; every bit pattern is valid.
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::CgroupKey {}
    unsafe impl aya::Pod for super::KernelOffsets {}
}

#[cfg(test)]
mod tests {
    use core::mem::{offset_of, size_of};

    use super::*;

    /// The eBPF side zeroes events as 8-byte words and both sides read them as raw bytes: the
    /// layout must have no hidden padding and stay what the kernel side was compiled with.
    #[test]
    fn event_layout_is_fixed() {
        assert_eq!(size_of::<Event>(), 280);
        assert_eq!(size_of::<Event>() % 8, 0);
        assert_eq!(offset_of!(Event, ts_enter_ns), 16);
        assert_eq!(offset_of!(Event, cgroup), 40);
        assert_eq!(offset_of!(Event, fd), 64);
        assert_eq!(offset_of!(Event, comm), 72);
        assert_eq!(offset_of!(Event, data), 152);
        assert_eq!(size_of::<CgroupKey>(), 16);
        assert_eq!(size_of::<KernelOffsets>(), 12 * 8);
    }
}
