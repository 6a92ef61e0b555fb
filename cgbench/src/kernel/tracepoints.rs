//! Classic tracepoints attached by id. aya reads a tracepoint's id from tracefs at every attach,
//! but cgbench attaches some late — the syscall tracepoints at each block of daemon trials, the
//! effect probes once the workload runs — and by then tracefs may be gone: another cgbench run
//! that mounted it unmounts it when it ends. So every id is read once, while the probes load
//! with tracefs surely mounted, and each attachment is a perf event cgbench opens itself with
//! the program set on it: closing its fd detaches the program.

use std::{
    collections::HashMap,
    io,
    os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
    path::Path,
};

use anyhow::anyhow;

/// The id of each tracepoint cgbench may attach to, `(category, name)` → id.
#[derive(Default)]
pub struct TracepointIds(HashMap<(&'static str, &'static str), u64>);

impl TracepointIds {
    /// Reads the id of every tracepoint named in `tracepoints` from the tracefs mounted at
    /// `tracefs`. One this kernel lacks is left out: attaching to it is what fails, with the
    /// reason.
    pub fn read(tracefs: &Path, tracepoints: impl IntoIterator<Item = (&'static str, &'static str)>) -> TracepointIds {
        let ids = tracepoints
            .into_iter()
            .filter_map(|(category, name)| {
                let text = std::fs::read_to_string(tracefs.join("events").join(category).join(name).join("id")).ok()?;
                Some(((category, name), text.trim().parse().ok()?))
            })
            .collect();
        TracepointIds(ids)
    }

    pub fn get(&self, category: &str, name: &str) -> anyhow::Result<u64> {
        self.0.get(&(category, name)).copied().ok_or_else(|| anyhow!("this kernel has no tracepoint {category}:{name}"))
    }
}

/// `struct perf_event_attr` as far as `PERF_ATTR_SIZE_VER0`, which every kernel accepts.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `_IO('$', 0)` and `_IOW('$', 8, __u32)`.
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// Attaches the loaded tracepoint program `program` to tracepoint `id`. The returned fd is the
/// attachment: closing it detaches the program (and, for the last program on a syscall
/// tracepoint, waits out an RCU grace period).
pub fn attach(program: BorrowedFd<'_>, id: u64) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        kind: PERF_TYPE_TRACEPOINT,
        size: size_of::<PerfEventAttr>() as u32,
        config: id,
        wakeup_events: 1,
        ..PerfEventAttr::default()
    };
    // SAFETY: `attr` is a perf_event_attr of the size it states. Every process on CPU 0 only, as
    // aya opens it: the kernel runs a tracepoint's program on whichever CPU the tracepoint fires.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    let event = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    for (request, argument) in
        [(PERF_EVENT_IOC_SET_BPF, program.as_raw_fd() as libc::c_ulong), (PERF_EVENT_IOC_ENABLE, 0)]
    {
        // SAFETY: an ioctl on the perf event fd we own, with the argument the request takes.
        if unsafe { libc::ioctl(event.as_raw_fd(), request, argument) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attr_is_the_first_version_the_kernel_knows() {
        assert_eq!(size_of::<PerfEventAttr>(), 64);
    }

    #[test]
    fn ids_are_read_from_the_events_tree_and_a_missing_one_says_so() {
        let dir = std::env::temp_dir().join(format!("cgbench-tracefs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("events/sched/sched_switch")).unwrap();
        std::fs::write(dir.join("events/sched/sched_switch/id"), "321\n").unwrap();
        let ids = TracepointIds::read(&dir, [("sched", "sched_switch"), ("oom", "mark_victim")]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(ids.get("sched", "sched_switch").unwrap(), 321);
        assert_eq!(
            ids.get("oom", "mark_victim").unwrap_err().to_string(),
            "this kernel has no tracepoint oom:mark_victim"
        );
    }
}
