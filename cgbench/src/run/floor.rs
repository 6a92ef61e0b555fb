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

/// Iterations per block (the schedule's running order, plan.rs). Detaching the syscall
/// tracepoints waits out RCU grace periods (~0.7 s here, all at once), once per two blocks:
/// blocks of 200 iterations keep that to a few percent of a run of docker routes, while a
/// drifting machine still moves both kinds of blocks in runs of a thousand iterations. Each raw
/// trial has its floor beside it whatever the block.
pub const BLOCK_ITERATIONS: usize = 200;

/// Whether a route's trials need the syscall tracepoints attached.
pub fn needs_syscall_tracepoints(route: Route) -> bool {
    route.runc_writes()
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

    #[test]
    fn the_floor_goes_first_about_half_the_time_and_reproducibly() {
        let firsts = (0..1000).filter(|&i| floor_first(i)).count();
        assert!((400..600).contains(&firsts), "{firsts}");
        assert_eq!(floor_first(7), floor_first(7));
    }
}
