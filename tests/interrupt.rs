//! SIGINT and SIGTERM at several points of a real run: the run stops, says so in one line,
//! exits 130, and leaves the host as it found it.

mod common;

use std::{
    fs,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use common::{CGBENCH, docker, leftover_containers};

fn start(args: &[&str]) -> Child {
    Command::new(CGBENCH).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting cgbench")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits until cgbench's container exists (trials are about to run or running).
fn wait_for_container() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftover_containers().is_empty() {
        assert!(Instant::now() < deadline, "cgbench never created its container");
        sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const INTERRUPTED: &str = "interrupted: limits restored, container removed, probes detached\n";

#[test]
fn sigint_before_the_container_exists_leaves_nothing() {
    common::assert_root();
    let child = start(&["compare", "--iterations", "50", "--quiet"]);
    // Enough for the handler to be installed (first thing cgbench does), not for probes to load.
    sleep(Duration::from_millis(60));
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!((code, err.as_str()), (Some(130), INTERRUPTED));
    assert_eq!(leftover_containers(), "");
}

#[test]
fn sigint_and_sigterm_mid_trials_clean_up() {
    common::assert_root();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let child = start(&["compare", "--iterations", "500", "--quiet", "--paths", "cli,raw"]);
        wait_for_container();
        sleep(Duration::from_millis(700));
        signal(&child, sig);
        let (code, err) = finish(child);
        assert_eq!((code, err.as_str()), (Some(130), INTERRUPTED), "signal {sig}");
        assert_eq!(leftover_containers(), "", "signal {sig}");
    }
}

/// A second Ctrl-C while cgbench restores and removes must not cut the cleanup short; with a
/// named container the limits must be back, in the kernel and in Docker's record.
#[test]
fn repeated_sigint_still_restores_a_named_container() {
    common::assert_root();
    let image = String::from_utf8(common::cgbench(&["image"]).stdout).unwrap().trim().to_owned();
    let name = format!("cgbench-interrupt-{}", std::process::id());
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cgroupns=host",
        "--memory",
        "300m",
        "--memory-swap",
        "1g",
        "--cpus",
        "0.7",
        &image,
    ]);
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]);
    let files = cgbench::cgroup::Host::detect()
        .unwrap()
        .files_of(&fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap())
        .unwrap();
    let limit_files = [files.memory.path.join("memory.limit_in_bytes"), files.cpu.path.join("cpu.cfs_quota_us")];
    let read = || limit_files.iter().map(|f| cgbench::cgroup::read_value(f).unwrap()).collect::<Vec<_>>();
    let before = read();

    let child = start(&["compare", "--iterations", "500", "--quiet", "--paths", "cli,raw", "--container", &name]);
    sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    sleep(Duration::from_millis(20));
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    let after = read();
    let inspect = docker(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", &id]);
    docker(&["rm", "-f", &id]);

    assert_eq!((code, err.as_str()), (Some(130), INTERRUPTED));
    assert_eq!(after, before);
    assert_eq!(inspect, "true 314572800 700000000");
}
