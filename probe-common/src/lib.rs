//! The `#[repr(C)]` types that cross the kernel/user boundary. Both sides compile this file, so a
//! layout change can never make one side misread the other.
#![no_std]

/// The dated nightly that builds the eBPF programs (`-Z build-std`, bpf-linker). bpf-linker links
/// against this toolchain's own LLVM, so moving to another nightly means rebuilding it:
/// `cargo xtask setup` installs exactly this one and derives bpf-linker's `llvm-NN` feature from it.
/// cgbench's build script and xtask both read it from here.
pub const EBPF_TOOLCHAIN: &str = "nightly-2026-05-20";

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
/// A task of the loaded container was switched out while runnable with its CFS runqueue
/// throttled: the CPU limit is being enforced on it (`--load`; `ts_enter_ns` is the switch).
pub const EVENT_THROTTLE: u32 = 4;
/// A task last switched out throttled is on a CPU again (`--load`; `ts_enter_ns` is the switch).
pub const EVENT_RESUME: u32 = 5;
/// A memory cgroup reclaim ran in a writer's context (inside a write lowering a memory limit):
/// begin and end joined, `ret` the pages reclaimed (`--load`).
pub const EVENT_RECLAIM: u32 = 6;
/// The OOM killer chose a task of the loaded container (`tid` the victim's pid; `--load`).
pub const EVENT_OOM_VICTIM: u32 = 7;

/// `Event::syscall_nr` of a write seen inside cgroup_file_write by an fentry or kprobe hook: no
/// syscall, no fd.
pub const NO_SYSCALL: u32 = u32::MAX;
/// `Event::fd` of such a write: the hook sees the open file, not the descriptor it came through.
pub const NO_FD: u32 = u32::MAX;

/// The names the user side looks the object's maps, globals and programs up by. The eBPF side
/// declares them with these same spellings (its attribute macros take identifiers, not
/// constants); a user-side test checks that every one is in the built object.
pub mod names {
    /// Read-only global: the running kernel's `KernelOffsets`.
    pub const OFFSETS: &str = "OFFSETS";
    /// Ring buffer of `Event`s.
    pub const EVENTS: &str = "EVENTS";
    /// Per-CPU count of events the ring buffer had no room for.
    pub const LOST: &str = "LOST";
    /// Tgids whose `POST` requests are reported (dockerd).
    pub const DOCKERD: &str = "DOCKERD";
    /// Comms whose exec makes a process a writer (runc).
    pub const WRITER_COMMS: &str = "WRITER_COMMS";
    /// Tgids whose cgroup writes are reported.
    pub const WRITERS: &str = "WRITERS";
    /// Cgroup directories (`CgroupKey`) whose control-file writes are reported.
    pub const TARGETS: &str = "TARGETS";
    pub const MAPS: [&str; 6] = [EVENTS, LOST, DOCKERD, WRITER_COMMS, WRITERS, TARGETS];
    /// Tgids of the loaded container's tasks whose scheduling and OOM kills are reported.
    pub const LOAD_TGIDS: &str = "LOAD_TGIDS";
    /// The running kernel's `EffectOffsets`, one entry, set before the effect programs attach.
    pub const EFFECT_OFFSETS: &str = "EFFECT_OFFSETS";
    pub const EFFECT_MAPS: [&str; 2] = [LOAD_TGIDS, EFFECT_OFFSETS];

