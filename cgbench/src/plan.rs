//! The trial schedule: which route sets which limit, in which order. Pure, so it is tested alone.

use serde::Serialize;

use crate::resource::{Limit, Resource};

/// How a limit change reaches the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The `docker` CLI: CLI → dockerd → containerd → shim → runc → cgroup file.
    DockerCli,
    /// cgbench opens the cgroup file, writes and closes it.
    Raw,
}

impl Route {
    pub fn label(self) -> &'static str {
        match self {
            Route::DockerCli => "docker update",
            Route::Raw => "raw write",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedTrial {
    pub index: usize,
    pub route: Route,
    pub limit: Limit,
}

/// Values repeat after this many trials of a resource; within that window every trial writes
/// bytes of its own, which is what pairing relies on besides time windows.
const UNIQUE_WINDOW: u64 = 1000;

/// `iterations` changes per route, memory and cpu alternating. Each iteration runs the docker
/// trial and the raw trial back to back so that a drifting machine affects both alike. Every
/// trial flips between the two values of its resource and is nudged to a value of its own.
pub fn schedule(iterations: usize, memory: [Limit; 2], cpu: [Limit; 2]) -> Vec<PlannedTrial> {
    let mut seq = [0u64; 2];
    let mut trials = Vec::with_capacity(iterations * 2);
    for i in 0..iterations {
        let (resource, values) = if i % 2 == 0 { (Resource::Memory, &memory) } else { (Resource::Cpu, &cpu) };
        let n = &mut seq[resource as usize];
        for route in [Route::DockerCli, Route::Raw] {
            let limit = values[(*n % 2) as usize].nudged(*n % UNIQUE_WINDOW + 1);
            trials.push(PlannedTrial { index: trials.len(), route, limit });
            *n += 1;
        }
    }
    trials
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> ([Limit; 2], [Limit; 2]) {
        (
            [Limit::Memory { bytes: 256 << 20 }, Limit::Memory { bytes: 512 << 20 }],
            [Limit::cpus(500_000).unwrap(), Limit::cpus(1_000_000).unwrap()],
        )
    }

    #[test]
    fn alternates_resources_and_runs_both_routes_per_iteration() {
        let (m, c) = values();
        let plan = schedule(4, m, c);
        assert_eq!(plan.len(), 8);
        let shape: Vec<(Route, Resource)> = plan.iter().map(|t| (t.route, t.limit.resource())).collect();
        assert_eq!(
            shape[..4],
            [
                (Route::DockerCli, Resource::Memory),
                (Route::Raw, Resource::Memory),
                (Route::DockerCli, Resource::Cpu),
                (Route::Raw, Resource::Cpu),
            ]
        );
        assert!(plan.iter().enumerate().all(|(i, t)| t.index == i));
    }

    #[test]
    fn consecutive_values_of_a_resource_differ_and_are_unique() {
        let (m, c) = values();
        let plan = schedule(400, m, c);
        let mems: Vec<Limit> = plan.iter().map(|t| t.limit).filter(|l| l.resource() == Resource::Memory).collect();
        assert_eq!(mems[0], Limit::Memory { bytes: (256 << 20) + 4096 });
        assert_eq!(mems[1], Limit::Memory { bytes: (512 << 20) + 2 * 4096 });
        let mut unique = mems.clone();
        unique.sort_by_key(|l| format!("{l:?}"));
        unique.dedup();
        assert_eq!(unique.len(), mems.len());
        assert!(mems.windows(2).all(|w| w[0] != w[1]));
    }
}
