//! Every route for real, side by side: the docker routes through Docker's dockerd, containerd and
//! runc through Docker's own, cri through the CRI containerd `cargo xtask setup` starts.

mod common;

use std::fs;

use common::{assert_paired_with_its_milestones, cgbench, leftover_containers, leftover_pods, median_of, stderr};
use serde_json::Value;

/// All seven routes in one run: every trial paired with exactly the milestones its route has
/// (dockerd's request on the docker routes only, runc's exec wherever runc writes), every stage
/// seen, every layer and speed-up reported, and nothing left: no container, no pod, no pod cgroup.
#[test]
fn every_route_pairs_with_the_milestones_it_has_and_leaves_nothing() {
    common::assert_root();
    let json = std::env::temp_dir().join(format!("cgbench-routes-{}.json", std::process::id()));
    let out = cgbench(&[
        "compare",
        "--iterations",
        "10",
        "--routes",
        "cli,api,cri,containerd,runc,raw,raw-open",
        "--strict",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "compare failed: {}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("all clean") && table.contains("what each layer adds"), "{table}");
    assert!(table.contains("CRI → containerd → shim → runc exec"), "{table}");
    let report: Value = serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    fs::remove_file(&json).unwrap();

    assert!(
        report["environment"]["cri_runtime"].as_str().unwrap().starts_with("containerd "),
        "{}",
        report["environment"]
    );
    assert_eq!(report["trials"].as_array().unwrap().len(), 70, "10 iterations × 7 routes");
    report["trials"].as_array().unwrap().iter().for_each(assert_paired_with_its_milestones);
    for group in report["groups"].as_array().unwrap() {
        for stage in group["stages"].as_array().unwrap() {
            assert_eq!(stage["n"], group["summary"]["n"], "a stage seen in every trial: {stage} in {group}");
        }
    }
    assert_eq!(report["speedups"].as_array().unwrap().len(), 10, "five routes runc writes on × two resources");
    assert_eq!(report["layers"].as_array().unwrap().len(), 10, "five layers × two resources");
    for resource in ["memory", "cpu"] {
        let (runc, raw) = (median_of(&report, "runc", resource), median_of(&report, "raw", resource));
        assert!(runc >= 100.0 * raw, "{resource}: runc's median {runc} ns is not 100× the raw write's {raw} ns");
    }

    assert_eq!(leftover_containers(), "", "the Docker container must be removed");
    assert_eq!(leftover_pods(), "", "the pod and its cgroups must be removed");
}
