//! Where a trial's time goes: its milestones, in the order they must happen, and the stages
//! between them. A milestone whose event was not seen leaves its two stages empty; it is never
//! interpolated.

use serde::Serialize;

use crate::{
    analysis::{
        pairing::TrialResult,
        stats::{ascending, percentile},
    },
    trial::Route,
};

/// A point in a trial's life, with its CLOCK_MONOTONIC time when it was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Milestone {
    pub name: &'static str,
    pub ns: Option<u64>,
}

/// The milestones of a paired trial, in the order they must occur. Each route names only those
/// that exist on it: dockerd's read of the request where dockerd is on the way, runc's where
/// runc writes.
pub fn milestones(trial: &TrialResult) -> Option<Vec<Milestone>> {
    let t = trial.timeline()?;
    let m = |name, ns| Milestone { name, ns };
    let route = trial.trial.planned.route;
    let (start, end) = (trial.trial.start_ns, trial.trial.end_ns);
    let (caller_start, caller_done) = if route == Route::Runc || !route.runc_writes() {
        ("cgbench starts", "cgbench done")
    } else {
        ("client start", "client done")
    };
    let mut milestones = vec![m(caller_start, Some(start))];
    if route.through_dockerd() {
        milestones.push(m("dockerd reads request", t.request_ns));
    }
    if route.runc_writes() {
        milestones.extend([m("runc exec", t.exec_ns), m("runc's first cgroup write", Some(t.first_write_ns))]);
    }
    milestones.extend([
        m("target write entry", Some(t.write_enter_ns)),
        m("limit applied", Some(t.write_exit_ns)),
        m(caller_done, Some(end)),
    ]);
    Some(milestones)
}

/// The stage names of a route, one per pair of consecutive milestones. The first stage of a
/// route that runc writes on names where the route enters the chain.
pub fn stage_names(route: Route) -> &'static [&'static str] {
    match route {
        Route::DockerCli | Route::DockerApi => &[
            "client → dockerd has the request",
            "dockerd → containerd → shim → runc exec",
            "runc start → first cgroup write",
            "runc's other cgroup writes",
            "kernel applies the limit",
            "runc exit → reply → client done",
        ],
        Route::Cri => &[
            "CRI → containerd → shim → runc exec",
            "runc start → first cgroup write",
            "runc's other cgroup writes",
            "kernel applies the limit",
            "runc exit → shim → CRI → client done",
        ],
        Route::Containerd => &[
            "containerd → shim → runc exec",
            "runc start → first cgroup write",
            "runc's other cgroup writes",
            "kernel applies the limit",
            "runc exit → shim → client done",
        ],
        Route::Runc => &[
            "cgbench forks → runc exec",
            "runc start → first cgroup write",
            "runc's other cgroup writes",
            "kernel applies the limit",
            "runc exit → cgbench reaps it",
        ],
        Route::Raw => &["open() → write entry", "kernel applies the limit", "write return → close() done"],
        Route::RawKeptOpen => &["write() called → write entry", "kernel applies the limit", "write returned"],
    }
}

/// Each stage's duration; `None` where a milestone on either side was not seen.
pub fn durations(milestones: &[Milestone]) -> Vec<Option<u64>> {
    milestones.windows(2).map(|w| Some(w[1].ns?.saturating_sub(w[0].ns?))).collect()
}

/// Whether the milestones that were seen are in order: a violation means a clock or pairing
/// problem, and the trial must not be trusted.
pub fn in_order(milestones: &[Milestone]) -> bool {
    let seen: Vec<u64> = milestones.iter().filter_map(|m| m.ns).collect();
    seen.windows(2).all(|w| w[0] <= w[1])
}

/// One stage over all paired trials of a group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageSummary {
    pub name: &'static str,
    /// Trials in which both ends of the stage were seen.
    pub n: usize,
    pub median_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    /// Why the stage has no value, when it has none.
    pub missing: Option<String>,
}

