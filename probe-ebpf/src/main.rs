//! cgbench's kernel side. The cgroup-write capture comes in three kinds, of which the user side
//! attaches one (its attach ladder, best first): fentry/fexit on `cgroup_file_write` (cheapest,
//! sees every write whatever its syscall), a kprobe/kretprobe pair on the same function (where
//! fentry is refused), and syscall tracepoints on the write family (the kind every kernel cgbench
//! targets loads, including kernels in lockdown without kprobes). The request and exec programs
//! are always classic tracepoints.
//!
//! Three things are observed, each filtered in the kernel so that only the target's events reach
//! user space:
//! - dockerd reading an HTTP request that starts with `POST ` (`read`, `recvfrom`, `recvmsg`,
//!   `recvmmsg`), only for the tgids in `DOCKERD`;
//! - a writer program (runc) being executed: its tgid joins `WRITERS`;
//! - a write to a control file whose parent directory is one of the `TARGETS` cgroups, only by the
//!   tgids in `WRITERS`. Entry and exit are joined into one record per write.
//!
//! What the events cannot say — a kernel read that failed, an fd that resolved to no file, an
//! event the ring buffer had no room for — goes to aya-log, from failure branches only. The user
//! side sets `AYA_LOG_LEVEL` at load, and at level 0 (cgbench without `-v`) the verifier removes
//! every log call, so logging costs nothing unless asked for.
#![no_std]
#![no_main]

mod effect;

use aya_ebpf::{
    EbpfContext,
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel,
        bpf_probe_read_kernel_buf, bpf_probe_read_kernel_str_bytes, bpf_probe_read_user, bpf_probe_read_user_buf,
    },
    macros::{fentry, fexit, kprobe, kretprobe, map, tracepoint},
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf, ring_buf::RingBufEntry},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext, TracePointContext},
};
use aya_log_ebpf::{debug, warn};
use probe_common::{
    COMM_LEN, CgroupKey, DATA_LEN, EVENT_EXEC, EVENT_REQUEST, EVENT_WRITE, Event, KernelOffsets, NO_FD, NO_SYSCALL,
};

/// Set by the user side from the running kernel's BTF before loading. Read through
/// `read_volatile` so the compiler cannot fold the all-zero placeholder into the code.
#[unsafe(no_mangle)]
static OFFSETS: KernelOffsets = KernelOffsets {
    task_files: 0,
    files_fdt: 0,
    fdtable_max_fds: 0,
    fdtable_fd: 0,
    file_dentry: 0,
    dentry_parent: 0,
    dentry_name: 0,
    dentry_inode: 0,
    inode_ino: 0,
    inode_sb: 0,
    super_block_dev: 0,
    kernfs_open_file_file: 0,
};

/// Sized from the rate it must absorb: a write storm on the target itself makes ~300,000 events
/// a second on two CPUs, 288 bytes each with the ring's header (~86 MB/s); 2 MiB holds ~7,200 of
/// them, 24 ms of such a storm, against a reader that drains every millisecond or so.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(2 << 20, 0);

/// Events that did not fit in `EVENTS`: reported, never silently dropped.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static DOCKERD: HashMap<u32, u8> = HashMap::with_max_entries(16, 0);

/// Comms whose exec makes a process a writer (`runc`).
#[map]
static WRITER_COMMS: HashMap<[u8; COMM_LEN], u8> = HashMap::with_max_entries(8, 0);

/// Tgids whose cgroup writes are observed: cgbench itself and every runc seen exec'ing. LRU, so
/// runc processes that have long exited age out instead of filling the map.
#[map]
static WRITERS: LruHashMap<u32, u8> = LruHashMap::with_max_entries(4096, 0);

#[map]
static TARGETS: HashMap<CgroupKey, u8> = HashMap::with_max_entries(64, 0);

/// What a write's entry learned, kept until its exit. Small on purpose: the event itself is
/// built at exit directly in the ring buffer, after the exit timestamp is taken.
#[repr(C)]
#[derive(Clone, Copy)]
struct PendingWrite {
    enter_ns: u64,
    buf: u64,
    count: u64,
    /// The file's dentry name (`const unsigned char *`).
    name: u64,
    cgroup: CgroupKey,
    fd: u32,
    /// `NO_SYSCALL` when seen in cgroup_file_write, whose `buf` is already a kernel copy.
    syscall_nr: u32,
}

