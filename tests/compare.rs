//! `cgbench compare` end to end: a real dockerd, a real container, the real kernel.

mod common;

use std::fs;

use common::{cgbench, docker, leftover_containers, stderr};
use serde_json::Value;

fn median_of(report: &Value, route: &str, resource: &str) -> f64 {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["route"] == route && g["resource"] == resource)
        .and_then(|g| g["summary"]["median_ns"].as_f64())
        .unwrap_or_else(|| panic!("no {route} {resource} median in {report}"))
}

#[test]
fn every_trial_pairs_and_docker_is_far_slower_than_a_raw_write() {
    common::assert_root();
    let json = std::env::temp_dir().join(format!("cgbench-compare-{}.json", std::process::id()));
    let out = cgbench(&["compare", "--iterations", "10", "--json", json.to_str().unwrap()]);
    assert!(out.status.success(), "compare failed: {}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("probes: tracepoints"), "{table}");

    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    fs::remove_file(&json).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["trials"].as_array().unwrap().len(), 20);
    assert_eq!(report["unpaired_trials"], 0, "{report}");
    assert_eq!(report["failed_trials"], 0);
    assert_eq!(report["lost_events"], 0);
    for trial in report["trials"].as_array().unwrap() {
        let o = &trial["outcome"];
        assert_eq!(o["status"], "paired", "{trial}");
        assert!(o["write_exit_ns"].as_u64() >= o["write_enter_ns"].as_u64());
        if trial["route"] == "docker_cli" {
            assert_eq!(o["writer_comm"], "runc", "{trial}");
            assert!(o["request_ns"].as_u64() <= o["exec_ns"].as_u64(), "{trial}");
        }
    }
    for resource in ["memory", "cpu"] {
        let (docker, raw) = (median_of(&report, "docker_cli", resource), median_of(&report, "raw", resource));
        assert!(docker >= 100.0 * raw, "{resource}: docker median {docker} ns is not 100× the raw median {raw} ns");
    }

    assert_eq!(leftover_containers(), "", "the container must be removed");
    let id = report["environment"]["container_id"].as_str().unwrap();
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory/docker").join(id).exists(), "its cgroup must be gone");
}

/// With `--container`, the user's container is measured, gets its limits back (in the kernel
/// and in Docker's record) and keeps running.
#[test]
fn a_named_container_gets_its_limits_back() {
    common::assert_root();
    let image = String::from_utf8(cgbench(&["image"]).stdout).unwrap().trim().to_owned();
    let name = format!("cgbench-test-{}", std::process::id());
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
    let limit_files = [
        files.memory.path.join("memory.limit_in_bytes"),
        files.cpu.path.join("cpu.cfs_quota_us"),
        files.cpu.path.join("cpu.cfs_period_us"),
    ];
    let read = || limit_files.iter().map(|f| cgbench::cgroup::read_value(f).unwrap()).collect::<Vec<_>>();
    let before = read();

    let out = cgbench(&["compare", "--iterations", "4", "--container", &name]);
    let after = read();
    let inspect = docker(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}}",
        &id,
    ]);
    docker(&["rm", "-f", &id]);

    assert!(out.status.success(), "compare failed: {}", stderr(&out));
    assert_eq!(before, ["314572800", "70000", "100000"]);
    assert_eq!(after, before, "the kernel's limits must be restored");
    assert_eq!(inspect, "true 314572800 1073741824 700000000", "Docker's record must be restored");
}
