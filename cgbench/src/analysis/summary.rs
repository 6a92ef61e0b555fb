//! What a run found, per route and resource: the summary of each group of trials, the speed-up of
//! every route over the raw write, what each layer of the chain adds, and the counts that say
//! whether the numbers can be trusted.

use serde::Serialize;

use super::{
    effects::{self, EffectGroup},
    pairing::{Outcome, TrialResult},
    stages::{self, StageSummary},
    stats::{Summary, summarize},
};
use crate::{resource::Resource, trial::Route};

/// Everything the report shows, computed once from the paired trials.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub groups: Vec<Group>,
    pub speedups: Vec<Speedup>,
    pub layers: Vec<Layer>,
    pub honesty: Honesty,
    pub trials: Vec<TrialResult>,
    /// Under `--load`: applied and in effect, per route, resource and direction.
    pub effects: Vec<EffectGroup>,
}

impl Analysis {
    /// `lost_events` over the whole run, as the kernel counted them.
    pub fn of(trials: Vec<TrialResult>, lost_events: u64) -> Analysis {
        let groups = group(&trials);
        let speedups = speedups(&groups);
        let layers = layers(&groups);
        // Every trial is in exactly one group.
        let honesty = Honesty {
            lost_events,
            unpaired_trials: groups.iter().map(|g| g.unpaired).sum(),
            failed_trials: groups.iter().map(|g| g.failed).sum(),
            out_of_order_trials: trials
                .iter()
                .filter(|t| stages::milestones(t).is_some_and(|m| !stages::in_order(&m)))
                .count(),
        };
        let effects = effects::groups(&trials);
        Analysis { groups, speedups, layers, honesty, trials, effects }
    }
}

/// One row of the table: a route applied to a resource.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub route: Route,
    pub resource: Resource,
    /// Over paired trials only; `None` when none was paired.
    pub summary: Option<Summary>,
    /// Docker routes: the span from dockerd having the request to the limit applied.
    pub daemon_summary: Option<Summary>,
    pub stages: Vec<StageSummary>,
    pub unpaired: usize,
    pub failed: usize,
    pub timed_by: TimedBy,
}

/// Whose clock a group's latencies are from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimedBy {
    /// The kernel's timestamps of the events the probes reported: they include the probes' cost.
    KernelEvents,
    /// cgbench's clock around its own write syscalls, with the syscall tracepoints detached.
    CallerClock,
}

impl TimedBy {
    pub fn of(trial: &TrialResult) -> TimedBy {
        if trial.trial.read_back.is_some() { TimedBy::CallerClock } else { TimedBy::KernelEvents }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimedBy::KernelEvents => "kernel events",
            TimedBy::CallerClock => "cgbench's clock around the write syscalls, syscall tracepoints detached",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Speedup {
    pub resource: Resource,
    pub route: Route,
    /// Median latency of `route` over the median raw-write latency.
    pub median_ratio: f64,
}

/// One layer of the chain, from two routes that enter it one layer apart.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    pub resource: Resource,
    pub name: &'static str,
    /// The route that goes through the layer, and the one that enters below it.
    pub above: Route,
    pub below: Route,
    /// Median latency of `above` minus that of `below`: what the layer adds, as far as a
    /// difference of medians can say (negative when the noise is larger than the layer).
    pub median_added_ns: f64,
}

/// Routes that enter the chain one layer apart, and that layer. `cri` runs its own pod on another
/// containerd than Docker's, so its layer compares two daemons of the same build.
const LAYERS: [(Route, Route, &str); 5] = [
    (Route::DockerCli, Route::DockerApi, "docker CLI"),
    (Route::DockerApi, Route::Containerd, "dockerd"),
    (Route::Cri, Route::Containerd, "CRI plugin"),
    (Route::Containerd, Route::Runc, "containerd + shim"),
    (Route::Runc, Route::Raw, "runc"),
];

/// What would make the numbers untrustworthy; all zero in a clean run. `--strict` fails on any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Honesty {
    /// Events the kernel could not hand over (ring buffer full).
    pub lost_events: u64,
    pub unpaired_trials: usize,
    pub failed_trials: usize,
    /// Paired trials whose milestones are not in time order.
    pub out_of_order_trials: usize,
}

impl Honesty {
    pub fn clean(&self) -> bool {
        *self == Honesty::default()
    }
}

/// A group's key: the route and the resource its limit is of.
fn key(trial: &TrialResult) -> (Route, Resource) {
    (trial.trial.planned.route, trial.trial.planned.limit.resource())
}

