//! `cgbench stats` for real: a container's counters read from its cgroups, once as JSON, and
//! every interval with rates per second.

mod common;

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use common::{CGBENCH, LoopDevice, ShellInContainer, UserContainer, cgbench, stderr};
use serde_json::Value;

/// v1 counts a device's I/O per cgroup only once some cgroup throttles that device: the loop
/// device gets a generous throttle, then a shell in the container writes 8 MiB to it directly.
#[test]
fn one_sample_has_cpu_memory_io_pids_and_pressure() {
    common::assert_root();
    let disk = LoopDevice::new("stats");
    let c = UserContainer::start("stats");
    let throttle = format!("{}:100mb", disk.device);
    assert!(cgbench(&["set", &c.name, "--device-write-bps", &throttle]).status.success());
    let write = format!("dd if=/dev/zero of={} bs=1M count=8 oflag=direct 2>/dev/null", disk.device);
    let _shell = ShellInContainer::start(&c, &write);

    let out = cgbench(&["stats", &c.name, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one JSON object per sample: {text}");
    let sample: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(sample["container"], c.name.as_str());
    assert!(sample["cpu"]["usage_ns"].as_u64().unwrap() > 0);
    assert_eq!(sample["memory"]["limit"], 314_572_800);
    assert!(sample["memory"]["current"].as_u64().unwrap() > 0);
    let mut events: Vec<&str> = sample["memory"]["events"].as_object().unwrap().keys().map(String::as_str).collect();
    events.sort_unstable();
    assert_eq!(events, ["failcnt", "oom_kill"]);
    let io =
        sample["io"].as_array().unwrap().iter().find(|d| d["device"] == disk.number.as_str()).expect("the loop device");
    assert!(io["write_bytes"].as_u64().unwrap() >= 8 << 20, "{io}");
    assert!(io["write_ops"].as_u64().unwrap() >= 8, "{io}");
    assert!(sample["pids"]["current"].as_u64().unwrap() >= 2, "the container's process and the shell");
    assert!(sample["pressure"].as_array().unwrap().iter().any(|p| p["resource"] == "memory" && p["kind"] == "some"));
    assert!(sample["rates"].is_null(), "one sample has no rates");
}

/// Reads `--watch` output until `lines` lines have come, then stops the run.
fn watch(args: &[&str], lines: usize) -> Vec<String> {
    let mut child = Command::new(CGBENCH).args(args).stdout(Stdio::piped()).spawn().unwrap();
    let got: Vec<String> =
        BufReader::new(child.stdout.take().unwrap()).lines().take(lines).map(Result::unwrap).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    got
}

#[test]
fn watch_samples_again_with_rates_per_second() {
    common::assert_root();
    let c = UserContainer::start("stats-watch");
    let _busy = ShellInContainer::start(&c, "timeout 10 sh -c 'while :; do :; done' &");
    let samples = watch(&["stats", &c.name, "--watch", "200ms", "--json"], 3);
    let last: Value = serde_json::from_str(&samples[2]).unwrap();
    let first: Value = serde_json::from_str(&samples[0]).unwrap();
    assert!(last["monotonic_ns"].as_u64() > first["monotonic_ns"].as_u64());
    let cpus = last["rates"]["cpus"].as_f64().unwrap();
    // A spinning shell under a 0.7-CPU quota: throttled, and close to 0.7.
    assert!((0.3..=0.8).contains(&cpus), "{cpus}");
    assert!(last["rates"]["throttled_periods"].as_f64().unwrap() > 0.0, "{last}");

    let screens = watch(&["stats", &c.name, "--watch", "200ms"], 16).join("\n");
    assert!(
        screens.contains(&format!("container {} ({}), cgroup v1 (hybrid), every 200 ms", c.name, &c.id[..12])),
        "{screens}"
    );
    assert!(screens.contains("          now "), "the second screen has rates: {screens}");
}

#[test]
fn a_container_cgbench_cannot_find_gets_one_line() {
    let out = cgbench(&["stats", "cgbench-no-such-container"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no container cgbench-no-such-container on this Docker daemon ("), "{err}");
}
