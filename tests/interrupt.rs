//! SIGINT and SIGTERM at several points of a real run: the run stops, says so in one line,
//! exits 130, and leaves the host as it found it.

mod common;

use std::{
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use common::{CGBENCH, USER_CONTAINER_RECORD, UserContainer, leftover_containers};

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

const INTERRUPTED: &str = "interrupted: limits restored, probes detached, cgbench's own container removed\n";

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
        let child = start(&["compare", "--iterations", "500", "--quiet", "--routes", "cli,raw"]);
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
    let container = UserContainer::start("interrupt");
    let before = container.kernel_limits();
    let child =
        start(&["compare", "--iterations", "500", "--quiet", "--routes", "cli,raw", "--container", &container.name]);
    sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    sleep(Duration::from_millis(20));
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!((code, err.as_str()), (Some(130), INTERRUPTED));
    assert_eq!(container.kernel_limits(), before);
    assert_eq!(container.docker_record(), USER_CONTAINER_RECORD);
}
