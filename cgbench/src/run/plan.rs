//! The trial schedule: which route sets which limit, in which order. Pure, so it is tested alone.

use super::floor::{BLOCK_ITERATIONS, needs_syscall_tracepoints};
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
    /// The trials in the order they run: `warmup` then `iterations` limit changes per route,
    /// memory and cpu alternating. Within an iteration every route runs once, in a shuffled
    /// order, so that neither a drifting machine nor one route's after-effects bias another; the
    /// iterations then run in blocks (`blocks`). Values are given in that running order: every
    /// trial flips its resource between the two values from the one that ran before it (under
    /// `--load`, the direction of each change is what the workload feels), and is nudged to a
    /// value of its own, in steps the path keeps as they are: under Docker's systemd driver a CPU
    /// nudge of 1 µs would have systemd write a rounded quota first and runc the trial's later,
    /// which a user's value of whole steps never does.
    pub fn trials(&self) -> Vec<PlannedTrial> {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let mut iterations = Vec::with_capacity(self.warmup + self.iterations);
        for i in 0..self.warmup + self.iterations {
            let resource = if i % 2 == 0 { Resource::Memory } else { Resource::Cpu };
            let mut order = self.routes.to_vec();
            rng.shuffle(&mut order);
            iterations.push(order.into_iter().map(|route| Slot { route, resource, warmup: i < self.warmup }).collect());
        }
        let mut seq = [0u64; 2];
        blocks(iterations)
            .into_iter()
            .enumerate()
            .map(|(index, Slot { route, resource, warmup })| {
                let (values, window) = match (resource, self.cpu_grain) {
                    (Resource::Memory, _) => (&self.memory, UNIQUE_WINDOW),
                    (Resource::Cpu, CpuGrain::Microsecond) => (&self.cpu, UNIQUE_WINDOW),
                    (Resource::Cpu, CpuGrain::SystemdStep) => (&self.cpu, UNIQUE_WINDOW_SYSTEMD_CPU),
                };
                let n = &mut seq[resource as usize];
                let limit = values[(*n % 2) as usize].nudged(*n % window + 1, self.cpu_grain);
                *n += 1;
                PlannedTrial { index, route, limit, warmup }
            })
            .collect()
    }
}

/// A trial before its value is given: its route, its resource, and whether it warms up.
struct Slot {
    route: Route,
    resource: Resource,
    warmup: bool,
}

