//! Part 6, the syscall tax: while any syscall tracepoint is attached, every syscall of every
//! process on the host takes the kernel's slow path, whoever the probes watch. Timed here on a
//! process they do not watch (this one, watching nothing) making the cheapest syscall there is,
//! in blocks with the tracepoints attached and detached in turn; each toggle is timed too.

use anyhow::Context as _;
use serde::Serialize;

use crate::{
    analysis::stats::median,
    host::system::monotonic_ns,
    kernel::{AttachMethod, Probes, Watch},
};

/// Blocks per side: each detach waits for RCU grace periods (about a second in all here).
const BLOCKS: usize = 5;
const SYSCALLS_PER_BLOCK: usize = 200_000;

#[derive(Debug, Serialize)]
pub struct SyscallTax {
    pub syscalls_per_side: usize,
    /// `getppid`, median over blocks of each block's mean.
    pub detached_ns_per_syscall: f64,
    pub attached_ns_per_syscall: f64,
    /// What every syscall on the host pays while the syscall tracepoints are attached.
    pub tax_ns_per_syscall: f64,
    pub attach_median_ns: f64,
    pub detach_median_ns: f64,
}

pub fn measure(method: AttachMethod) -> anyhow::Result<SyscallTax> {
    let mut probes = Probes::watching(method, &Watch::default())?;
    let (mut detached, mut attached, mut attach, mut detach) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..BLOCKS {
        attached.push(ns_per_syscall());
        detach.push(toggle(&mut probes, false)?);
        detached.push(ns_per_syscall());
        attach.push(toggle(&mut probes, true)?);
    }
    let detached_ns = median(&detached).context("no block")?;
    let attached_ns = median(&attached).context("no block")?;
    Ok(SyscallTax {
        syscalls_per_side: BLOCKS * SYSCALLS_PER_BLOCK,
        detached_ns_per_syscall: detached_ns,
        attached_ns_per_syscall: attached_ns,
        tax_ns_per_syscall: attached_ns - detached_ns,
        attach_median_ns: median(&attach).context("no attach")?,
        detach_median_ns: median(&detach).context("no detach")?,
    })
}

fn toggle(probes: &mut Probes, attached: bool) -> anyhow::Result<f64> {
    let start = monotonic_ns();
    probes.syscall_tracepoints(attached)?;
    Ok((monotonic_ns() - start) as f64)
}

/// The mean cost of one `getppid` over a block: a syscall with no work of its own.
fn ns_per_syscall() -> f64 {
    let start = monotonic_ns();
    for _ in 0..SYSCALLS_PER_BLOCK {
        // SAFETY: getppid has no preconditions and cannot fail.
        std::hint::black_box(unsafe { libc::getppid() });
    }
    (monotonic_ns() - start) as f64 / SYSCALLS_PER_BLOCK as f64
}
