//! `cgbench compare --load`: a real workload in a real container, the effect probes on the real
//! kernel. Every trial of the loaded resource has its effect seen or says why not, the JSON keeps
//! to the schema, and the workload ends with the container.

mod common;

use std::{collections::HashSet, fs};

use common::{cgbench, leftover_containers, stderr};
use serde_json::Value;

/// Runs a short `compare --load <load>` on the raw and API routes; the report and the tids the
/// effect probes saw.
fn run(load: &str) -> (String, Value, HashSet<u64>) {
    common::assert_root();
    let dir = std::env::temp_dir().join(format!("cgbench-load-{load}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let (json, events) = (dir.join("run.json"), dir.join("events.jsonl"));
    let out = cgbench(&[
        "compare",
        "--load",
        load,
        "--routes",
        "raw,api",
        "--iterations",
        "6",
        "--warmup",
        "1",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "compare --load {load} failed: {}", stderr(&out));
    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    common::schema::assert_valid(&report);
    let tids = fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "throttle" || e["kind"] == "resume")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(leftover_containers(), "", "the container is removed");
    (String::from_utf8_lossy(&out.stdout).into_owned(), report, tids)
}

/// The effects of the loaded resource's trials, by direction, after checking each has one.
fn effects<'a>(report: &'a Value, resource: &str) -> Vec<&'a Value> {
    let trials = report["trials"].as_array().unwrap();
    for t in trials {
        assert_eq!(t["limit"]["resource"] == resource, t.get("effect").is_some(), "{t}");
    }
    let effects: Vec<&Value> = trials.iter().filter_map(|t| t.get("effect")).collect();
    for e in &effects {
        let status = e["status"].as_str().unwrap();
        assert!(["seen", "oom_kill", "nothing", "refused", "missing"].contains(&status), "{e}");
        if status == "seen" {
            assert!(e["after_applied_ns"].as_u64().unwrap() <= 300_000_000, "{e}");
        } else {
            assert!(!e["reason"].as_str().unwrap().is_empty(), "{e}");
        }
    }
    effects
}

#[test]
fn a_cpu_load_feels_decreases_a_quota_later_and_ends_with_its_container() {
    let (table, report, tids) = run("cpu");
    assert!(table.contains("in effect (--load cpu)") && table.contains("cpu decrease"), "{table}");
    assert_eq!(report["config"]["load"], "cpu");
    let effects = effects(&report, "cpu");
    let decreases: Vec<&&Value> = effects.iter().filter(|e| e["direction"] == "decrease").collect();
    assert!(!decreases.is_empty());
    assert!(
        decreases.iter().any(|e| e["status"] == "seen"),
        "a busy group is throttled after a decrease: {decreases:?}"
    );
    assert!(!tids.is_empty(), "the scheduler's events of the workload were seen");
    // A tid the kernel has given to another process since is not the workload's.
    let alive: Vec<&u64> = tids
        .iter()
        .filter(|tid| fs::read_to_string(format!("/proc/{tid}/comm")).is_ok_and(|comm| comm.trim() == "load"))
        .collect();
    assert!(alive.is_empty(), "the workload's threads outlived the container: {alive:?}");
}

#[test]
fn a_memory_load_is_reclaimed_inside_the_write_and_ends_with_its_container() {
    let (table, report, _) = run("memory");
    assert!(table.contains("in effect (--load memory)"), "{table}");
    let effects = effects(&report, "memory");
    let decreases: Vec<&&Value> = effects.iter().filter(|e| e["direction"] == "decrease").collect();
    assert!(!decreases.is_empty(), "every trial flips the limit: {effects:?}");
    for e in decreases {
        // v1 reclaims inside the write, or refuses it (EBUSY); an OOM kill is said as such.
        assert!(["seen", "refused", "oom_kill", "nothing"].contains(&e["status"].as_str().unwrap()), "{e}");
    }
    assert!(effects.iter().any(|e| e["status"] == "seen"), "{effects:?}");
    let workloads = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|p| fs::read_to_string(p.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "load")
        .count();
    assert_eq!(workloads, 0, "the workload outlived the container");
}
