//! `LinuxResources` in cgroup v1 files, as runc's `libcontainer/cgroups/fs` writes them: one
//! hierarchy per controller, memory+swap counted together, real-time group scheduling.

use anyhow::bail;
use oci_spec::runtime::LinuxResources;

use super::{
    Controller::{self, *},
    Current, KnobWrite, at_most, budget_and_period, cpuset, limit_of, pids, refuse_unmapped, throttles, unified,
};

/// runc's order of v1 subsystems.
pub const ORDER: [Controller; 9] = [Cpuset, Memory, Cpu, Cpuacct, Pids, Io, Hugetlb, NetCls, NetPrio];

/// The name of the v1 hierarchy that holds a controller.
pub fn controller(c: Controller) -> Option<&'static str> {
    Some(match c {
        Cpuset => "cpuset",
        Memory => "memory",
        Cpu => "cpu",
        Cpuacct => "cpuacct",
        Pids => "pids",
        Io => "blkio",
        Hugetlb => "hugetlb",
        NetCls => "net_cls",
        NetPrio => "net_prio",
    })
}

/// The writes that set a controller's part of `r`, in runc's order within it.
pub fn writes(c: Controller, r: &LinuxResources, current: Current) -> anyhow::Result<Vec<KnobWrite>> {
    refuse_unmapped(r)?;
    if let Some((file, _)) = unified(r).into_iter().find(|(file, _)| Controller::of_v2_file(file) == Some(c)) {
        bail!(
            "--unified {file}: the {c} controller is on cgroup v1 on this host, which has no such file; use its own flag"
        );
    }
    Ok(match c {
        Cpuset => cpuset(r),
        Memory => memory(r, current),
        Cpu => cpu(r, current),
        Pids => pids(r),
        Io => blkio(r, current),
        Hugetlb => r
            .hugepage_limits()
            .iter()
            .flatten()
            .map(|h| KnobWrite::plain(Hugetlb, format!("hugetlb.{}.limit_in_bytes", h.page_size()), h.limit()))
            .collect(),
        NetCls => r
            .network()
            .iter()
            .filter_map(|n| n.class_id())
            .map(|id| KnobWrite::plain(NetCls, "net_cls.classid", id))
            .collect(),
        NetPrio => r
            .network()
            .iter()
            .flat_map(|n| n.priorities().iter().flatten())
            .map(|p| KnobWrite::keyed(NetPrio, "net_prio.ifpriomap", p.name().clone(), "0", p.priority().to_string()))
            .collect(),
        Cpuacct => Vec::new(),
    })
}

/// The kernel keeps memory at or below memory+swap at every step: memory goes first when it fits
/// under the memory+swap limit set now, swap first otherwise (then the old memory limit fits
/// under the new memory+swap one, since both ends are valid).
fn memory(r: &LinuxResources, current: Current) -> Vec<KnobWrite> {
    let Some(m) = r.memory() else { return Vec::new() };
    let limit = m.limit().map(|v| KnobWrite::plain(Memory, "memory.limit_in_bytes", v));
    // runc: lifting the memory limit with nothing said of swap lifts memory+swap too, where
    // the kernel accounts swap.
    let lifts_swap = m.limit() == Some(-1) && m.swap().is_none() && current("memory.memsw.limit_in_bytes").is_some();
    let swap =
        m.swap().or(lifts_swap.then_some(-1)).map(|v| KnobWrite::plain(Memory, "memory.memsw.limit_in_bytes", v));
    let mut writes = match (limit, swap) {
        (Some(limit), Some(swap)) => {
            let swap_now = current(&swap.file).map(|v| limit_of(&v));
            if swap_now.is_none_or(|now| at_most(limit_of(&limit.value), now)) {
                vec![limit, swap]
            } else {
                vec![swap, limit]
            }
        }
        (limit, swap) => limit.into_iter().chain(swap).collect(),
    };
    writes.extend(m.reservation().map(|v| KnobWrite::plain(Memory, "memory.soft_limit_in_bytes", v)));
    writes.extend(m.swappiness().map(|v| KnobWrite::plain(Memory, "memory.swappiness", v)));
    writes
}

/// Shares, then the CFS quota and period, then the real-time runtime and period (runc's order).
fn cpu(r: &LinuxResources, current: Current) -> Vec<KnobWrite> {
    let Some(c) = r.cpu() else { return Vec::new() };
    let mut writes: Vec<KnobWrite> = c.shares().map(|v| KnobWrite::plain(Cpu, "cpu.shares", v)).into_iter().collect();
    writes.extend(budget_and_period(
        c.quota().map(|v| KnobWrite::plain(Cpu, "cpu.cfs_quota_us", v)),
        c.period().map(|v| KnobWrite::plain(Cpu, "cpu.cfs_period_us", v)),
        current,
    ));
    writes.extend(budget_and_period(
        c.realtime_runtime().map(|v| KnobWrite::plain(Cpu, "cpu.rt_runtime_us", v)),
        c.realtime_period().map(|v| KnobWrite::plain(Cpu, "cpu.rt_period_us", v)),
        current,
    ));
    writes
}

/// Kernels without CFQ (all since 5.0) call the weight `blkio.bfq.weight`: runc writes whichever
/// exists. A throttle of 0 lifts that device's throttle.
fn blkio(r: &LinuxResources, current: Current) -> Vec<KnobWrite> {
    let Some(b) = r.block_io() else { return Vec::new() };
    let mut writes = Vec::new();
    if let Some(weight) = b.weight() {
        let file = if current("blkio.weight").is_some() { "blkio.weight" } else { "blkio.bfq.weight" };
        writes.push(KnobWrite::plain(Io, file, weight));
    }
    const FILES: [&str; 4] = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    for (kind, d) in throttles(b) {
        writes.push(KnobWrite::keyed(
            Io,
            FILES[kind],
            format!("{}:{}", d.major(), d.minor()),
            "0",
            d.rate().to_string(),
        ));
    }
    writes
}
