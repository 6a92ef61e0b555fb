//! Runs killed with SIGKILL, which no cleanup survives: the next cgbench (a `compare`, or
//! `cleanup` on its own) finishes what the journal says they changed, leaves live runs alone, and
//! keeps what it cannot read.

mod common;

use std::{
    io::{BufRead as _, BufReader, Lines},
    path::PathBuf,
    process::{Child, ChildStderr, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use common::{
    CGBENCH, NoTracefs, TRACEFS, USER_CONTAINER_RECORD, UserContainer, cgbench, leftover_containers, leftover_pods,
    stderr, stopped_dockerd, tracefs_mounted,
};

const JOURNAL: &str = "/var/lib/cgbench/journal";

fn start(args: &[&str]) -> Child {
    common::assert_root();
    Command::new(CGBENCH).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting cgbench")
}

fn kill9(mut child: Child) -> u32 {
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    pid
}

/// The journal entry of a run, by pid.
fn entry_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_dir(JOURNAL)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{pid}-"))))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(10));
    }
}

/// Reads the run's stderr (`-v`) until a line contains `marker`; the rest is to be held open
/// until the run is killed, or its next line would kill it with SIGPIPE first.
fn wait_for_line(child: &mut Child, marker: &str) -> Lines<BufReader<ChildStderr>> {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains(marker) {
            return lines;
        }
    }
    panic!("the run ended before saying `{marker}`");
}

/// `cgbench cleanup`: its exit code and stdout lines.
fn cleanup() -> (Option<i32>, Vec<String>) {
    let out = cgbench(&["cleanup"]);
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "{}", stderr(&out));
    (out.status.code(), lines)
}

#[test]
fn a_run_killed_mid_trials_loses_its_container_to_cleanup() {
    let child = start(&["compare", "--iterations", "500", "--quiet", "--routes", "cli,raw"]);
    wait_until("the container", || !leftover_containers().is_empty());
    sleep(Duration::from_millis(500));
    let pid = kill9(child);
    assert_ne!(leftover_containers(), "", "SIGKILL leaves the container");
    assert!(entry_of(pid).is_some(), "and the journal entry that names it");

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines, [format!("run {pid} (no longer running): removed container cgbench-{pid}")]);
    assert_eq!(leftover_containers(), "");
    assert_eq!(entry_of(pid), None);
    assert_eq!(cleanup().1, ["nothing to clean up"]);
}

/// The cri route's pod lives on the CRI runtime, beyond dockerd's reach: the journal names it, and
/// cleanup removes it with the pod cgroup runc leaves.
#[test]
fn a_cri_run_killed_mid_trials_loses_its_pod_to_cleanup() {
    let mut child = start(&["-v", "compare", "--iterations", "500", "--routes", "cri,raw"]);
    let _rest = wait_for_line(&mut child, "trial done");
    let pid = kill9(child);
    assert_ne!(leftover_pods(), "", "SIGKILL leaves the pod");

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    // Undone latest first: the pod was made after the container.
    let run = format!("run {pid} (no longer running)");
    assert_eq!(
        lines,
        [
            format!("{run}: removed pod sandbox cgbench-pod-{pid} at unix:///run/cgbench-cri/containerd.sock"),
            format!("{run}: removed container cgbench-{pid}"),
        ]
    );
    assert_eq!((leftover_pods(), leftover_containers()), (String::new(), String::new()));
    assert_eq!(entry_of(pid), None);
}

