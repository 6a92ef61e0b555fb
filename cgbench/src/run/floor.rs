//! The raw routes at the floor. Routes through the daemons need the syscall tracepoints (dockerd's
//! read of the request; the cgroup writes where only tracepoints serve), which tax every syscall
//! on the host, a captured write most. The raw routes need no probe: cgbench times its own write
//! syscalls by its own clock, their return is the kernel's word that the limit is set, and the
//! file read back proves it landed. So the schedule runs in blocks that alternate, the daemon
//! routes' with the syscall tracepoints attached and the raw routes' with them detached; and
//! beside each raw trial the same writes on the same files, outside any trial (the floor), say
//! what the write costs with nothing of cgbench around it.

use super::routes::{raw, raw_kept_open};
pub use crate::analysis::floor::FloorSample;
use crate::{
    host::cgroup::{CgroupFiles, io::KeptOpen},
    resource::{CpuGrain, Limit},
    trial::{PlannedTrial, Route},
};

/// Iterations per block. Detaching the syscall tracepoints waits out RCU grace periods (~0.7 s
/// here, all at once), once per two blocks: blocks of 200 iterations keep that to a few percent
/// of a run of docker routes, while a drifting machine still moves both kinds of blocks in runs
/// of a thousand iterations. Each raw trial has its floor beside it whatever the block.
pub const BLOCK_ITERATIONS: usize = 200;

/// Trials that run with the syscall tracepoints in one state.
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    pub syscall_tracepoints: bool,
    pub trials: Vec<PlannedTrial>,
}

/// Whether a route's trials need the syscall tracepoints attached.
pub fn needs_syscall_tracepoints(route: Route) -> bool {
    route.runc_writes()
}

/// The schedule (iterations of `routes_per_iteration` trials, each in its shuffled order) in
/// blocks of `BLOCK_ITERATIONS` iterations — the last one takes what is left over, such as the
/// warm-up's, rather than cost a block pair of its own — each split into its daemon trials and
/// its raw trials, in their scheduled order. The kinds take turns to come first, so that two
/// blocks of the same kind meet and the tracepoints are toggled once per block, not twice.
pub fn blocks(schedule: Vec<PlannedTrial>, routes_per_iteration: usize) -> Vec<Block> {
    let per_block = BLOCK_ITERATIONS * routes_per_iteration.max(1);
    let chunks = (schedule.len() / per_block).max(1);
    let mut out = Vec::new();
    let mut schedule = schedule.into_iter();
    for n in 0..chunks {
        let take = if n + 1 == chunks { usize::MAX } else { per_block };
        let (daemon, raw): (Vec<_>, Vec<_>) =
            schedule.by_ref().take(take).partition(|t| needs_syscall_tracepoints(t.route));
        let mut pair =
            [Block { syscall_tracepoints: true, trials: daemon }, Block { syscall_tracepoints: false, trials: raw }];
        if n % 2 == 1 {
            pair.reverse();
        }
        out.extend(pair.into_iter().filter(|b| !b.trials.is_empty()));
    }
    out
}

/// The floor's own handles on the container's files: an open fd per file for the kept-open shape,
/// as the route has its own.
pub struct Floor {
    files: CgroupFiles,
    open: KeptOpen,
}

impl Floor {
    /// `samples`: a limit of each resource, whose files are kept open.
    pub fn new(files: &CgroupFiles, samples: &[Limit]) -> anyhow::Result<Floor> {
        Ok(Floor { files: files.clone(), open: KeptOpen::open(files.limit_files(samples))? })
    }

    /// Writes what `planned` writes, one grain of its resource above it so that the write is a
    /// change and not the value the file holds, in its route's shape, timed as the route times
    /// itself.
    pub fn sample(&self, planned: &PlannedTrial) -> anyhow::Result<FloorSample> {
        let limit = planned.limit.nudged(1, CpuGrain::Microsecond);
        let span = match planned.route {
            Route::RawKeptOpen => raw_kept_open::write_all(&self.files, &self.open, &limit)?,
            _ => raw::write_all(&self.files, &limit)?,
        };
        Ok(FloorSample {
            route: planned.route,
            resource: limit.resource(),
            ns: span.end_ns - span.start_ns,
            warmup: planned.warmup,
        })
    }
}

/// Whether the floor of trial `index` runs before it (else after): a seeded coin, so that
/// neither side always finds the caches the other warmed.
pub fn floor_first(index: usize) -> bool {
    fastrand::Rng::with_seed(index as u64).bool()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(routes: &[Route], iterations: usize) -> Vec<PlannedTrial> {
        let mut out = Vec::new();
        for i in 0..iterations {
            for &route in routes {
                out.push(PlannedTrial {
                    index: out.len(),
                    route,
                    limit: Limit::Memory { bytes: 1 << 30 },
                    warmup: i == 0,
                });
            }
        }
        out
    }

    #[test]
    fn blocks_alternate_kinds_and_keep_every_trial_in_order() {
        let routes = [Route::DockerCli, Route::Raw, Route::DockerApi, Route::RawKeptOpen];
        let plan = schedule(&routes, 3 * BLOCK_ITERATIONS + 2);
        let blocks = blocks(plan.clone(), routes.len());
        let kinds: Vec<bool> = blocks.iter().map(|b| b.syscall_tracepoints).collect();
        assert_eq!(kinds, [true, false, false, true, true, false], "the 2 iterations left over join the last block");
        assert_eq!(blocks[5].trials.len(), 2 * (BLOCK_ITERATIONS + 2));
        assert!(
            blocks.iter().all(|b| b.trials.iter().all(|t| needs_syscall_tracepoints(t.route) == b.syscall_tracepoints))
        );
        let mut all: Vec<usize> = blocks.iter().flat_map(|b| b.trials.iter().map(|t| t.index)).collect();
        assert!(blocks.iter().all(|b| b.trials.windows(2).all(|w| w[0].index < w[1].index)));
        assert_eq!(blocks[0].trials.len(), 2 * BLOCK_ITERATIONS);
        all.sort();
        assert_eq!(all, (0..plan.len()).collect::<Vec<_>>());
    }

    #[test]
    fn one_kind_of_route_is_one_block() {
        let blocks = blocks(schedule(&[Route::Raw, Route::RawKeptOpen], 3 * BLOCK_ITERATIONS), 2);
        assert!(blocks.iter().all(|b| !b.syscall_tracepoints));
        let blocks = super::blocks(schedule(&[Route::Runc], 10), 1);
        assert_eq!(blocks, [Block { syscall_tracepoints: true, trials: schedule(&[Route::Runc], 10) }]);
    }

    #[test]
    fn the_floor_goes_first_about_half_the_time_and_reproducibly() {
        let firsts = (0..1000).filter(|&i| floor_first(i)).count();
        assert!((400..600).contains(&firsts), "{firsts}");
        assert_eq!(floor_first(7), floor_first(7));
    }
}
