//! Paired trials of every route, with fixed timestamps, for the tests of the analysis and of
//! every report format.

use super::{Outcome, Timeline, TrialResult};
use crate::{
    resource::Limit,
    trial::{ExecutedTrial, PlannedTrial, Route, Target},
};

fn trial(index: usize, route: Route, limit: Limit, latency: Option<u64>) -> TrialResult {
    let start = 1_000_000_000 + index as u64 * 100_000_000;
    let (file, value) = match limit {
        Limit::Memory { bytes } => ("memory.limit_in_bytes", bytes.to_string()),
        Limit::Cpu { quota_us, .. } => ("cpu.cfs_quota_us", quota_us.to_string()),
    };
    let (dockerd, runc) = (route.through_dockerd(), route.runc_writes());
    let outcome = match latency {
        Some(latency) => {
            // The client's start-up takes 40 % of a trial through dockerd, the layers below and
            // runc the rest.
            let request = start + latency * 2 / 5 * u64::from(dockerd);
            let applied = start + latency;
            Outcome::Paired(Timeline {
                request_ns: dockerd.then_some(request),
                request_syscall: dockerd.then(|| "read".into()),
                exec_ns: runc.then_some(request + (applied - request) / 2),
                first_write_ns: applied - latency / 20 - 1_000,
                write_enter_ns: applied - 1_000,
                write_exit_ns: applied,
                writer_pid: if runc { 4242 } else { 1000 },
                writer_comm: if runc { "runc" } else { "cgbench" }.into(),
                runc_write_exit_ns: None,
                latency_ns: latency,
                daemon_latency_ns: dockerd.then_some(applied - request),
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
            container_gone: false,
            read_back: None,
        },
        outcome,
        effect: None,
    }
}

fn raw_open(index: usize, limit: Limit, latency: u64) -> TrialResult {
    let mut t = trial(index, Route::Raw, limit, Some(latency));
    t.trial.planned.route = Route::RawKeptOpen;
    t
}

/// Eighteen trials: docker CLI and raw writes of both resources (one docker trial unpaired), the
/// Engine API, CRI, containerd, runc and the kept-open writes.
pub fn trials() -> Vec<TrialResult> {
    let mem = |n: u64| Limit::Memory { bytes: (256 << 20) + n * 4096 };
    let cpu = |n: u64| Limit::Cpu { quota_us: 50_000 + n, period_us: 100_000 };
    vec![
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
        trial(12, Route::Cri, mem(7), Some(14_800_000)),
        trial(13, Route::Cri, cpu(7), Some(15_200_000)),
        trial(14, Route::Containerd, mem(8), Some(10_200_000)),
        trial(15, Route::Containerd, cpu(8), Some(10_500_000)),
        trial(16, Route::Runc, mem(9), Some(8_100_000)),
        trial(17, Route::Runc, cpu(9), Some(8_300_000)),
    ]
}
