//! The trial schedule: which route sets which limit, in which order. Pure, so it is tested alone.

use crate::{
    resource::{CpuGrain, Limit, Resource},
    trial::{PlannedTrial, Route},
};

/// Values repeat after this many trials of a resource; within that window every trial writes
/// bytes of its own, which is what pairing relies on besides time windows. The nudges stay
/// small: at most 4 MiB of memory and 1 % of a CPU.
const UNIQUE_WINDOW: u64 = 1000;
/// The same in systemd's steps of 1 % of a CPU: nudges of at most 0.1 CPU. Two trials of a
/// resource in a row still differ, and a trial's write must fall within its own span anyway.
const UNIQUE_WINDOW_SYSTEMD_CPU: u64 = 10;

pub struct Schedule<'a> {
    pub iterations: usize,
    pub warmup: usize,
    pub routes: &'a [Route],
    pub memory: [Limit; 2],
    pub cpu: [Limit; 2],
    /// How finely the path keeps a CPU quota: the nudges of CPU trials are whole steps of it.
    pub cpu_grain: CpuGrain,
    pub seed: u64,
}

impl Schedule<'_> {
    /// `warmup` then `iterations` limit changes per route, memory and cpu alternating. Within an
    /// iteration every route runs once, in a shuffled order, so that neither a drifting machine
    /// nor one route's after-effects bias another. Every trial flips between the two values of
    /// its resource and is nudged to a value of its own, in steps the path keeps as they are:
    /// under Docker's systemd driver a CPU nudge of 1 µs would have systemd write a rounded
    /// quota first and runc the trial's later, which a user's value of whole steps never does.
    pub fn trials(&self) -> Vec<PlannedTrial> {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let mut seq = [0u64; 2];
        let mut trials = Vec::with_capacity((self.warmup + self.iterations) * self.routes.len());
        for i in 0..self.warmup + self.iterations {
            let (resource, values, window) = match (i % 2, self.cpu_grain) {
                (0, _) => (Resource::Memory, &self.memory, UNIQUE_WINDOW),
                (_, CpuGrain::Microsecond) => (Resource::Cpu, &self.cpu, UNIQUE_WINDOW),
                (_, CpuGrain::SystemdStep) => (Resource::Cpu, &self.cpu, UNIQUE_WINDOW_SYSTEMD_CPU),
            };
            let mut order = self.routes.to_vec();
            rng.shuffle(&mut order);
            for route in order {
                let n = &mut seq[resource as usize];
                let limit = values[(*n % 2) as usize].nudged(*n % window + 1, self.cpu_grain);
                trials.push(PlannedTrial { index: trials.len(), route, limit, warmup: i < self.warmup });
                *n += 1;
            }
        }
        trials
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(iterations: usize, warmup: usize, routes: &[Route]) -> Vec<PlannedTrial> {
        schedule_with(iterations, warmup, routes, CpuGrain::Microsecond)
    }

    fn schedule_with(iterations: usize, warmup: usize, routes: &[Route], cpu_grain: CpuGrain) -> Vec<PlannedTrial> {
        Schedule {
            iterations,
            warmup,
            routes,
            memory: [Limit::Memory { bytes: 256 << 20 }, Limit::Memory { bytes: 512 << 20 }],
            cpu: [Limit::cpus(500_000).unwrap(), Limit::cpus(1_000_000).unwrap()],
            cpu_grain,
            seed: 42,
        }
        .trials()
    }

    #[test]
    fn every_route_runs_once_per_iteration_and_resources_alternate() {
        let plan = schedule(4, 0, &Route::ALL);
        assert_eq!(plan.len(), 4 * Route::ALL.len());
        for (i, chunk) in plan.chunks(Route::ALL.len()).enumerate() {
            let mut routes: Vec<Route> = chunk.iter().map(|t| t.route).collect();
            routes.sort();
            assert_eq!(routes, Route::ALL);
            let expected = if i % 2 == 0 { Resource::Memory } else { Resource::Cpu };
            assert!(chunk.iter().all(|t| t.limit.resource() == expected));
        }
        assert!(plan.iter().enumerate().all(|(i, t)| t.index == i));
    }

    #[test]
    fn order_is_shuffled_but_reproducible() {
        let a = schedule(20, 0, &Route::ALL);
        assert_eq!(a, schedule(20, 0, &Route::ALL));
        let firsts: std::collections::HashSet<Route> = a.chunks(Route::ALL.len()).map(|c| c[0].route).collect();
        assert!(firsts.len() > 1, "the first route of an iteration must vary");
    }

    /// A report's seed must give its route order back: this fails if the generator's output for a
    /// seed changes (say, a fastrand upgrade), so that it is not changed by accident. The routes
    /// are the default ones, as they were before routes below dockerd existed.
    #[test]
    fn a_seed_gives_the_same_order_as_it_always_did() {
        let routes = [Route::DockerCli, Route::DockerApi, Route::Raw, Route::RawKeptOpen];
        let order: Vec<&str> = schedule(2, 0, &routes).iter().map(|t| t.route.flag()).collect();
        assert_eq!(order, ["cli", "raw", "api", "raw-open", "api", "raw-open", "cli", "raw"]);
    }

    #[test]
    fn warmup_comes_first_and_is_marked() {
        let plan = schedule(3, 2, &[Route::DockerCli, Route::Raw]);
        assert_eq!(plan.len(), 10);
        assert!(plan[..4].iter().all(|t| t.warmup));
        assert!(plan[4..].iter().all(|t| !t.warmup));
    }

    #[test]
    fn consecutive_values_of_a_resource_differ_and_are_unique() {
        let plan = schedule(400, 0, &[Route::DockerCli, Route::Raw]);
        let mems: Vec<Limit> = plan.iter().map(|t| t.limit).filter(|l| l.resource() == Resource::Memory).collect();
        assert_eq!(mems[0], Limit::Memory { bytes: (256 << 20) + 4096 });
        assert_eq!(mems[1], Limit::Memory { bytes: (512 << 20) + 2 * 4096 });
        let mut unique = mems.clone();
        unique.sort_by_key(|l| format!("{l:?}"));
        unique.dedup();
        assert_eq!(unique.len(), mems.len());
        assert!(mems.windows(2).all(|w| w[0] != w[1]));
    }

    /// Under the systemd driver every CPU value is one systemd keeps as it is, so that its write
    /// is the trial's; values still differ from one trial to the next, and memory is as before.
    #[test]
    fn under_systemd_cpu_values_are_whole_steps() {
        let routes = [Route::DockerApi, Route::Raw];
        let plan = schedule_with(40, 0, &routes, CpuGrain::SystemdStep);
        let cpus: Vec<Limit> = plan.iter().map(|t| t.limit).filter(|l| l.resource() == Resource::Cpu).collect();
        assert!(cpus.iter().all(|&l| CpuGrain::SystemdStep.kept(l) == l), "{cpus:?}");
        let quotas: Vec<u64> =
            cpus.iter().map(|l| if let Limit::Cpu { quota_us, .. } = l { *quota_us } else { 0 }).collect();
        assert_eq!(quotas[..4], [51_000, 102_000, 53_000, 104_000]);
        assert!(quotas.windows(2).all(|w| w[0] != w[1]));
        assert!(quotas.iter().all(|&q| q <= 110_000), "0.1 CPU more than asked at most: {quotas:?}");
        let memory = |plan: &[PlannedTrial]| -> Vec<Limit> {
            plan.iter().map(|t| t.limit).filter(|l| l.resource() == Resource::Memory).collect()
        };
        assert_eq!(memory(&plan), memory(&schedule(40, 0, &routes)));
    }
}