/// The iterations in blocks of `BLOCK_ITERATIONS` — the last takes what is left over, such as the
/// warm-up's, rather than cost a block pair of its own — each split into its daemon trials and
/// its raw trials (floor.rs: the syscall tracepoints are attached for the first kind only), in
/// their shuffled order. The kinds take turns to come first, so that two blocks of the same kind
/// meet and the tracepoints are toggled once per block, not twice.
fn blocks(iterations: Vec<Vec<Slot>>) -> Vec<Slot> {
    let chunks = (iterations.len() / BLOCK_ITERATIONS).max(1);
    let mut out = Vec::new();
    let mut iterations = iterations.into_iter();
    for n in 0..chunks {
        let take = if n + 1 == chunks { usize::MAX } else { BLOCK_ITERATIONS };
        let (daemon, raw): (Vec<Slot>, Vec<Slot>) =
            iterations.by_ref().take(take).flatten().partition(|s| needs_syscall_tracepoints(s.route));
        let [first, second] = if n % 2 == 0 { [daemon, raw] } else { [raw, daemon] };
        out.extend(first);
        out.extend(second);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(iterations: usize, warmup: usize, routes: &[Route]) -> Vec<PlannedTrial> {
        schedule_with(iterations, warmup, routes, CpuGrain::Microsecond)
    }

    fn schedule_with(iterations: usize, warmup: usize, routes: &[Route], cpu_grain: CpuGrain) -> Vec<PlannedTrial> {
        Schedule { iterations, warmup, cpu_grain, ..base(routes) }.trials()
    }

    fn base(routes: &[Route]) -> Schedule<'_> {
        Schedule {
            iterations: 6,
            warmup: 1,
            routes,
            memory: [Limit::Memory { bytes: 256 << 20 }, Limit::Memory { bytes: 512 << 20 }],
            cpu: [Limit::cpus(500_000).unwrap(), Limit::cpus(1_000_000).unwrap()],
            cpu_grain: CpuGrain::Microsecond,
            seed: 42,
        }
    }

    /// Daemon and raw routes alike: one block of each kind, as in any run shorter than a block.
    #[test]
    fn every_route_runs_once_per_iteration_and_resources_alternate() {
        let plan = schedule(4, 0, &Route::ALL);
        assert_eq!(plan.len(), 4 * Route::ALL.len());
        assert!(plan.iter().enumerate().all(|(i, t)| t.index == i));
        for kind in [true, false] {
            let block: Vec<&PlannedTrial> =
                plan.iter().filter(|t| needs_syscall_tracepoints(t.route) == kind).collect();
            let routes = block.len() / 4;
            for (i, iteration) in block.chunks(routes).enumerate() {
                let mut seen: Vec<Route> = iteration.iter().map(|t| t.route).collect();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), routes, "every route once per iteration");
                let expected = if i % 2 == 0 { Resource::Memory } else { Resource::Cpu };
                assert!(iteration.iter().all(|t| t.limit.resource() == expected));
            }
        }
    }

    #[test]
    fn blocks_alternate_kinds_and_keep_each_kinds_order() {
        let routes = [Route::DockerCli, Route::Raw, Route::DockerApi, Route::RawKeptOpen];
        let plan = schedule(3 * BLOCK_ITERATIONS + 2, 0, &routes);
        let kinds: Vec<(bool, usize)> = plan
            .chunk_by(|a, b| needs_syscall_tracepoints(a.route) == needs_syscall_tracepoints(b.route))
            .map(|block| (needs_syscall_tracepoints(block[0].route), block.len()))
            .collect();
        let block = 2 * BLOCK_ITERATIONS;
        // Two blocks of the same kind meet: the tracepoints toggle once per block.
        assert_eq!(kinds, [(true, block), (false, 2 * block), (true, 2 * block + 4), (false, block + 2 * 2)]);
        assert_eq!(plan.len(), (3 * BLOCK_ITERATIONS + 2) * routes.len());
    }

    /// The direction of every change is what a workload feels under `--load`: each trial flips
    /// its resource from the value of the one before it, in the order they run.
    #[test]
    fn in_running_order_each_trial_flips_its_resource() {
        let routes = [Route::DockerApi, Route::Raw];
        for seed in 0..50 {
            let plan = Schedule { seed, ..base(&routes) }.trials();
            for resource in [Resource::Memory, Resource::Cpu] {
                let halves: Vec<bool> = plan
                    .iter()
                    .filter(|t| t.limit.resource() == resource)
                    .map(|t| match t.limit {
                        Limit::Memory { bytes } => bytes > 384 << 20,
                        Limit::Cpu { quota_us, .. } => quota_us > 75_000,
                    })
                    .collect();
                assert!(halves.windows(2).all(|w| w[0] != w[1]), "seed {seed}: {halves:?}");
            }
        }
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
    /// are the default ones, as they were before routes below dockerd existed; the shuffles are
    /// the same as then (cli, raw, api, raw-open, then api, raw-open, cli, raw), the blocks since
    /// run the daemon routes' trials first.
    #[test]
    fn a_seed_gives_the_same_order_as_it_always_did() {
        let routes = [Route::DockerCli, Route::DockerApi, Route::Raw, Route::RawKeptOpen];
        let order: Vec<&str> = schedule(2, 0, &routes).iter().map(|t| t.route.flag()).collect();
        assert_eq!(order, ["cli", "api", "api", "cli", "raw", "raw-open", "raw-open", "raw"]);
    }

    #[test]
    fn warmup_comes_first_in_each_block_and_is_marked() {
        let plan = schedule(3, 2, &[Route::DockerCli, Route::Raw]);
        let warmups: Vec<bool> = plan.iter().map(|t| t.warmup).collect();
        let block = [true, true, false, false, false];
        assert_eq!(warmups, [block, block].concat());
        assert!(plan[..5].iter().all(|t| t.route == Route::DockerCli));
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