    pub const REQUEST_READ_ENTER: &str = "request_read_enter";
    pub const REQUEST_RECVMSG_ENTER: &str = "request_recvmsg_enter";
    pub const REQUEST_RECVMMSG_ENTER: &str = "request_recvmmsg_enter";
    pub const REQUEST_READ_EXIT: &str = "request_read_exit";
    pub const WRITER_EXEC: &str = "writer_exec";
    pub const CGROUP_WRITE_ENTER: &str = "cgroup_write_enter";
    pub const CGROUP_WRITEV_ENTER: &str = "cgroup_writev_enter";
    pub const CGROUP_WRITE_EXIT: &str = "cgroup_write_exit";
    pub const CGROUP_FILE_WRITE_FENTRY: &str = "cgroup_file_write_fentry";
    pub const CGROUP_FILE_WRITE_FEXIT: &str = "cgroup_file_write_fexit";
    pub const CGROUP_FILE_WRITE_KPROBE: &str = "cgroup_file_write_kprobe";
    pub const CGROUP_FILE_WRITE_KRETPROBE: &str = "cgroup_file_write_kretprobe";
    pub const EFFECT_SCHED_SWITCH: &str = "effect_sched_switch";
    pub const EFFECT_RECLAIM_BEGIN: &str = "effect_reclaim_begin";
    pub const EFFECT_RECLAIM_END: &str = "effect_reclaim_end";
    pub const EFFECT_OOM_VICTIM: &str = "effect_oom_victim";
    pub const EFFECT_PROGRAMS: [&str; 4] =
        [EFFECT_SCHED_SWITCH, EFFECT_RECLAIM_BEGIN, EFFECT_RECLAIM_END, EFFECT_OOM_VICTIM];
    pub const PROGRAMS: [&str; 12] = [
        REQUEST_READ_ENTER,
        REQUEST_RECVMSG_ENTER,
        REQUEST_RECVMMSG_ENTER,
        REQUEST_READ_EXIT,
        WRITER_EXEC,
        CGROUP_WRITE_ENTER,
        CGROUP_WRITEV_ENTER,
        CGROUP_WRITE_EXIT,
        CGROUP_FILE_WRITE_FENTRY,
        CGROUP_FILE_WRITE_FEXIT,
        CGROUP_FILE_WRITE_KPROBE,
        CGROUP_FILE_WRITE_KRETPROBE,
    ];
}

/// The syscalls whose numbers the probes report (`Event::syscall_nr`, from the tracepoint
/// record), by name, for the architecture the user side runs on.
#[cfg(target_arch = "x86_64")]
pub const SYSCALLS: &[(u32, &str)] = &[
    (0, "read"),
    (1, "write"),
    (18, "pwrite64"),
    (20, "writev"),
    (45, "recvfrom"),
    (47, "recvmsg"),
    (296, "pwritev"),
    (299, "recvmmsg"),
    (328, "pwritev2"),
];
/// The generic syscall table arm64 uses.
#[cfg(target_arch = "aarch64")]
pub const SYSCALLS: &[(u32, &str)] = &[
    (63, "read"),
    (64, "write"),
    (66, "writev"),
    (68, "pwrite64"),
    (70, "pwritev"),
    (207, "recvfrom"),
    (212, "recvmsg"),
    (243, "recvmmsg"),
    (287, "pwritev2"),
];
/// The eBPF side passes numbers through without naming them.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const SYSCALLS: &[(u32, &str)] = &[];

/// One kernel observation. Writes and reads carry both syscall entry and exit times so a single
/// record says when the kernel was asked and when it was done. Events are built in place in the
/// ring buffer without zeroing: a field that a kind does not use is unspecified, `name` ends at
/// its NUL, and only `min(count, DATA_LEN)` bytes of `data` are meaningful.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub kind: u32,
    /// Syscall number from the tracepoint record (0 for exec, `NO_SYSCALL` for a write seen in
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
    /// The file descriptor written to or read from (`NO_FD` for a write seen in cgroup_file_write).
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

/// `dev:inode`, as cgbench shows a cgroup directory in reports and logs.
impl core::fmt::Display for CgroupKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
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

/// Byte offsets the effect programs follow from a task to its CFS runqueue's throttle state, from
/// the running kernel's BTF. Looked up only with `--load`, so a kernel without these fields still
/// runs a plain `compare`. Handed over in a map, not a global, so that the object loads the same
/// whether or not they are known.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EffectOffsets {
    /// `task_struct.se.cfs_rq`: the runqueue of the task's group on its CPU.
    pub task_se_cfs_rq: u64,
    /// `cfs_rq.throttled`: nonzero while the group's bandwidth is used up on this CPU.
    pub cfs_rq_throttled: u64,
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain `#[repr(C)]` data with explicit padding fields; every bit pattern is valid.
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::CgroupKey {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::EffectOffsets {}
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
        assert_eq!(size_of::<EffectOffsets>(), 2 * 8);
    }
}
