//! Faults during a real run, and a long run under a write storm: what was measured is reported
//! as such, nothing else is, and the host is left as it was.

mod common;

use std::{
    fs,
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use cgbench::cgroup::Scratch;
use common::{CGBENCH, docker, leftover_containers};
use serde_json::Value;

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cgbench-faults-{}-{name}", std::process::id()))
}

/// Someone removes the container mid-run: the run ends with one line saying why, the trials
/// measured before are reported as a partial run, and nothing is left behind.
#[test]
fn a_container_removed_mid_run_ends_it_with_partial_results() {
    common::assert_root();
    let json = temp("partial.json");
    // Not --quiet: off a terminal, progress comes as a line per tenth of the run, which says the
    // trials have started.
    let mut child = Command::new(CGBENCH)
        .args(["compare", "--iterations", "500", "--paths", "cli,raw", "--json", json.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = stderr.next().expect("a progress line").unwrap();
    assert!(first.starts_with("cgbench: "), "{first}");
    docker(&["rm", "-f", &leftover_containers()]);
    let rest: Vec<String> = stderr.map(Result::unwrap).filter(|l| !l.starts_with("cgbench: ")).collect();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert_eq!(out.status.code(), Some(1), "{rest:?}");
    assert_eq!(rest.len(), 1, "one error line: {rest:?}");
    assert!(rest[0].starts_with("error: "), "{rest:?}");
    assert!(stdout.contains("PARTIAL RUN:"), "{stdout}");
    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    fs::remove_file(&json).unwrap();
    assert!(report["ended_early"].is_string(), "{}", report["ended_early"]);
    let trials = report["trials"].as_array().unwrap();
    // The first progress line came after 100 trials, warm-up (4) included.
    assert!(trials.len() >= 96 && trials.len() < 1000, "{} trials", trials.len());
    assert_eq!(report["honesty"]["unpaired_trials"], 0, "trials before the fault were complete");
    assert_eq!(leftover_containers(), "");
}

/// A long run while another process storms an unrelated cgroup and a plain file under the name
/// `runc`, so that compare's probes take it for a writer and only the in-kernel cgroup filter
/// keeps it out: every trial still pairs and no event is lost.
#[test]
fn two_thousand_iterations_under_a_write_storm_pair_cleanly() {
    common::assert_root();
    let host = cgbench::cgroup::Host::detect().unwrap();
    let scratch = Scratch::new(&host, &format!("cgbench-faults-{}", std::process::id())).unwrap();
    let limit_file = scratch.memory_limit_file();
    let plain = temp("storm.txt");
    let runc = temp("bin");
    fs::create_dir_all(&runc).unwrap();
    let runc = runc.join("runc");
    let _ = fs::remove_file(&runc);
    std::os::unix::fs::symlink(CGBENCH, &runc).unwrap();

    let json = temp("load.json");
    let compare = Command::new(CGBENCH)
        .args(["compare", "--iterations", "2000", "--quiet", "--strict", "--paths", "api,raw,raw-open"])
        .args(["--json", json.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Exec'd after compare's probes are attached, so its exec makes it a writer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while leftover_containers().is_empty() {
        assert!(Instant::now() < deadline, "cgbench never created its container");
        sleep(Duration::from_millis(20));
    }
    let mut storm = Command::new(&runc)
        .args(["storm", limit_file.to_str().unwrap(), plain.to_str().unwrap(), "120000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = compare.wait_with_output().unwrap();
    let storm_was_running = storm.try_wait().unwrap().is_none();
    let _ = storm.kill();
    let _ = storm.wait();
    let _ = fs::remove_file(&plain);
    let _ = fs::remove_dir_all(runc.parent().unwrap());
    drop(scratch);

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(storm_was_running, "the storm must outlast the run");
    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    fs::remove_file(&json).unwrap();
    assert_eq!(report["trials"].as_array().unwrap().len(), 6000);
    assert_eq!(
        report["honesty"],
        serde_json::json!({"lost_events": 0, "unpaired_trials": 0, "failed_trials": 0, "out_of_order_trials": 0})
    );
    assert_eq!(leftover_containers(), "");
}
