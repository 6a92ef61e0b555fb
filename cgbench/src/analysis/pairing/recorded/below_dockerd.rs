//! Pairing of a real event stream, recorded on the development machine with `--events` and
//! `--json` (`below_dockerd.json` says how): two trials of each route below dockerd —
//! cri, containerd, runc — among the warm-up's events. The events go through the probes' raw
//! format, as they would from the ring buffer.

use std::{collections::HashSet, sync::LazyLock};

use probe_common::CgroupKey;
use serde_json::Value;

use super::{super::*, event, number, trial};
use crate::{analysis::stages, trial::Route};

static RECORDED: LazyLock<Value> = LazyLock::new(|| serde_json::from_str(include_str!("below_dockerd.json")).unwrap());

fn trials() -> Vec<ExecutedTrial> {
    RECORDED["trials"].as_array().unwrap().iter().map(trial).collect()
}

/// The recorded events paired with `trials`, with the recording run's own actors.
fn paired_with(trials: Vec<ExecutedTrial>) -> Vec<TrialResult> {
    let events = RECORDED["events"].as_array().unwrap().iter().filter_map(event).collect();
    let actors = Actors {
        own_tgid: number(&RECORDED["own_tgid"]) as u32,
        container_id: RECORDED["container_id"].as_str().unwrap(),
    };
    pair(trials, events, &actors)
}

fn paired() -> Vec<TrialResult> {
    paired_with(trials())
}

fn timeline(r: &TrialResult) -> &Timeline {
    r.timeline().unwrap_or_else(|| panic!("trial {} unpaired: {:?}", r.trial.planned.index, r.outcome))
}

#[test]
fn every_recorded_trial_below_dockerd_pairs_from_runcs_exec_and_writes() {
    let results = paired();
    assert_eq!(results.len(), 6);
    for r in &results {
        let t = timeline(r);
        assert_eq!((t.request_ns, t.daemon_latency_ns), (None, None), "no dockerd below it");
        assert_eq!(t.writer_comm, "runc");
        let exec = t.exec_ns.expect("runc's exec is seen");
        assert!(r.trial.start_ns < exec && exec < t.first_write_ns && t.first_write_ns <= t.write_enter_ns);
        let milestones = stages::milestones(r).unwrap();
        assert!(stages::in_order(&milestones), "trial {}", r.trial.planned.index);
        assert_eq!(milestones.len() - 1, stages::stage_names(r.trial.planned.route).len());
    }
}

/// cri's limit lands in its own pod's cgroups, never in the Docker container's.
#[test]
fn recorded_cri_trials_target_their_own_containers_cgroups() {
    let results = paired();
    let cgroups = |route| -> HashSet<CgroupKey> {
        results.iter().filter(|r| r.trial.planned.route == route).map(|r| r.trial.target.cgroup).collect()
    };
    assert!(cgroups(Route::Cri).is_disjoint(&cgroups(Route::Runc)));
    assert_eq!(cgroups(Route::Containerd), cgroups(Route::Runc), "both on the Docker container");
}

/// Through CRI, containerd hands runc the container's whole resources: a CPU change writes the
/// memory files first, and runc's first write comes well before the target's. Called directly,
/// runc writes only what it is given: the CPU period, then the quota.
#[test]
fn a_cri_cpu_change_rewrites_memory_first_and_a_direct_one_does_not() {
    let results = paired();
    let cpu = |route| {
        results.iter().find(|r| r.trial.planned.route == route && r.trial.target.file == "cpu.cfs_quota_us").unwrap()
    };
    let (cri, runc) = (timeline(cpu(Route::Cri)), timeline(cpu(Route::Runc)));
    let other_writes = |t: &Timeline| t.write_enter_ns - t.first_write_ns;
    assert!(other_writes(cri) > other_writes(runc), "{cri:?} vs {runc:?}");
}

/// The same events do not pair a route through dockerd: its request is a milestone it must have.
#[test]
fn a_route_through_dockerd_does_not_pair_without_dockerds_request() {
    let mut trials = trials();
    trials.retain(|t| t.planned.route == Route::Runc);
    for t in &mut trials {
        t.planned.route = Route::DockerApi;
    }
    for r in paired_with(trials) {
        assert_eq!(r.outcome, Outcome::Unpaired { reason: "dockerd's read of the update request was not seen".into() });
    }
}
