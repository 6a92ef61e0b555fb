//! The syscall tracepoints, attached only while a trial needs them. While any of them is attached
//! every syscall of every process on the host takes the kernel's slow path, so the host pays for
//! them whoever is traced. Detaching one waits out an RCU grace period (~1.3 s for all of them
//! one after the other here), so a run toggles them per block of trials, not per trial, and
//! detaches them all at once. This module keeps the links, toggles them, and counts what the
//! host paid: how long they were attached, and what each attach and detach cost.

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf,
    programs::{TracePoint, trace_point::TracePointLinkId},
};
use serde::Serialize;

use crate::host::system::monotonic_ns;

/// The tracepoint category whose programs run on every syscall of the host.
pub const CATEGORY: &str = "syscalls";

/// One attached syscall tracepoint: the program and where it hooks.
struct Link {
    program: &'static str,
    tracepoint: &'static str,
    id: Option<TracePointLinkId>,
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
    pub fn detached(hooks: Vec<(&'static str, &'static str)>) -> SyscallTracepoints {
        let links = hooks.into_iter().map(|(program, tracepoint)| Link { program, tracepoint, id: None }).collect();
        SyscallTracepoints { links, attached_since: None, tax: SyscallTax::default() }
    }

    pub fn is_attached(&self) -> bool {
        self.attached_since.is_some()
    }

    /// Detaches every syscall tracepoint: the host's syscalls take the fast path again.
    pub fn detach(&mut self, ebpf: &mut Ebpf) -> anyhow::Result<()> {
        let Some(since) = self.attached_since.take() else { return Ok(()) };
        let start = monotonic_ns();
        let mut taken = Vec::with_capacity(self.links.len());
        for link in &mut self.links {
            let Some(id) = link.id.take() else { continue };
            let owned = program(ebpf, link.program)?
                .take_link(id)
                .map_err(|e| anyhow!("detaching {} from {CATEGORY}:{}: {e}", link.program, link.tracepoint))?;
            taken.push(owned);
        }
        // Dropping a link detaches it and waits out a grace period: one thread each, so that
        // the grace periods overlap instead of adding up.
        std::thread::scope(|scope| {
            for owned in taken {
                scope.spawn(move || drop(owned));
            }
        });
        let end = monotonic_ns();
        self.tax.attached_ns += end - since;
        self.tax.detaches += 1;
        self.tax.detach_ns += end - start;
        tracing::debug!(took_ns = end - start, "syscall tracepoints detached");
        Ok(())
    }

    /// Attaches them again, on programs that stayed loaded.
    pub fn attach(&mut self, ebpf: &mut Ebpf) -> anyhow::Result<()> {
        if self.is_attached() {
            return Ok(());
        }
        let start = monotonic_ns();
        // Marked attached first: a failure half-way leaves the links attached so far to detach.
        self.attached_since = Some(start);
        for link in &mut self.links {
            let id = program(ebpf, link.program)?
                .attach(CATEGORY, link.tracepoint)
                .map_err(|e| anyhow!("attaching {} to {CATEGORY}:{}: {e}", link.program, link.tracepoint))?;
            link.id = Some(id);
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

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut TracePoint> {
    Ok(ebpf.program_mut(name).with_context(|| format!("program {name} missing"))?.try_into()?)
}
