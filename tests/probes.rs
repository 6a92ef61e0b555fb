//! The probes against the real kernel: they load, report a write to a cgroup the test creates,
//! and filter every other cgroup out in the kernel.

mod common;

use std::{
    fs, io,
    path::Path,
    process::Command,
    sync::{
        Mutex, Once,
        atomic::{AtomicUsize, Ordering},
    },
};

use cgbench::{
    host::cgroup::{self, Host, Scratch},
    kernel::{AttachMethod, Probes, Watch, attach, btf::Btf, events::KernelEvent},
    resource::Limit,
};

/// A scratch cgroup next to this process's own, removed when the test ends; numbered, since
/// tests run side by side under `cargo test`.
fn scratch(name: &str) -> Scratch {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    common::assert_root();
    let n = MADE.fetch_add(1, Ordering::Relaxed);
    Scratch::new(&Host::detect().unwrap(), &format!("cgbench-test-{}-{n}-{name}", std::process::id())).unwrap()
}

/// What the probes logged, in every test of this binary.
static PROBE_LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct ToProbeLog;

impl io::Write for ToProbeLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        PROBE_LOG.lock().unwrap().write(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Probes loaded with their log calls in, as `-v` loads them. The subscriber is global and
/// installed before any probe loads: a per-test one would race with tracing's per-callsite
/// interest cache, filled from whichever test thread gets there first.
fn probes(watch: &Watch) -> Probes {
    static SUBSCRIBER: Once = Once::new();
    SUBSCRIBER.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter("cgbench::probes=debug")
            .with_writer(|| ToProbeLog)
            .with_ansi(false)
            .init()
    });
    Probes::watching(attach::choose(None).unwrap(), watch).unwrap()
}

/// Probes that report this process's writes to `dir`.
fn watching(dir: &Path) -> Probes {
    probes(&Watch { writers: &[std::process::id()], cgroups: &[cgroup::dir_key(dir).unwrap()], ..Watch::default() })
}

fn writes(events: &[KernelEvent]) -> Vec<&KernelEvent> {
    events.iter().filter(|e| matches!(e, KernelEvent::Write { .. })).collect()
}

#[test]
fn btf_gives_every_offset_on_this_kernel() {
    let offsets = Btf::from_sys_fs().unwrap().kernel_offsets().unwrap();
    assert!(offsets.task_files > 0 && offsets.dentry_name > 0 && offsets.inode_sb > 0, "{offsets:?}");
}

#[test]
fn write_probes_report_the_watched_cgroup_only() {
    let (watched, other) = (scratch("watched"), scratch("other"));
    let mut probes = watching(&watched.files.memory.path);

    let target = watched.files.target(&Limit::Memory { bytes: 64 << 20 });
    let other_file = other.memory_limit_file();
    fs::write(&other_file, "134217728").unwrap();
    fs::write(&target.path, &target.value).unwrap();
    fs::write(std::env::temp_dir().join("cgbench-probe-test"), "not a cgroup").unwrap();

    let events = probes.drain();
    let seen = writes(&events);
    assert_eq!(seen.len(), 1, "exactly the watched write must reach user space: {events:?}");
    let KernelEvent::Write { tgid, file, value, ret, enter_ns, exit_ns, .. } = seen[0] else { unreachable!() };
    assert_eq!(*tgid, std::process::id());
    assert_eq!(file, target.file_name());
    assert_eq!(*value, target.value);
    assert_eq!(*ret, target.value.len() as i64);
    assert!(exit_ns >= enter_ns && *enter_ns > 0);
    assert_eq!(probes.lost().unwrap(), 0);
    assert_eq!(cgroup::read_value(&target.path).unwrap(), "67108864");
}

#[test]
fn a_refused_write_is_reported_with_its_error() {
    let watched = scratch("watched");
    let mut probes = watching(&watched.files.memory.path);
    let target = watched.files.target(&Limit::Memory { bytes: 1 });
    assert!(fs::write(&target.path, "not-a-number").is_err());
    let events = probes.drain();
    let seen = writes(&events);
    assert_eq!(seen.len(), 1, "{events:?}");
    let KernelEvent::Write { ret, value, .. } = seen[0] else { unreachable!() };
    assert_eq!((*ret, value.as_str()), (-22, "not-a-number"));
}

/// The runc path without runc: a program named in the writer list becomes a writer when it
/// execs, and its writes are reported with its own pid.
#[test]
fn an_exec_makes_a_writer() {
    let watched = scratch("watched");
    let cgroups = [cgroup::dir_key(&watched.files.memory.path).unwrap()];
    let watch = Watch { writer_comms: &["dash"], cgroups: &cgroups, ..Watch::default() };
    let mut probes = probes(&watch);
    let target = watched.files.target(&Limit::Memory { bytes: 96 << 20 });
    let status = Command::new("/bin/dash")
        .arg("-c")
        .arg(format!("printf %s {} > {}", target.value, target.path.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let events = probes.drain();
    let exec = events.iter().find_map(|e| match e {
        KernelEvent::Exec { tgid, comm, ts_ns } if comm == "dash" => Some((*tgid, *ts_ns)),
        _ => None,
    });
    let (shell, exec_ns) = exec.unwrap_or_else(|| panic!("no exec of dash seen: {events:?}"));
    let write = writes(&events).into_iter().find_map(|e| match e {
        KernelEvent::Write { tgid, value, enter_ns, .. } if *tgid == shell => Some((value.clone(), *enter_ns)),
        _ => None,
    });
    let (value, enter_ns) = write.unwrap_or_else(|| panic!("no write by the shell seen: {events:?}"));
    assert_eq!(value, target.value);
    assert!(enter_ns > exec_ns, "the exec precedes the write");
}

/// What the probes cannot put in an event reaches `tracing` through aya-log: here, a watched
/// writer's write to an fd that is not open.
#[test]
fn a_write_to_no_file_is_logged_by_the_probes() {
    let watched = scratch("watched");
    let mut probes = watching(&watched.files.memory.path);
    let closed_fd = 9999;
    // SAFETY: writes one byte from a live buffer; the fd is not open, so the call fails.
    assert_eq!(unsafe { libc::write(closed_fd, b"1".as_ptr().cast(), 1) }, -1);
    probes.drain();
    let log = String::from_utf8_lossy(&PROBE_LOG.lock().unwrap()).into_owned();
    assert!(log.contains("cgbench::probes: fd 9999 written by tid"), "{log}");
}

/// Syscall tracepoints attach late — at each block of daemon trials — and tracefs may be gone
/// by then: another run that mounted it unmounts it as it ends. Loaded with tracefs there, they
/// still attach once it is unmounted, and report the write.
#[test]
fn syscall_tracepoints_attach_after_tracefs_is_unmounted() {
    let watched = scratch("watched");
    let cgroups = [cgroup::dir_key(&watched.files.memory.path).unwrap()];
    let watch = Watch { writers: &[std::process::id()], cgroups: &cgroups, ..Watch::default() };
    let mut probes = Probes::watching_idle(AttachMethod::Tracepoint, &watch).unwrap();
    let _gone = common::NoTracefs::new();
    probes.syscall_tracepoints(true).unwrap();
    let target = watched.files.target(&Limit::Memory { bytes: 80 << 20 });
    fs::write(&target.path, &target.value).unwrap();
    let events = probes.drain();
    let seen = writes(&events);
    assert_eq!(seen.len(), 1, "{events:?}");
    probes.syscall_tracepoints(false).unwrap();
    fs::write(&target.path, "83886080").unwrap();
    assert!(writes(&probes.drain()).is_empty(), "detached, they report nothing");
}