/// A write between its syscall entry and exit, by pid_tgid.
#[map]
static PENDING_WRITES: LruHashMap<u64, PendingWrite> = LruHashMap::with_max_entries(1024, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct PendingRead {
    buf: u64,
    fd: u64,
    /// Where recvmmsg stores the first message's length (its return value counts messages).
    msg_len: u64,
    ts_enter_ns: u64,
    syscall_nr: u32,
    _pad: u32,
}

#[map]
static PENDING_READS: LruHashMap<u64, PendingRead> = LruHashMap::with_max_entries(1024, 0);

// Layout of syscall tracepoint records (`struct trace_event_raw_sys_enter`/`_exit`): 8 bytes of
// common fields, the syscall number, then six 8-byte arguments or the return value.
const SYSCALL_NR: usize = 8;
const ARGS: usize = 16;
const RET: usize = 16;
// `struct user_msghdr`: msg_iov follows the name pointer and its padded length.
const MSGHDR_IOV: u64 = 16;
// `struct mmsghdr`: msg_len follows the 56-byte `struct user_msghdr`.
const MMSGHDR_LEN: u64 = 56;
const POST: [u8; 5] = *b"POST ";
const OST: [u8; 4] = *b"OST ";

type Res<T = ()> = Result<T, i64>;

#[inline(always)]
fn offsets() -> KernelOffsets {
    unsafe { core::ptr::read_volatile(&OFFSETS) }
}

#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> Res<u64> {
    unsafe { ctx.read_at::<u64>(ARGS + 8 * n) }.map_err(i64::from)
}

#[inline(always)]
fn kread<T>(addr: u64) -> Res<T> {
    unsafe { bpf_probe_read_kernel(addr as *const T) }.map_err(i64::from)
}

#[inline(always)]
fn uread<T>(addr: u64) -> Res<T> {
    unsafe { bpf_probe_read_user(addr as *const T) }.map_err(i64::from)
}

/// A new event, reserved in the ring buffer and with its common fields set; every other field
/// the user side reads for its kind must be written before `submit`. A full ring buffer counts
/// the event as lost.
#[inline(always)]
fn reserve<C: EbpfContext>(ctx: &C, kind: u32, pid_tgid: u64, syscall_nr: u32) -> Option<RingBufEntry<Event>> {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        if let Some(lost) = LOST.get_ptr_mut(0) {
            unsafe { *lost += 1 };
        }
        // LOST says how many; this says which.
        warn!(ctx, "ring buffer full: event of kind {} by tid {} lost", kind, pid_tgid as u32);
        return None;
    };
    let ev = entry.as_mut_ptr();
    unsafe {
        (*ev).kind = kind;
        (*ev).syscall_nr = syscall_nr;
        (*ev).tgid = (pid_tgid >> 32) as u32;
        (*ev).tid = pid_tgid as u32;
        (*ev).comm = bpf_get_current_comm().unwrap_or([0; COMM_LEN]);
    }
    Some(entry)
}

/// Copies up to `DATA_LEN` bytes of the written or read buffer into the event; the user side
/// reads only `min(count, DATA_LEN)` of them.
#[inline(always)]
fn copy_data<C: EbpfContext>(ctx: &C, ev: *mut Event, buf: u64, count: u64, kernel: bool) {
    let n = if count < DATA_LEN as u64 { count as usize } else { DATA_LEN };
    if n > 0 {
        let data = unsafe { &mut (&mut (*ev).data)[..n] };
        let copied = if kernel {
            unsafe { bpf_probe_read_kernel_buf(buf as *const u8, data) }
        } else {
            unsafe { bpf_probe_read_user_buf(buf as *const u8, data) }
        };
        // The event goes out anyway, its data unspecified: this is the only trace of why.
        if let Err(e) = copied {
            warn!(ctx, "copying {} bytes of tid {}'s buffer failed (error {})", n as u32, unsafe { (*ev).tid }, e);
        }
    }
}

#[inline(always)]
fn is_writer(pid_tgid: u64) -> bool {
    unsafe { WRITERS.get(&((pid_tgid >> 32) as u32)) }.is_some()
}

// ---------------------------------------------------------------------------------------------
// Cgroup control-file writes