fn group(trials: &[TrialResult]) -> Vec<Group> {
    let mut keys: Vec<(Route, Resource)> = trials.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(route, resource)| {
            let of_group: Vec<&TrialResult> = trials.iter().filter(|t| key(t) == (route, resource)).collect();
            let count = |f: fn(&Outcome) -> bool| of_group.iter().filter(|t| f(&t.outcome)).count();
            let latencies: Vec<f64> = of_group.iter().filter_map(|t| t.latency_ns()).map(|ns| ns as f64).collect();
            let daemon: Vec<f64> =
                of_group.iter().filter_map(|t| t.timeline()?.daemon_latency_ns).map(|ns| ns as f64).collect();
            let timed_by = of_group.first().map_or(TimedBy::KernelEvents, |t| TimedBy::of(t));
            // A trial timed by cgbench's clock has no kernel milestones to cut it at.
            let stages = match timed_by {
                TimedBy::KernelEvents => stages::summarize(route, &of_group),
                TimedBy::CallerClock => Vec::new(),
            };
            Group {
                route,
                resource,
                summary: summarize(&latencies),
                daemon_summary: summarize(&daemon),
                stages,
                unpaired: count(|o| matches!(o, Outcome::Unpaired { .. })),
                failed: count(|o| matches!(o, Outcome::Failed { .. })),
                timed_by,
            }
        })
        .collect()
}

fn median(groups: &[Group], route: Route, resource: Resource) -> Option<f64> {
    groups.iter().find(|g| g.route == route && g.resource == resource).and_then(|g| g.summary).map(|s| s.median_ns)
}

/// Every route runc writes on against the raw write, per resource (the kept-open write is the
/// raw write's floor, not a route to speed up).
fn speedups(groups: &[Group]) -> Vec<Speedup> {
    let mut out = Vec::new();
    for resource in Resource::ALL {
        let Some(raw) = median(groups, Route::Raw, resource).filter(|&m| m > 0.0) else { continue };
        for route in Route::ALL.into_iter().filter(|r| r.runc_writes()) {
            if let Some(other) = median(groups, route, resource) {
                out.push(Speedup { resource, route, median_ratio: other / raw });
            }
        }
    }
    out
}

/// Each layer whose two routes both ran, per resource.
fn layers(groups: &[Group]) -> Vec<Layer> {
    let mut out = Vec::new();
    for resource in Resource::ALL {
        for (above, below, name) in LAYERS {
            if let (Some(a), Some(b)) = (median(groups, above, resource), median(groups, below, resource)) {
                out.push(Layer { resource, name, above, below, median_added_ns: a - b });
            }
        }
    }
    out
}

/// Groups whose sample has outliers, with how many of how many: a sign of a noisy machine.
pub fn noisy(groups: &[Group]) -> Vec<(&Group, usize, usize)> {
    groups.iter().filter_map(|g| g.summary.filter(|s| s.outliers > 0).map(|s| (g, s.outliers, s.n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_summarise_paired_trials_and_count_the_rest() {
        let r = Analysis::of(crate::analysis::fixtures::trials(), 0);
        assert_eq!(r.groups.len(), 14);
        let docker_cpu = r.groups.iter().find(|g| g.route == Route::DockerCli && g.resource == Resource::Cpu).unwrap();
        assert_eq!((docker_cpu.summary.unwrap().n, docker_cpu.unpaired), (1, 1));
        let raw_mem = r.groups.iter().find(|g| g.route == Route::Raw && g.resource == Resource::Memory).unwrap();
        assert_eq!(raw_mem.summary.unwrap().median_ns, 6_000.0);
        assert_eq!(r.honesty, Honesty { unpaired_trials: 1, ..Honesty::default() });
        assert!(!r.honesty.clean());
    }

    #[test]
    fn speedup_is_a_ratio_of_medians() {
        let r = Analysis::of(crate::analysis::fixtures::trials(), 0);
        let ratio = |route, resource| {
            r.speedups.iter().find(|s| s.route == route && s.resource == resource).unwrap().median_ratio
        };
        assert!((ratio(Route::DockerCli, Resource::Memory) - 30_800_000.0 / 6_000.0).abs() < 1e-9);
        assert!((ratio(Route::DockerCli, Resource::Cpu) - 32_000_000.0 / 5_100.0).abs() < 1e-9);
        assert!((ratio(Route::DockerApi, Resource::Memory) - 12_500_000.0 / 6_000.0).abs() < 1e-9);
        assert!((ratio(Route::Runc, Resource::Cpu) - 8_300_000.0 / 5_100.0).abs() < 1e-9);
        assert_eq!(r.speedups.len(), 10, "every route runc writes on, for both resources");
    }

    #[test]
    fn each_layer_is_the_difference_of_the_medians_of_the_routes_around_it() {
        let r = Analysis::of(crate::analysis::fixtures::trials(), 0);
        let added = |name, resource| {
            r.layers.iter().find(|l| l.name == name && l.resource == resource).unwrap().median_added_ns
        };
        assert_eq!(added("dockerd", Resource::Memory), 12_500_000.0 - 10_200_000.0);
        assert_eq!(added("CRI plugin", Resource::Cpu), 15_200_000.0 - 10_500_000.0);
        assert_eq!(added("containerd + shim", Resource::Memory), 10_200_000.0 - 8_100_000.0);
        assert_eq!(added("runc", Resource::Cpu), 8_300_000.0 - 5_100.0);
        assert_eq!(r.layers.len(), 10, "five layers, both resources");
    }
}
