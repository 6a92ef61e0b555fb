//! `LinuxResources` in cgroup v2 files, as runc's `libcontainer/cgroups/fs2` writes them: one
//! directory, swap counted apart from memory, CPU weight instead of shares, `unified` last.

use anyhow::{bail, ensure};
use oci_spec::runtime::{LinuxMemory, LinuxResources};

use super::{
    Controller::{self, *},
    Current, KnobWrite, cpuset, pids, refuse_unmapped, throttles, unified,
};

/// runc's order of v2 controllers.
pub const ORDER: [Controller; 9] = [Pids, Memory, Io, Cpu, Cpuacct, Cpuset, Hugetlb, NetCls, NetPrio];

/// The name a controller is enabled by in `cgroup.controllers`; v2 has no network controllers.
pub fn controller(c: Controller) -> Option<&'static str> {
    Some(match c {
        Cpuset => "cpuset",
        Memory => "memory",
        Cpu | Cpuacct => "cpu",
        Pids => "pids",
        Io => "io",
        Hugetlb => "hugetlb",
        NetCls | NetPrio => return None,
    })
}

/// The writes that set a controller's part of `r`, then its `unified` files (runc writes those
/// after everything else, so they win).
pub fn writes(c: Controller, r: &LinuxResources, current: Current) -> anyhow::Result<Vec<KnobWrite>> {
    refuse_unmapped(r)?;
    let mut writes = match c {
        Pids => pids(r),
        Memory => r.memory().as_ref().map(memory).transpose()?.unwrap_or_default(),
        Io => io(r, current),
        Cpu => cpu(r, current)?,
        Cpuset => cpuset(r),
        Hugetlb => r
            .hugepage_limits()
            .iter()
            .flatten()
            .map(|h| KnobWrite::plain(Hugetlb, format!("hugetlb.{}.max", h.page_size()), unlimited_as_max(h.limit())))
            .collect(),
        NetCls | NetPrio => bail!("cgroup v2 has no {c} controller (it exists only in cgroup v1)"),
        Cpuacct => Vec::new(),
    };
    for (file, value) in unified(r).into_iter().filter(|(file, _)| Controller::of_v2_file(file) == Some(c)) {
        writes.push(KnobWrite::plain(c, file, value));
    }
    Ok(writes)
}

fn unlimited_as_max(v: i64) -> String {
    if v < 0 { "max".to_owned() } else { v.to_string() }
}

/// The spec counts swap as v1 does, with memory (memory+swap); v2's `memory.swap.max` is the swap
/// alone: runc's conversion. The two files do not constrain each other.
fn memory(m: &LinuxMemory) -> anyhow::Result<Vec<KnobWrite>> {
    ensure!(m.swappiness().is_none(), "--memory-swappiness: cgroup v2 has no swappiness per cgroup");
    ensure!(
        m.disable_oom_killer().is_none(),
        "--oom-kill-disable: cgroup v2 cannot turn the OOM killer off for a cgroup"
    );
    let swap = match (m.swap(), m.limit()) {
        (None, Some(-1)) | (Some(-1), _) => Some("max".to_owned()),
        (None, _) => None,
        (Some(swap), Some(limit)) if limit > 0 => {
            ensure!(swap >= limit, "--memory-swap must be at least --memory (it counts memory plus swap)");
            Some((swap - limit).to_string())
        }
        (Some(_), _) => bail!("--memory-swap needs --memory on cgroup v2, which keeps swap apart: give both"),
    };
    let mut writes: Vec<KnobWrite> = swap.map(|v| KnobWrite::plain(Memory, "memory.swap.max", v)).into_iter().collect();
    writes.extend(m.limit().map(|v| KnobWrite::plain(Memory, "memory.max", unlimited_as_max(v))));
    writes.extend(m.reservation().map(|v| KnobWrite::plain(Memory, "memory.low", unlimited_as_max(v))));
    Ok(writes)
}

/// Shares become a weight by runc's linear conversion ([2, 262144] → [1, 10000]); quota and
/// period share `cpu.max`, so the one not given is kept from what it holds now.
fn cpu(r: &LinuxResources, current: Current) -> anyhow::Result<Vec<KnobWrite>> {
    let Some(c) = r.cpu() else { return Ok(Vec::new()) };
    ensure!(
        c.realtime_runtime().is_none() && c.realtime_period().is_none(),
        "--cpu-rt-runtime: cgroup v2 has no real-time group scheduling (cpu.rt_runtime_us is v1 only); real-time tasks need no budget there"
    );
    let mut writes: Vec<KnobWrite> = c
        .shares()
        .map(|s| KnobWrite::plain(Cpu, "cpu.weight", 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142))
        .into_iter()
        .collect();
    if c.quota().is_some() || c.period().is_some() {
        let now = current("cpu.max").unwrap_or_else(|| "max 100000".to_owned());
        let (quota_now, period_now) = now.split_once(' ').unwrap_or(("max", "100000"));
        let quota = c.quota().map_or_else(|| quota_now.to_owned(), unlimited_as_max);
        let period = c.period().map_or_else(|| period_now.to_owned(), |p| p.to_string());
        writes.push(KnobWrite::plain(Cpu, "cpu.max", format!("{quota} {period}")));
    }
    Ok(writes)
}

/// With BFQ the weight is `io.bfq.weight` in blkio's range, otherwise `io.weight` converted
/// (runc's `[10, 1000] → [1, 10000]`). Throttles share `io.max`, one `key=value` per write; v2
/// spells no throttle `max` where v1 says 0.
fn io(r: &LinuxResources, current: Current) -> Vec<KnobWrite> {
    let Some(b) = r.block_io() else { return Vec::new() };
    let mut writes = Vec::new();
    if let Some(weight) = b.weight() {
        writes.push(if current("io.bfq.weight").is_some() {
            KnobWrite::plain(Io, "io.bfq.weight", weight)
        } else {
            KnobWrite::plain(Io, "io.weight", 1 + (u32::from(weight.clamp(10, 1000)) - 10) * 9999 / 990)
        });
    }
    for (kind, d) in throttles(b) {
        let rate = if d.rate() == 0 { "max".to_owned() } else { d.rate().to_string() };
        let setting = format!("{}={rate}", ["rbps", "wbps", "riops", "wiops"][kind]);
        writes.push(KnobWrite::keyed(Io, "io.max", format!("{}:{}", d.major(), d.minor()), "max", setting));
    }
    writes
}