/// `current->files->fdt->fd[fd]`; `None` for a closed or out-of-range fd.
#[inline(always)]
fn file_of_fd(o: &KernelOffsets, fd: u64) -> Res<Option<u64>> {
    let task = unsafe { bpf_get_current_task() };
    let files: u64 = kread(task + o.task_files)?;
    let fdt: u64 = kread(files + o.files_fdt)?;
    let max_fds: u32 = kread(fdt + o.fdtable_max_fds)?;
    if fd >= max_fds as u64 {
        return Ok(None);
    }
    let fd_array: u64 = kread(fdt + o.fdtable_fd)?;
    let file: u64 = kread(fd_array + fd * 8)?;
    Ok((file != 0).then_some(file))
}

/// The written file's dentry and the cgroup directory it is in.
#[inline(always)]
fn dentry_and_directory(o: &KernelOffsets, file: u64) -> Res<(u64, CgroupKey)> {
    let dentry: u64 = kread(file + o.file_dentry)?;
    let parent: u64 = kread(dentry + o.dentry_parent)?;
    let dir_inode: u64 = kread(parent + o.dentry_inode)?;
    let sb: u64 = kread(dir_inode + o.inode_sb)?;
    let cgroup = CgroupKey { dev: kread(sb + o.super_block_dev)?, _pad: 0, ino: kread(dir_inode + o.inode_ino)? };
    Ok((dentry, cgroup))
}

/// The shared entry of every write hook: keep the write if `file` is a control file of a
/// target cgroup, and remember it until the write returns. A failed read or insert loses the
/// write without an event, so each says so in the log.
#[inline(always)]
fn capture_enter<C: EbpfContext>(
    ctx: &C,
    pid_tgid: u64,
    file: u64,
    buf: u64,
    count: u64,
    fd: u32,
    syscall_nr: u32,
) -> Res {
    let o = offsets();
    let (dentry, cgroup) = dentry_and_directory(&o, file)
        .inspect_err(|&e| warn!(ctx, "reading file {:x}'s directory failed (error {})", file, e))?;
    if unsafe { TARGETS.get(&cgroup) }.is_none() {
        return Ok(());
    }
    let name = kread(dentry + o.dentry_name)
        .inspect_err(|&e| warn!(ctx, "reading dentry {:x}'s name failed (error {})", dentry, e))?;
    let pending = PendingWrite {
        buf,
        count,
        name,
        cgroup,
        fd,
        syscall_nr,
        // Taken last so that the probe's own work stays outside the measured span.
        enter_ns: unsafe { bpf_ktime_get_ns() },
    };
    PENDING_WRITES
        .insert(&pid_tgid, &pending, 0)
        .map_err(i64::from)
        .inspect_err(|&e| warn!(ctx, "write by tid {} lost: no room to keep it (error {})", pid_tgid as u32, e))
}

/// The shared exit of every write hook; `ts` is taken first thing by the caller, for the same
/// reason.
#[inline(always)]
fn capture_exit<C: EbpfContext>(ctx: &C, ts: u64, ret: i64) -> Res {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(p) = (unsafe { PENDING_WRITES.get(&pid_tgid) }).copied() else {
        return Ok(());
    };
    PENDING_WRITES.remove(&pid_tgid)?;
    let Some(mut entry) = reserve(ctx, EVENT_WRITE, pid_tgid, p.syscall_nr) else {
        return Ok(());
    };
    let ev = entry.as_mut_ptr();
    unsafe {
        (*ev).ts_enter_ns = p.enter_ns;
        (*ev).ts_exit_ns = ts;
        (*ev).ret = ret;
        (*ev).cgroup = p.cgroup;
        (*ev).count = p.count;
        (*ev).fd = p.fd;
        let _ = bpf_probe_read_kernel_str_bytes(p.name as *const u8, &mut (*ev).name);
    }
    copy_data(ctx, ev, p.buf, p.count, p.syscall_nr == NO_SYSCALL);
    entry.submit(BPF_RB_NO_WAKEUP as u64);
    Ok(())
}

