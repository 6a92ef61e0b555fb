//! The syscall tracepoints, attached only while a trial needs them. While any of them is attached
//! every syscall of every process on the host takes the kernel's slow path, so the host pays for
//! them whoever is traced. Detaching one waits out an RCU grace period (~1.3 s for all of them
//! one after the other here), so a run toggles them per block of trials, not per trial, and
//! detaches them all at once. This module keeps the links, toggles them, and counts what the
//! host paid: how long they were attached, and what each attach and detach cost.

use std::os::fd::{AsFd as _, OwnedFd};

use anyhow::{Context as _, anyhow};
use aya::{Ebpf, programs::TracePoint};
use serde::Serialize;

use super::tracepoints;
use crate::host::system::monotonic_ns;

/// The tracepoint category whose programs run on every syscall of the host.
pub const CATEGORY: &str = "syscalls";

/// A syscall tracepoint to attach on demand: the program and where it hooks, by id.
#[derive(Clone, Copy)]
pub struct Hook {
    pub program: &'static str,
    pub tracepoint: &'static str,
    pub id: u64,
}

/// A hook, and its attachment while it has one.
struct Link {
    hook: Hook,
    attachment: Option<OwnedFd>,
}

/// What the syscall tracepoints cost the host over a run (CLOCK_MONOTONIC ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyscallTax {
    /// How long at least one syscall tracepoint was attached.
    pub attached_ns: u64,
    pub attaches: u32,
    pub attach_ns: u64,
    pub detaches: u32,
    pub detach_ns: u64,
}

/// The syscall tracepoints of a loaded object, and the time they have been attached.
pub struct SyscallTracepoints {
    links: Vec<Link>,
    attached_since: Option<u64>,
    tax: SyscallTax,
}

impl SyscallTracepoints {
    /// Syscall tracepoints whose programs are loaded, none attached yet.
    pub fn detached(hooks: Vec<Hook>) -> SyscallTracepoints {
        let links = hooks.into_iter().map(|hook| Link { hook, attachment: None }).collect();
        SyscallTracepoints { links, attached_since: None, tax: SyscallTax::default() }
    }

    pub fn is_attached(&self) -> bool {
        self.attached_since.is_some()
    }

    /// Detaches every syscall tracepoint: the host's syscalls take the fast path again.
    pub fn detach(&mut self) {
        let Some(since) = self.attached_since.take() else { return };
        let start = monotonic_ns();
        let taken: Vec<OwnedFd> = self.links.iter_mut().filter_map(|link| link.attachment.take()).collect();
        // Closing an attachment detaches it and waits out a grace period: one thread each, so
        // that the grace periods overlap instead of adding up.
        std::thread::scope(|scope| {
            for attachment in taken {
                scope.spawn(move || drop(attachment));
            }
        });
        let end = monotonic_ns();
        self.tax.attached_ns += end - since;
        self.tax.detaches += 1;
        self.tax.detach_ns += end - start;
        tracing::debug!(took_ns = end - start, "syscall tracepoints detached");
    }

    /// Attaches them again, on programs that stayed loaded.
    pub fn attach(&mut self, ebpf: &Ebpf) -> anyhow::Result<()> {
        if self.is_attached() {
            return Ok(());
        }
        let start = monotonic_ns();
        // Marked attached first: a failure half-way leaves the links attached so far to detach.
        self.attached_since = Some(start);
        for link in &mut self.links {
            let Hook { program, tracepoint, id } = link.hook;
            let tp: &TracePoint =
                ebpf.program(program).with_context(|| format!("program {program} missing"))?.try_into()?;
            let attachment = tracepoints::attach(tp.fd()?.as_fd(), id)
                .map_err(|e| anyhow!("attaching {program} to {CATEGORY}:{tracepoint}: {e}"))?;
            link.attachment = Some(attachment);
        }
        let end = monotonic_ns();
        self.tax.attaches += 1;
        self.tax.attach_ns += end - start;
        tracing::debug!(took_ns = end - start, "syscall tracepoints attached");
        Ok(())
    }

    /// What the host has paid so far, counting the current attachment up to now.
    pub fn tax(&self) -> SyscallTax {
        let now = self.attached_since.map_or(0, |since| monotonic_ns() - since);
        SyscallTax { attached_ns: self.tax.attached_ns + now, ..self.tax }
    }
}

/// Probes dropped with the syscall tracepoints attached detach them all at once too.
impl Drop for SyscallTracepoints {
    fn drop(&mut self) {
        self.detach();
    }
}
