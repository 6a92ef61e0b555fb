//! What a run found, summarised per route and resource, and the formats it is shown in (one
//! module per format).

mod csv;
mod json;
mod markdown;
mod svg;
mod table;

pub use json::SCHEMA_VERSION;

/// The file formats a run can be written in (`--json`, `--csv`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
    Events,
    Svg,
}
use serde::Serialize;

use crate::{
    cgroup::Layout,
    docker::Limits,
    events::KernelEvent,
    pairing::{Outcome, TrialResult},
    plan::Route,
    resource::Resource,
    stages::{self, StageSummary},
    stats::{Summary, summarize},
};

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub cgbench_version: String,
    pub kernel: String,
    pub cgroup_layout: Layout,
    pub docker_server_version: String,
    pub docker_cgroup_driver: String,
    pub docker_cli: String,
    pub docker_cli_version: String,
    pub probe_method: String,
    /// Time to load and attach every probe.
    pub probe_load_ns: u64,
    pub image: String,
    pub container_id: String,
    pub container_name: String,
}

impl Environment {
    /// The first line of every format: what was measured, on what.
    pub fn headline(&self) -> String {
        format!(
            "cgbench {} · kernel {} · {} · docker {} (CLI {}) · probes: {}",
            self.cgbench_version,
            self.kernel,
            self.cgroup_layout,
            self.docker_server_version,
            self.docker_cli_version,
            self.probe_method
        )
    }
}

/// How the run was set up: enough to repeat it.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub iterations: usize,
    pub warmup: usize,
    pub seed: u64,
    pub routes: Vec<Route>,
    pub initial_limits: Limits,
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
}

#[derive(Clone, Debug, Serialize)]
pub struct Speedup {
    pub resource: Resource,
    pub route: Route,
    /// Median latency of `route` over the median raw-write latency.
    pub median_ratio: f64,
}

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

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub environment: Environment,
    pub config: RunConfig,
    pub groups: Vec<Group>,
    pub speedups: Vec<Speedup>,
    pub honesty: Honesty,
    /// Why the trials stopped before the end (a fault or a signal); the report then covers the
    /// trials before it.
    pub ended_early: Option<String>,
    pub trials: Vec<TrialResult>,
    /// Raw kernel events, kept only when they are to be written (`--events`).
    #[serde(skip)]
    pub events: Vec<KernelEvent>,
}

impl Report {
    pub fn new(
        environment: Environment,
        config: RunConfig,
        trials: Vec<TrialResult>,
        events: Vec<KernelEvent>,
        lost_events: u64,
    ) -> Report {
        let groups = group(&trials);
        let speedups = speedups(&groups);
        let count = |f: fn(&Outcome) -> bool| trials.iter().filter(|t| f(&t.outcome)).count();
        let honesty = Honesty {
            lost_events,
            unpaired_trials: count(|o| matches!(o, Outcome::Unpaired { .. })),
            failed_trials: count(|o| matches!(o, Outcome::Failed { .. })),
            out_of_order_trials: trials
                .iter()
                .filter(|t| stages::milestones(t).is_some_and(|m| !stages::in_order(&m)))
                .count(),
        };
        Report { environment, config, groups, speedups, honesty, ended_early: None, trials, events }
    }

    pub fn table(&self) -> String {
        table::render(self)
    }

    /// Writes the run in one of the file formats.
    pub fn write(&self, format: Format, mut w: impl std::io::Write) -> anyhow::Result<()> {
        match format {
            Format::Json => json::write(self, &mut w)?,
            Format::Csv => w.write_all(csv::render(self).as_bytes())?,
            Format::Markdown => w.write_all(markdown::render(self).as_bytes())?,
            Format::Svg => w.write_all(svg::render(self).as_bytes())?,
            // Every raw kernel event, one JSON object a line.
            Format::Events => {
                for event in &self.events {
                    serde_json::to_writer(&mut w, event)?;
                    w.write_all(b"\n")?;
                }
            }
        }
        Ok(w.flush()?)
    }