fn syscall_write_enter(ctx: &TracePointContext, vectored: bool) -> Res {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_writer(pid_tgid) {
        return Ok(());
    }
    let fd = arg(ctx, 0)?;
    let (buf, count) = if vectored {
        // Only the first iovec is kept: cgroup values are written in one piece.
        let (iov, vlen) = (arg(ctx, 1)?, arg(ctx, 2)?);
        if vlen == 0 {
            return Ok(());
        }
        (uread::<u64>(iov)?, uread::<u64>(iov + 8)?)
    } else {
        (arg(ctx, 1)?, arg(ctx, 2)?)
    };
    let file = match file_of_fd(&offsets(), fd) {
        Ok(Some(file)) => file,
        Ok(None) => {
            debug!(ctx, "fd {} written by tid {} is not open", fd, pid_tgid as u32);
            return Ok(());
        }
        Err(e) => {
            warn!(ctx, "following fd {} of tid {} to its file failed (error {})", fd, pid_tgid as u32, e);
            return Err(e);
        }
    };
    let syscall_nr = unsafe { ctx.read_at::<i32>(SYSCALL_NR) }.unwrap_or(-1) as u32;
    capture_enter(ctx, pid_tgid, file, buf, count, fd as u32, syscall_nr)
}

/// `cgroup_file_write(struct kernfs_open_file *of, char *buf, size_t nbytes, loff_t off)`:
/// every cgroup control-file write, whatever syscall (or io_uring) it came from.
fn kernel_write_enter<C: EbpfContext>(ctx: &C, of: u64, buf: u64, count: u64) -> Res {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_writer(pid_tgid) {
        return Ok(());
    }
    let file: u64 = kread(of + offsets().kernfs_open_file_file)
        .inspect_err(|&e| warn!(ctx, "reading kernfs_open_file {:x}'s file failed (error {})", of, e))?;
    capture_enter(ctx, pid_tgid, file, buf, count, NO_FD, NO_SYSCALL)
}

/// `write(fd, buf, count)` and `pwrite64(fd, buf, count, pos)`.
#[tracepoint]
pub fn cgroup_write_enter(ctx: TracePointContext) -> u32 {
    let _ = syscall_write_enter(&ctx, false);
    0
}

/// `writev`, `pwritev`, `pwritev2`: `(fd, iov, vlen, ...)`.
#[tracepoint]
pub fn cgroup_writev_enter(ctx: TracePointContext) -> u32 {
    let _ = syscall_write_enter(&ctx, true);
    0
}

#[tracepoint]
pub fn cgroup_write_exit(ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let _ = capture_exit(&ctx, ts, unsafe { ctx.read_at::<i64>(RET) }.unwrap_or(i64::MIN));
    0
}

/// The lowest-overhead hooks: BTF trampolines on cgroup_file_write (kernels that permit them).
#[fentry(function = "cgroup_file_write")]
pub fn cgroup_file_write_fentry(ctx: FEntryContext) -> u32 {
    let _ = kernel_write_enter(&ctx, ctx.arg(0), ctx.arg(1), ctx.arg(2));
    0
}

#[fexit(function = "cgroup_file_write")]
pub fn cgroup_file_write_fexit(ctx: FExitContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    // An fexit program sees the function's arguments and then its return value.
    let _ = capture_exit(&ctx, ts, ctx.arg::<i64>(4));
    0
}

/// The fallback where fentry is refused and kprobes exist.
#[kprobe]
pub fn cgroup_file_write_kprobe(ctx: ProbeContext) -> u32 {
    if let (Some(of), Some(buf), Some(count)) = (ctx.arg(0), ctx.arg(1), ctx.arg(2)) {
        let _ = kernel_write_enter(&ctx, of, buf, count);
    }
    0
}

#[kretprobe]
pub fn cgroup_file_write_kretprobe(ctx: RetProbeContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let _ = capture_exit(&ctx, ts, ctx.ret::<i64>());
    0
}

// ---------------------------------------------------------------------------------------------
// dockerd's API request

fn read_enter(ctx: &TracePointContext, buf: u64, msg_len: u64) -> Res {
    let pid_tgid = bpf_get_current_pid_tgid();
    let pending = PendingRead {
        buf,
        fd: arg(ctx, 0)?,
        msg_len,
        ts_enter_ns: unsafe { bpf_ktime_get_ns() },
        syscall_nr: unsafe { ctx.read_at::<i32>(SYSCALL_NR) }.unwrap_or(-1) as u32,
        _pad: 0,
    };
    PENDING_READS.insert(&pid_tgid, &pending, 0)?;
    Ok(())
}

