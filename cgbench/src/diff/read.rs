//! A report as `diff` reads it: only the fields it needs, from a file `compare --json` wrote.
//! Anything else — unreadable, not a report, a schema version this build does not know — is
//! refused as bad input (exit 2) in one line that says what to do.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::anyhow;
use serde::Deserialize;
use serde_json::Value;

use crate::{error::Usage, report::SCHEMA_VERSION, resource::Resource, trial::Route};

/// One run's paired latencies, by route and resource, and where it was measured.
#[derive(Debug)]
pub struct Run {
    pub path: PathBuf,
    pub environment: Environment,
    /// Every group that has trials, even when none of them was paired (an empty sample); in
    /// ascending order, as percentiles want them.
    pub latencies_ns: BTreeMap<(Route, Resource), Vec<f64>>,
}

/// What a report says of its host: what makes two runs comparable, and the version for people.
#[derive(Debug, Deserialize)]
pub struct Environment {
    pub cgbench_version: String,
    pub kernel: String,
    pub cgroup_layout: String,
    pub docker_cgroup_driver: String,
    pub probe_method: String,
}

#[derive(Deserialize)]
struct ReportView {
    environment: Environment,
    trials: Vec<TrialView>,
}

#[derive(Deserialize)]
struct TrialView {
    route: Route,
    limit: LimitView,
    outcome: OutcomeView,
}

#[derive(Deserialize)]
struct LimitView {
    resource: Resource,
}

/// Unpaired and failed trials have no latency.
#[derive(Deserialize)]
struct OutcomeView {
    latency_ns: Option<u64>,
}

/// What to do with a file that is not a report.
const GIVE_A_REPORT: &str = "give a file written by `cgbench compare --json`";

/// Reads the report at `path`.
pub fn run(path: &Path) -> Result<Run, Usage> {
    let text = std::fs::read_to_string(path).map_err(|e| Usage(anyhow!("{} cannot be read ({e})", path.display())))?;
    parse(path, &text)
}

/// The report in `text`, read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Run, Usage> {
    let refuse = |why: String| Usage(anyhow!("{} {why}", path.display()));
    let document: Value = serde_json::from_str(text)
        .map_err(|e| refuse(format!("is not a cgbench report (not JSON: {e}): {GIVE_A_REPORT}")))?;
    let version = document
        .get("schema_version")
        .ok_or_else(|| refuse(format!("is not a cgbench report (no schema_version): {GIVE_A_REPORT}")))?;
    if version.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
        return Err(refuse(format!(
            "has schema_version {version}, which this cgbench does not read (it reads {SCHEMA_VERSION}): diff it with the cgbench that wrote it"
        )));
    }
    let view = ReportView::deserialize(&document)
        .map_err(|e| refuse(format!("is not a cgbench report of schema version {SCHEMA_VERSION} ({e})")))?;
    let mut latencies_ns: BTreeMap<(Route, Resource), Vec<f64>> = BTreeMap::new();
    for trial in view.trials {
        let sample = latencies_ns.entry((trial.route, trial.limit.resource)).or_default();
        sample.extend(trial.outcome.latency_ns.map(|ns| ns as f64));
    }
    for sample in latencies_ns.values_mut() {
        sample.sort_by(f64::total_cmp);
    }
    Ok(Run { path: path.to_owned(), environment: view.environment, latencies_ns })
}

/// What differs between two runs' hosts in a way that moves latencies — the kernel, how cgroups
/// are mounted, who writes them for Docker, how they are timed — as `kernel (6.1.0 vs 6.18.44)
/// and probe_method (kprobes vs tracepoints)`; `None` when nothing does.
pub fn environment_differences(base: &Environment, new: &Environment) -> Option<String> {
    let mut differences: Vec<String> = [
        ("kernel", &base.kernel, &new.kernel),
        ("cgroup_layout", &base.cgroup_layout, &new.cgroup_layout),
        ("docker_cgroup_driver", &base.docker_cgroup_driver, &new.docker_cgroup_driver),
        ("probe_method", &base.probe_method, &new.probe_method),
    ]
    .into_iter()
    .filter(|(_, base, new)| base != new)
    .map(|(name, base, new)| format!("{name} ({base} vs {new})"))
    .collect();
    let last = differences.pop()?;
    Some(if differences.is_empty() { last } else { format!("{} and {last}", differences.join(", ")) })
}