    /// Groups whose sample has outliers: a sign of a noisy machine.
    pub fn noisy_groups(&self) -> Vec<(&Group, usize, usize)> {
        self.groups.iter().filter_map(|g| g.summary.filter(|s| s.outliers > 0).map(|s| (g, s.outliers, s.n))).collect()
    }
}

fn group(trials: &[TrialResult]) -> Vec<Group> {
    let mut keys: Vec<(Route, Resource)> =
        trials.iter().map(|t| (t.trial.planned.route, t.trial.planned.limit.resource())).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(route, resource)| {
            let of_group: Vec<&TrialResult> = trials
                .iter()
                .filter(|t| t.trial.planned.route == route && t.trial.planned.limit.resource() == resource)
                .collect();
            let latencies: Vec<f64> = of_group.iter().filter_map(|t| t.latency_ns()).map(|ns| ns as f64).collect();
            let daemon: Vec<f64> = of_group
                .iter()
                .filter_map(|t| match &t.outcome {
                    Outcome::Paired(timeline) => timeline.daemon_latency_ns,
                    _ => None,
                })
                .map(|ns| ns as f64)
                .collect();
            Group {
                route,
                resource,
                summary: summarize(&latencies),
                daemon_summary: summarize(&daemon),
                stages: stages::summarize(route, &of_group),
                unpaired: of_group.iter().filter(|t| matches!(t.outcome, Outcome::Unpaired { .. })).count(),
                failed: of_group.iter().filter(|t| matches!(t.outcome, Outcome::Failed { .. })).count(),
            }
        })
        .collect()
}

/// Each docker route against the raw write, per resource.
fn speedups(groups: &[Group]) -> Vec<Speedup> {
    let median = |route, resource| {
        groups.iter().find(|g| g.route == route && g.resource == resource).and_then(|g| g.summary).map(|s| s.median_ns)
    };
    let mut out = Vec::new();
    for resource in Resource::ALL {
        let Some(raw) = median(Route::Raw, resource).filter(|&m| m > 0.0) else { continue };
        for route in [Route::DockerCli, Route::DockerApi] {
            if let Some(docker) = median(route, resource) {
                out.push(Speedup { resource, route, median_ratio: docker / raw });
            }
        }
    }
    out
}

#[cfg(test)]
pub mod fixtures {
    //! A report built from fixed trials, for snapshot-style tests of every output format.
    use super::*;
    use crate::{
        pairing::{ExecutedTrial, Target, Timeline},
        plan::PlannedTrial,
        resource::Limit,
    };

    fn trial(index: usize, route: Route, limit: Limit, latency: Option<u64>) -> TrialResult {
        let start = 1_000_000_000 + index as u64 * 100_000_000;
        let (file, value) = match limit {
            Limit::Memory { bytes } => ("memory.limit_in_bytes", bytes.to_string()),
            Limit::Cpu { quota_us, .. } => ("cpu.cfs_quota_us", quota_us.to_string()),
        };
        let docker = route.via_docker();
        let outcome = match latency {
            Some(latency) => {
                // The client's start-up takes 40 % of a docker trial, dockerd and runc the rest.
                let request = start + latency * 2 / 5 * u64::from(docker);
                let applied = start + latency;
                Outcome::Paired(Timeline {
                    request_ns: docker.then_some(request),
                    request_syscall: docker.then(|| "read".into()),
                    exec_ns: docker.then_some(request + (applied - request) / 2),
                    first_write_ns: applied - latency / 20 - 1_000,
                    write_enter_ns: applied - 1_000,
                    write_exit_ns: applied,
                    writer_pid: if docker { 4242 } else { 1000 },
                    writer_comm: if docker { "runc" } else { "cgbench" }.into(),
                    runc_write_exit_ns: None,
                    latency_ns: latency,
                    daemon_latency_ns: docker.then_some(applied - request),
                })
            }
            None => Outcome::Unpaired { reason: format!("no write of {value} to {file} was seen") },
        };
        TrialResult {
            trial: ExecutedTrial {
                planned: PlannedTrial { index, route, limit, warmup: false },
                target: Target { file: file.into(), value, cgroup: Default::default() },
                start_ns: start,
                end_ns: start + latency.map_or(60_000_000, |l| l + l / 5),
                lost_events: 0,
            },
            outcome,
        }
    }