#[inline(always)]
fn is_dockerd() -> bool {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    unsafe { DOCKERD.get(&tgid) }.is_some()
}

/// `read(fd, buf, count)` and `recvfrom(fd, buf, len, ...)`.
#[tracepoint]
pub fn request_read_enter(ctx: TracePointContext) -> u32 {
    if is_dockerd()
        && let Ok(buf) = arg(&ctx, 1)
    {
        let _ = read_enter(&ctx, buf, 0);
    }
    0
}

/// `recvmsg(fd, msg, flags)`: the data goes to the first iovec of `msg`.
#[tracepoint]
pub fn request_recvmsg_enter(ctx: TracePointContext) -> u32 {
    if is_dockerd() {
        let _ = (|| -> Res {
            let msg = arg(&ctx, 1)?;
            let iov: u64 = uread(msg + MSGHDR_IOV)?;
            read_enter(&ctx, uread(iov)?, 0)
        })();
    }
    0
}

/// `recvmmsg(fd, msgvec, vlen, ...)`: the first message's first iovec, and its length.
#[tracepoint]
pub fn request_recvmmsg_enter(ctx: TracePointContext) -> u32 {
    if is_dockerd() {
        let _ = (|| -> Res {
            let msgvec = arg(&ctx, 1)?;
            let iov: u64 = uread(msgvec + MSGHDR_IOV)?;
            read_enter(&ctx, uread(iov)?, msgvec + MMSGHDR_LEN)
        })();
    }
    0
}

fn read_exit(ctx: &TracePointContext) -> Res {
    let ts = unsafe { bpf_ktime_get_ns() };
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(pending) = (unsafe { PENDING_READS.get(&pid_tgid) }).copied() else {
        return Ok(());
    };
    PENDING_READS.remove(&pid_tgid)?;
    let ret = unsafe { ctx.read_at::<i64>(RET) }.map_err(i64::from)?;
    if ret <= 0 {
        return Ok(());
    }
    let got = if pending.msg_len != 0 { uread::<u32>(pending.msg_len)? as u64 } else { ret as u64 };
    // Go's HTTP server reads one byte in the background while a handler runs; a request that
    // arrives then is read as `P` and `OST /…`. Both halves are kept and joined in user space.
    let head: [u8; 5] = if got >= 5 { uread(pending.buf)? } else { [uread::<u8>(pending.buf)?, 0, 0, 0, 0] };
    let split_p = got == 1 && head[0] == b'P';
    let split_rest = head[..4] == OST;
    if head != POST && !split_p && !split_rest {
        return Ok(());
    }
    let Some(mut entry) = reserve(ctx, EVENT_REQUEST, pid_tgid, pending.syscall_nr) else {
        return Ok(());
    };
    let ev = entry.as_mut_ptr();
    unsafe {
        (*ev).ts_enter_ns = pending.ts_enter_ns;
        (*ev).ts_exit_ns = ts;
        (*ev).ret = ret;
        (*ev).count = got;
        (*ev).fd = pending.fd as u32;
    }
    copy_data(ctx, ev, pending.buf, got, false);
    entry.submit(BPF_RB_NO_WAKEUP as u64);
    Ok(())
}

#[tracepoint]
pub fn request_read_exit(ctx: TracePointContext) -> u32 {
    let _ = read_exit(&ctx);
    0
}

// ---------------------------------------------------------------------------------------------
// runc's exec

/// `sched:sched_process_exec` fires after the new image is in place, so `comm` is already the
/// new program's name.
#[tracepoint]
pub fn writer_exec(ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let Ok(comm) = bpf_get_current_comm() else {
        return 0;
    };
    if unsafe { WRITER_COMMS.get(&comm) }.is_none() {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if let Err(e) = WRITERS.insert(&tgid, &1, 0) {
        // Every write of this runc would go unseen, with no event to say so.
        warn!(&ctx, "exec of writer tgid {} not followed: no room in WRITERS (error {})", tgid, e);
    }
    if let Some(mut entry) = reserve(&ctx, EVENT_EXEC, pid_tgid, 0) {
        let ev = entry.as_mut_ptr();
        unsafe {
            (*ev).ts_enter_ns = ts;
            (*ev).ts_exit_ns = ts;
        }
        entry.submit(BPF_RB_NO_WAKEUP as u64);
    }
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