#[test]
fn a_named_container_killed_mid_trials_gets_its_limits_back_from_the_next_compare() {
    let container = UserContainer::start("journal");
    let before = container.kernel_limits();
    let mut child =
        start(&["-v", "compare", "--iterations", "500", "--routes", "api,raw", "--container", &container.name]);
    let _rest = wait_for_line(&mut child, "trial done");
    sleep(Duration::from_millis(300));
    let pid = kill9(child);
    assert_ne!(
        (container.kernel_limits(), container.docker_record()),
        (before.clone(), USER_CONTAINER_RECORD.to_owned()),
        "the trials changed the limits"
    );

    let out = cgbench(&["compare", "--iterations", "2", "--quiet", "--routes", "raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let short = &container.id[..12];
    let said = format!(
        "cgbench: run {pid} (no longer running): restored the limits of container {short} (Docker's record and 3 files)"
    );
    assert!(stderr(&out).lines().any(|l| l == said), "{}", stderr(&out));
    assert_eq!(container.kernel_limits(), before);
    assert_eq!(container.docker_record(), USER_CONTAINER_RECORD);
    assert_eq!(entry_of(pid), None);
}

#[test]
fn a_run_killed_before_its_container_exists_leaves_nothing_after_cleanup() {
    let child = start(&["compare", "--iterations", "50", "--quiet", "--routes", "raw"]);
    let pid = child.id();
    wait_until("the journal entry", || entry_of(pid).is_some());
    kill9(child);
    // A create call already sent may still be completed by dockerd.
    sleep(Duration::from_secs(1));

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(leftover_containers(), "");
    assert_eq!(entry_of(pid), None);
}

/// dockerd stopped (SIGSTOP) for as long as it lives, continued when dropped, even by a failing
/// test.
struct FrozenDockerd(i32);

impl FrozenDockerd {
    fn freeze(pid: i32) -> FrozenDockerd {
        // SAFETY: a signal to a process; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        FrozenDockerd(pid)
    }
}

impl Drop for FrozenDockerd {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// Killed while restoring: dockerd is frozen when the last trial is done (they are raw writes,
/// which need no daemon), so the run is caught in the first Docker call of its restore, before
/// anything is put back. `cleanup` finishes it.
#[test]
fn a_named_container_killed_during_its_restore_is_restored_by_cleanup() {
    let container = UserContainer::start("journal-restore");
    let before = container.kernel_limits();
    let dockerd = cgbench::host::docker::dockerd_tgids()[0] as i32;
    let mut child = start(&[
        "-v",
        "compare",
        "--iterations",
        "10",
        "--warmup",
        "2",
        "--routes",
        "raw",
        "--container",
        &container.name,
    ]);
    let _rest = wait_for_line(&mut child, "trial=11 ");
    let frozen = FrozenDockerd::freeze(dockerd);
    sleep(Duration::from_millis(300));
    let pid = kill9(child);
    drop(frozen);
    let entry = std::fs::read_to_string(entry_of(pid).expect("the entry")).unwrap();
    assert!(entry.contains(r#""kind": "limits""#), "killed before it could restore: {entry}");
    assert_ne!(container.kernel_limits(), before, "the trials' last limits are still set");

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    let short = &container.id[..12];
    assert_eq!(
        lines,
        [format!(
            "run {pid} (no longer running): restored the limits of container {short} (Docker's record and 3 files)"
        )]
    );
    assert_eq!(container.kernel_limits(), before);
    assert_eq!(container.docker_record(), USER_CONTAINER_RECORD);
}

/// The same for a run with its own container: caught in its cleanup, the container is left for
/// `cleanup` to remove.
#[test]
fn a_run_killed_during_its_cleanup_loses_its_container_to_cleanup() {
    let dockerd = cgbench::host::docker::dockerd_tgids()[0] as i32;
    let mut child = start(&["-v", "compare", "--iterations", "10", "--warmup", "2", "--routes", "raw"]);
    let _rest = wait_for_line(&mut child, "trial=11 ");
    let frozen = FrozenDockerd::freeze(dockerd);
    sleep(Duration::from_millis(300));
    let pid = kill9(child);
    drop(frozen);

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines, [format!("run {pid} (no longer running): removed container cgbench-{pid}")]);
    assert_eq!(leftover_containers(), "");
}

#[test]
fn with_dockerd_down_the_entry_waits_for_a_later_attempt() {
    let child = start(&["compare", "--iterations", "500", "--quiet", "--routes", "raw"]);
    wait_until("the container", || !leftover_containers().is_empty());
    let pid = kill9(child);
    let dockerd = stopped_dockerd();

    let (code, lines) = cleanup();
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(
        lines,
        [format!(
            "run {pid} (no longer running): container cgbench-{pid} may be left: dockerd is not answering: left for a later attempt"
        )]
    );
    assert!(entry_of(pid).is_some(), "the entry is kept");
    dockerd.start();

    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines, [format!("run {pid} (no longer running): removed container cgbench-{pid}")]);
    assert_eq!(leftover_containers(), "");
    assert_eq!(entry_of(pid), None);
}

#[test]
fn a_live_run_is_left_alone_and_a_damaged_entry_is_kept() {
    let mut child = start(&["compare", "--iterations", "500", "--quiet", "--routes", "cli,raw"]);
    wait_until("the container", || !leftover_containers().is_empty());
    let damaged = PathBuf::from(JOURNAL).join("1-1.json");
    std::fs::write(&damaged, "{ half an entr").unwrap();

    let (code, lines) = cleanup();
    assert_eq!(code, Some(1), "a damaged entry cannot be undone: {lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("journal entry {} cannot be read", damaged.display())), "{lines:?}");
    assert!(damaged.exists(), "a damaged entry is kept");
    assert_ne!(leftover_containers(), "", "the live run's container is left alone");
    std::fs::remove_file(&damaged).unwrap();

    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(leftover_containers(), "");
    assert_eq!(cleanup().1, ["nothing to clean up"]);
}

/// One run mounts tracefs and ends while another still runs: both come out clean, and tracefs
/// is unmounted again once both are done. A run killed with tracefs mounted leaves it mounted;
/// cleanup unmounts it.
#[test]
fn tracefs_mounted_by_one_run_is_unmounted_after_both_and_after_a_kill() {
    let _restore = NoTracefs::new();
    let short = start(&["compare", "--iterations", "4", "--quiet", "--strict", "--routes", "raw"]);
    let long = start(&["compare", "--iterations", "40", "--quiet", "--strict", "--routes", "api,raw"]);
    for run in [short, long] {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(!tracefs_mounted(), "tracefs is left as it was found");

    let child = start(&["compare", "--iterations", "500", "--quiet", "--routes", "raw"]);
    wait_until("the container", || !leftover_containers().is_empty());
    let pid = kill9(child);
    assert!(tracefs_mounted(), "SIGKILL leaves the mount");
    let (code, lines) = cleanup();
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(
        lines,
        [
            format!("run {pid} (no longer running): removed container cgbench-{pid}"),
            format!("run {pid} (no longer running): unmounted {TRACEFS}"),
        ]
    );
    assert!(!tracefs_mounted());
    assert_eq!(leftover_containers(), "");
}

#[test]
fn two_runs_at_once_do_not_disturb_each_other() {
    let args = ["compare", "--iterations", "30", "--quiet", "--strict", "--routes", "api,raw"];
    let (a, b) = (start(&args), start(&args));
    for run in [a, b] {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(leftover_containers(), "");
}