    fn raw_open(index: usize, limit: Limit, latency: u64) -> TrialResult {
        let mut t = trial(index, Route::Raw, limit, Some(latency));
        t.trial.planned.route = Route::RawKeptOpen;
        t
    }

    pub fn report() -> Report {
        let mem = |n: u64| Limit::Memory { bytes: (256 << 20) + n * 4096 };
        let cpu = |n: u64| Limit::Cpu { quota_us: 50_000 + n, period_us: 100_000 };
        let trials = vec![
            trial(0, Route::DockerCli, mem(1), Some(31_200_000)),
            trial(1, Route::Raw, mem(2), Some(6_100)),
            trial(2, Route::DockerCli, cpu(1), Some(32_000_000)),
            trial(3, Route::Raw, cpu(2), Some(4_900)),
            trial(4, Route::DockerCli, mem(3), Some(30_400_000)),
            trial(5, Route::Raw, mem(4), Some(5_900)),
            trial(6, Route::DockerCli, cpu(3), None),
            trial(7, Route::Raw, cpu(4), Some(5_300)),
            trial(8, Route::DockerApi, mem(5), Some(12_500_000)),
            trial(9, Route::DockerApi, cpu(5), Some(13_100_000)),
            raw_open(10, mem(6), 1_400),
            raw_open(11, cpu(6), 1_900),
        ];
        let environment = Environment {
            cgbench_version: "0.1.0".into(),
            kernel: "6.18.44".into(),
            cgroup_layout: Layout::Hybrid,
            docker_server_version: "20.10.24+dfsg1".into(),
            docker_cgroup_driver: "cgroupfs".into(),
            docker_cli: "docker".into(),
            docker_cli_version: "28.2.2".into(),
            probe_method: "tracepoints".into(),
            probe_load_ns: 1_400_000,
            image: "cgbench-target:0123456789abcdef".into(),
            container_id: "4f1c".into(),
            container_name: "cgbench-1000".into(),
        };
        let config = RunConfig {
            iterations: 4,
            warmup: 2,
            seed: 42,
            routes: Route::ALL.to_vec(),
            initial_limits: Limits {
                memory_bytes: 256 << 20,
                memory_swap_bytes: 1 << 30,
                cpu: Limit::Cpu { quota_us: 50_000, period_us: 100_000 },
            },
        };
        Report::new(environment, config, trials, Vec::new(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_summarise_paired_trials_and_count_the_rest() {
        let r = fixtures::report();
        assert_eq!(r.groups.len(), 8);
        let docker_cpu = r.groups.iter().find(|g| g.route == Route::DockerCli && g.resource == Resource::Cpu).unwrap();
        assert_eq!((docker_cpu.summary.unwrap().n, docker_cpu.unpaired), (1, 1));
        let raw_mem = r.groups.iter().find(|g| g.route == Route::Raw && g.resource == Resource::Memory).unwrap();
        assert_eq!(raw_mem.summary.unwrap().median_ns, 6_000.0);
        assert_eq!(r.honesty, Honesty { unpaired_trials: 1, ..Honesty::default() });
        assert!(!r.honesty.clean());
    }

    #[test]
    fn speedup_is_a_ratio_of_medians() {
        let r = fixtures::report();
        let ratio = |route, resource| {
            r.speedups.iter().find(|s| s.route == route && s.resource == resource).unwrap().median_ratio
        };
        assert!((ratio(Route::DockerCli, Resource::Memory) - 30_800_000.0 / 6_000.0).abs() < 1e-9);
        assert!((ratio(Route::DockerCli, Resource::Cpu) - 32_000_000.0 / 5_100.0).abs() < 1e-9);
        assert!((ratio(Route::DockerApi, Resource::Memory) - 12_500_000.0 / 6_000.0).abs() < 1e-9);
        assert_eq!(r.speedups.len(), 4);
    }
}
