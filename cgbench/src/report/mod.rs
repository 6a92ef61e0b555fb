//! What a run found, summarised per route and resource, and how it is shown.

mod json;
mod table;

pub use json::SCHEMA_VERSION;
use serde::Serialize;

use crate::{
    cgroup::Layout,
    docker::Limits,
    events::KernelEvent,
    pairing::{Outcome, TrialResult},
    plan::Route,
    resource::Resource,
    stats::{Summary, summarize},
};

#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub cgbench_version: String,
    pub kernel: String,
    pub cgroup_layout: Layout,
    pub docker_server_version: String,
    pub docker_cli: String,
    pub docker_cli_version: String,
    pub probe_method: String,
    pub image: String,
    pub container_id: String,
    pub container_name: String,
}

/// One row of the table: a route applied to a resource.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub route: Route,
    pub resource: Resource,
    /// Over paired trials only; `None` when none was paired.
    pub summary: Option<Summary>,
    pub unpaired: usize,
    pub failed: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Speedup {
    pub resource: Resource,
    /// Median docker latency over median raw latency.
    pub median_ratio: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub environment: Environment,
    pub iterations: usize,
    pub initial_limits: Limits,
    pub groups: Vec<Group>,
    pub speedups: Vec<Speedup>,
    /// Events the kernel could not hand over (ring buffer full).
    pub lost_events: u64,
    pub unpaired_trials: usize,
    pub failed_trials: usize,
    pub trials: Vec<TrialResult>,
    #[serde(skip)]
    pub events: Vec<KernelEvent>,
}

impl Report {
    pub fn new(
        environment: Environment,
        iterations: usize,
        initial_limits: Limits,
        trials: Vec<TrialResult>,
        events: Vec<KernelEvent>,
        lost_events: u64,
    ) -> Report {
        let groups = group(&trials);
        let speedups = speedups(&groups);
        let count = |f: fn(&Outcome) -> bool| trials.iter().filter(|t| f(&t.outcome)).count();
        Report {
            environment,
            iterations,
            initial_limits,
            speedups,
            groups,
            lost_events,
            unpaired_trials: count(|o| matches!(o, Outcome::Unpaired { .. })),
            failed_trials: count(|o| matches!(o, Outcome::Failed { .. })),
            trials,
            events,
        }
    }

    pub fn table(&self) -> String {
        table::render(self)
    }

    pub fn json(&self) -> serde_json::Result<String> {
        json::render(self)
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
            Group {
                route,
                resource,
                summary: summarize(&latencies),
                unpaired: of_group.iter().filter(|t| matches!(t.outcome, Outcome::Unpaired { .. })).count(),
                failed: of_group.iter().filter(|t| matches!(t.outcome, Outcome::Failed { .. })).count(),
            }
        })
        .collect()
}

fn speedups(groups: &[Group]) -> Vec<Speedup> {
    let median = |route, resource| {
        groups.iter().find(|g| g.route == route && g.resource == resource).and_then(|g| g.summary).map(|s| s.median_ns)
    };
    Resource::ALL
        .into_iter()
        .filter_map(|resource| {
            let (docker, raw) = (median(Route::DockerCli, resource)?, median(Route::Raw, resource)?);
            (raw > 0.0).then(|| Speedup { resource, median_ratio: docker / raw })
        })
        .collect()
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
        let docker = route == Route::DockerCli;
        let outcome = match latency {
            Some(latency) => {
                let request = start + 20_000_000 * u64::from(docker);
                Outcome::Paired(Timeline {
                    request_ns: docker.then_some(request),
                    request_syscall: docker.then(|| "read".into()),
                    exec_ns: docker.then_some(request + latency / 2),
                    first_write_ns: request + latency - 2_000,
                    write_enter_ns: request + latency - 1_000,
                    write_exit_ns: request + latency,
                    writer_pid: if docker { 4242 } else { 1000 },
                    writer_comm: if docker { "runc" } else { "cgbench" }.into(),
                    latency_ns: latency,
                })
            }
            None => Outcome::Unpaired { reason: format!("no write of {value} to {file} was seen") },
        };
        TrialResult {
            trial: ExecutedTrial {
                planned: PlannedTrial { index, route, limit },
                target: Target { file: file.into(), value, cgroup: Default::default() },
                start_ns: start,
                end_ns: start + 60_000_000,
            },
            outcome,
        }
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
        ];
        let environment = Environment {
            cgbench_version: "0.1.0".into(),
            kernel: "6.18.44".into(),
            cgroup_layout: Layout::Hybrid,
            docker_server_version: "20.10.24+dfsg1".into(),
            docker_cli: "docker".into(),
            docker_cli_version: "28.2.2".into(),
            probe_method: "tracepoints".into(),
            image: "cgbench-target:0123456789abcdef".into(),
            container_id: "4f1c".into(),
            container_name: "cgbench-1000".into(),
        };
        let limits = Limits {
            memory_bytes: 256 << 20,
            memory_swap_bytes: 1 << 30,
            cpu: Limit::Cpu { quota_us: 50_000, period_us: 100_000 },
        };
        Report::new(environment, 4, limits, trials, Vec::new(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_summarise_paired_trials_and_count_the_rest() {
        let r = fixtures::report();
        assert_eq!(r.groups.len(), 4);
        let docker_cpu = r.groups.iter().find(|g| g.route == Route::DockerCli && g.resource == Resource::Cpu).unwrap();
        assert_eq!((docker_cpu.summary.unwrap().n, docker_cpu.unpaired), (1, 1));
        let raw_mem = r.groups.iter().find(|g| g.route == Route::Raw && g.resource == Resource::Memory).unwrap();
        assert_eq!(raw_mem.summary.unwrap().median_ns, 6_000.0);
        assert_eq!(r.unpaired_trials, 1);
        assert_eq!(r.failed_trials, 0);
    }

    #[test]
    fn speedup_is_a_ratio_of_medians() {
        let r = fixtures::report();
        let mem = r.speedups.iter().find(|s| s.resource == Resource::Memory).unwrap();
        assert!((mem.median_ratio - 30_800_000.0 / 6_000.0).abs() < 1e-9);
        let cpu = r.speedups.iter().find(|s| s.resource == Resource::Cpu).unwrap();
        assert!((cpu.median_ratio - 32_000_000.0 / 5_100.0).abs() < 1e-9);
    }
}
