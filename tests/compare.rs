//! `cgbench compare` end to end: a real dockerd, a real container, the real kernel.

mod common;

use std::fs;

use common::{
    USER_CONTAINER_RECORD, UserContainer, assert_paired_with_its_milestones, cgbench, leftover_containers, median_of,
    stderr,
};
use serde_json::Value;

/// Every route for real: all trials paired, every stage present and in order, the API faster
/// than the CLI, docker far slower than a raw write, every export written, nothing left behind.
#[test]
fn all_routes_pair_with_ordered_stages_and_every_export_is_written() {
    common::assert_root();
    let dir = std::env::temp_dir().join(format!("cgbench-compare-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let out_file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (json, csv, md, events, svg) =
        (out_file("run.json"), out_file("run.csv"), out_file("run.md"), out_file("events.jsonl"), out_file("run.svg"));
    let out = cgbench(&[
        "compare",
        "--iterations",
        "20",
        "--strict",
        "--quiet",
        "--json",
        &json,
        "--csv",
        &csv,
        "--markdown",
        &md,
        "--events",
        &events,
        "--plot",
        &svg,
    ]);
    assert!(out.status.success(), "compare failed: {}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("probes: tracepoints") && table.contains("all clean"), "{table}");
    assert!(table.contains("where the time goes"), "{table}");

    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    common::schema::assert_valid(&report);
    assert_eq!(report["schema_version"], 2);
    assert_eq!(report["trials"].as_array().unwrap().len(), 80, "20 iterations × 4 routes, warm-up excluded");
    assert_eq!(
        report["honesty"],
        serde_json::json!({"lost_events": 0, "unpaired_trials": 0, "failed_trials": 0, "out_of_order_trials": 0})
    );
    report["trials"].as_array().unwrap().iter().for_each(assert_paired_with_its_milestones);
    for group in report["groups"].as_array().unwrap() {
        for stage in group["stages"].as_array().unwrap() {
            assert!(stage["median_ns"].as_f64().is_some(), "stage without a value: {stage} in {group}");
            assert_eq!(stage["n"], group["summary"]["n"], "{stage}");
        }
    }
    for resource in ["memory", "cpu"] {
        let (cli, api) = (median_of(&report, "docker_cli", resource), median_of(&report, "docker_api", resource));
        let raw = median_of(&report, "raw", resource);
        assert!(api < cli, "{resource}: the API ({api} ns) must beat the CLI ({cli} ns)");
        assert!(cli >= 100.0 * raw, "{resource}: docker median {cli} ns is not 100× the raw median {raw} ns");
    }

    let csv_text = fs::read_to_string(&csv).unwrap();
    assert_eq!(csv_text.lines().count(), 81, "a header and a row per trial");
    assert!(fs::read_to_string(&md).unwrap().contains("### Where the time goes"));
    assert!(fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let event_lines = fs::read_to_string(&events).unwrap();
    assert!(event_lines.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    assert!(event_lines.contains("\"kind\":\"exec\"") && event_lines.contains("\"kind\":\"write\""));
    fs::remove_dir_all(&dir).unwrap();

    assert_eq!(leftover_containers(), "", "the container must be removed");
    let id = report["environment"]["container_id"].as_str().unwrap();
    assert!(!std::path::Path::new("/sys/fs/cgroup/memory/docker").join(id).exists(), "its cgroup must be gone");
}

/// With `--container`, the user's container is measured, gets its limits back (in the kernel
/// and in Docker's record) and keeps running.
#[test]
fn a_named_container_gets_its_limits_back() {
    common::assert_root();
    let container = UserContainer::start("test");
    let before = container.kernel_limits();
    let out = cgbench(&["compare", "--iterations", "4", "--quiet", "--container", &container.name]);
    assert!(out.status.success(), "compare failed: {}", stderr(&out));
    assert_eq!(before, ["314572800", "100000", "70000"], "memory limit, cfs period, cfs quota");
    assert_eq!(container.kernel_limits(), before, "the kernel's limits must be restored");
    assert_eq!(container.docker_record(), USER_CONTAINER_RECORD, "Docker's record must be restored");
}