pub fn summarize(route: Route, trials: &[&TrialResult]) -> Vec<StageSummary> {
    let per_trial: Vec<Vec<Milestone>> = trials.iter().filter_map(|t| milestones(t)).collect();
    let spans: Vec<Vec<Option<u64>>> = per_trial.iter().map(|m| durations(m)).collect();
    stage_names(route)
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let values = ascending(spans.iter().filter_map(|d| d[i]).map(|ns| ns as f64));
            let at = |p| (!values.is_empty()).then(|| percentile(&values, p));
            StageSummary {
                name,
                n: values.len(),
                median_ns: at(50.0),
                p99_ns: at(99.0),
                missing: values.is_empty().then(|| why_missing(per_trial.first(), i)),
            }
        })
        .collect()
}

/// Why a stage has no value in any trial. Which milestones are seen depends on the probes, not on
/// the trial, so the first paired trial speaks for all of them.
fn why_missing(milestones: Option<&Vec<Milestone>>, stage: usize) -> String {
    let unseen: Vec<&str> = milestones
        .map(|m| m[stage..=stage + 1].iter().filter(|m| m.ns.is_none()).map(|m| m.name).collect())
        .unwrap_or_default();
    if unseen.is_empty() {
        "no paired trial".to_owned()
    } else {
        format!("{} not seen on this kernel", unseen.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analysis::Outcome, report::fixtures};

    #[test]
    fn docker_trials_have_seven_milestones_in_order() {
        let report = fixtures::report();
        let docker = &report.trials[0];
        let m = milestones(docker).unwrap();
        assert_eq!(m.len(), 7);
        assert_eq!(m.len() - 1, stage_names(Route::DockerCli).len());
        assert!(in_order(&m));
        let d = durations(&m);
        assert_eq!(d.iter().flatten().sum::<u64>(), docker.trial.end_ns - docker.trial.start_ns);
    }

    /// Every route's stage list names exactly the stages between the milestones it has: no
    /// request below dockerd, no runc where cgbench writes.
    #[test]
    fn every_route_has_one_stage_name_per_pair_of_its_milestones() {
        for (i, trial) in fixtures::report().trials.iter().enumerate() {
            let Some(m) = milestones(trial) else { continue };
            let route = trial.trial.planned.route;
            assert_eq!(m.len() - 1, stage_names(route).len(), "trial {i} ({route:?})");
            assert_eq!(m.iter().any(|m| m.name == "dockerd reads request"), route.through_dockerd());
            assert_eq!(m.iter().any(|m| m.name == "runc exec"), route.runc_writes());
            assert!(in_order(&m), "trial {i}");
        }
    }

    #[test]
    fn a_missing_milestone_empties_its_two_stages_only() {
        let mut m = milestones(&fixtures::report().trials[0]).unwrap();
        m[2].ns = None;
        let d = durations(&m);
        assert_eq!(d.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false, true, true, true]);
        assert!(in_order(&m));
    }

    #[test]
    fn out_of_order_milestones_are_caught() {
        let mut m = milestones(&fixtures::report().trials[1]).unwrap();
        m[3].ns = Some(m[1].ns.unwrap() - 1);
        assert!(!in_order(&m));
        assert_eq!(durations(&m)[2], Some(0), "a negative span is clamped, and flagged by in_order");
    }

    #[test]
    fn summaries_name_what_was_not_seen() {
        let report = fixtures::report();
        let mut trial = report.trials[0].clone();
        if let Outcome::Paired(t) = &mut trial.outcome {
            t.exec_ns = None;
        }
        let stages = summarize(Route::DockerCli, &[&trial]);
        assert_eq!(stages.len(), 6);
        assert_eq!(stages[1].missing.as_deref(), Some("runc exec not seen on this kernel"));
        assert_eq!(stages[0].n, 1);
        assert!(stages[4].median_ns.unwrap() > 0.0);
    }
}
