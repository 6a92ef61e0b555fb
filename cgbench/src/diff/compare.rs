//! Each route and resource measured in both runs: how its median latency changed, how sure that
//! is, and whether the change counts.

use std::collections::BTreeSet;

use anyhow::anyhow;

use super::read::{Run, environment_differences};
use crate::{
    analysis::stats::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_median_change_ci, percentile},
    error::Usage,
    resource::Resource,
    trial::Route,
};

/// Two runs side by side.
#[derive(Debug)]
pub struct Diff {
    pub base: Run,
    pub new: Run,
    /// The smallest change that counts, in percent of the base median.
    pub threshold_percent: f64,
    pub changes: Vec<Change>,
    /// Groups listed but not compared, with why.
    pub not_compared: Vec<(Route, Resource, &'static str)>,
    /// How the runs' environments differ, when they were compared all the same (`--force`).
    pub environment_differences: Option<String>,
}

/// How one group's median latency moved from the base run to the new one.
#[derive(Debug)]
pub struct Change {
    pub route: Route,
    pub resource: Resource,
    /// Paired trials in the base run and in the new one.
    pub n: [usize; 2],
    pub base_median_ns: f64,
    pub new_median_ns: f64,
    /// new − base, of the medians, in percent of the base median: +50 is 1.5 times as slow.
    pub percent: f64,
    /// The bootstrap's 95 % confidence interval of new − base, in percent of the base median.
    pub percent_ci95: [f64; 2],
    pub verdict: Verdict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Unchanged,
    Regressed,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Regressed => "regressed",
        }
    }
}

impl Diff {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.changes.iter().filter(|c| c.verdict == verdict).count()
    }

    pub fn regressions(&self) -> usize {
        self.count(Verdict::Regressed)
    }
}

/// Compares every group the two runs share. Bad input: runs measured in environments that differ
/// in what moves latencies (unless `force`d), and runs without a route in common.
pub fn compare(base: Run, new: Run, threshold_percent: f64, force: bool) -> Result<Diff, Usage> {
    let differences = environment_differences(&base.environment, &new.environment);
    if let Some(differences) = differences.as_ref().filter(|_| !force) {
        return Err(Usage(anyhow!("the runs differ in {differences}: compare like with like, or pass --force")));
    }
    let routes = |run: &Run| run.latencies_ns.keys().map(|(route, _)| *route).collect::<BTreeSet<Route>>();
    let (base_routes, new_routes) = (routes(&base), routes(&new));
    if base_routes.is_disjoint(&new_routes) {
        let flags = |routes: &BTreeSet<Route>| routes.iter().map(|r| r.flag()).collect::<Vec<_>>().join(", ");
        return Err(Usage(anyhow!(
            "{} and {} have no route in common ({} vs {}): run both with the same --routes",
            base.path.display(),
            new.path.display(),
            flags(&base_routes),
            flags(&new_routes)
        )));
    }
    let mut changes = Vec::new();
    let mut not_compared = Vec::new();
    let groups: BTreeSet<(Route, Resource)> =
        base.latencies_ns.keys().chain(new.latencies_ns.keys()).copied().collect();
    for (route, resource) in groups {
        let base_sample = base.latencies_ns.get(&(route, resource));
        let new_sample = new.latencies_ns.get(&(route, resource));
        match (base_sample, new_sample) {
            (None, _) => not_compared.push((route, resource, "only in new")),
            (_, None) => not_compared.push((route, resource, "only in base")),
            (Some(b), _) if b.is_empty() => not_compared.push((route, resource, "no paired trial in base")),
            (_, Some(n)) if n.is_empty() => not_compared.push((route, resource, "no paired trial in new")),
            (Some(b), Some(n)) => changes.push(change(route, resource, b, n, threshold_percent)),
        }
    }
    Ok(Diff { base, new, threshold_percent, changes, not_compared, environment_differences: differences })
}

/// The change of one group, from two non-empty samples in ascending order.
fn change(route: Route, resource: Resource, base: &[f64], new: &[f64], threshold_percent: f64) -> Change {
    let (base_median_ns, new_median_ns) = (percentile(base, 50.0), percentile(new, 50.0));
    let [lo, hi] = bootstrap_median_change_ci(base, new, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
    let in_percent = |ns: f64| ns / base_median_ns * 100.0;
    let (percent, percent_ci95) = (in_percent(new_median_ns - base_median_ns), [in_percent(lo), in_percent(hi)]);
    // A change counts only when the interval says it is real (it excludes zero) and it is big
    // enough to matter (past the threshold).
    let verdict = if percent_ci95[0] > 0.0 && percent > threshold_percent {
        Verdict::Regressed
    } else if percent_ci95[1] < 0.0 && percent < -threshold_percent {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    Change {
        route,
        resource,
        n: [base.len(), new.len()],
        base_median_ns,
        new_median_ns,
        percent,
        percent_ci95,
        verdict,
    }
}
