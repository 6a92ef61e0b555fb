//! `set`'s and `stats`' command lines turned into checked options. Bad input is refused here,
//! before anything is touched, as `Usage` (exit code 2): syntax, ranges, and the host facts a
//! flag names (a device, a CPU, an interface, a huge page size).

use std::{path::Path, time::Duration};

use anyhow::{Context as _, bail, ensure};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxInterfacePriority, LinuxMemory, LinuxNetwork, LinuxPids,
    LinuxResources, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
};

use crate::{
    cli_knobs::{SetArgs, StatsArgs},
    error::Usage,
    host::device::block_device_of,
    resource::Limit,
    set::SetOptions,
    settings::{
        CpuList, Priorities, Settings, parse_class_id, parse_hugetlb, parse_interface_priority, parse_limit,
        parse_sched, parse_throttle, parse_unified,
    },
    stats::StatsOptions,
    units::{format_bytes, parse_cpus},
};

impl SetOptions {
    pub fn from_args(args: &SetArgs) -> Result<SetOptions, Usage> {
        let settings = settings(args).map_err(Usage)?;
        Ok(SetOptions {
            container: args.container.clone(),
            settings,
            dry_run: args.dry_run,
            json: args.json,
            sync: args.sync,
        })
    }
}

fn settings(args: &SetArgs) -> anyhow::Result<Settings> {
    let mut resources = LinuxResources::default();
    resources.set_memory(memory(args)?);
    let (cpu, docker_cpus) = cpu(args)?;
    resources.set_cpu(cpu);
    resources.set_pids(args.pids_limit.map(|limit| {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit.max(0));
        pids
    }));
    resources.set_block_io(block_io(args)?);
    resources.set_network(network(args)?);
    let hugetlb =
        args.hugetlb.iter().map(|t| hugepage_limit(t).context("--hugetlb")).collect::<anyhow::Result<Vec<_>>>()?;
    resources.set_hugepage_limits((!hugetlb.is_empty()).then_some(hugetlb));
    let unified = args.unified.iter().map(|t| parse_unified(t).context("--unified")).collect::<anyhow::Result<_>>()?;
    resources.set_unified((!args.unified.is_empty()).then_some(unified));
    let priorities = priorities(args)?;
    let settings = Settings { resources, priorities, docker_cpus };
    ensure!(settings != Settings::default(), "nothing to set: give at least one knob (see cgbench set --help)");
    Ok(settings)
}

/// Docker's rules: at least 6 MiB; memory+swap at least memory (or -1); a reservation below the
/// limit.
fn memory(args: &SetArgs) -> anyhow::Result<Option<LinuxMemory>> {
    let parse = |flag: &str, text: &Option<String>| {
        text.as_deref().map(|t| parse_limit(t).context(flag.to_owned())).transpose()
    };
    let limit = parse("--memory", &args.memory)?;
    let swap = parse("--memory-swap", &args.memory_swap)?;
    let reservation = parse("--memory-reservation", &args.memory_reservation)?;
    if let Some(bytes) = limit.filter(|&b| b != -1) {
        ensure!(bytes >= 6 << 20, "--memory {} is below Docker's 6 MiB minimum", format_bytes(bytes as u64));
    }
    if let (Some(limit), Some(swap)) = (limit, swap) {
        ensure!(
            swap == -1 || (limit != -1 && swap >= limit),
            "--memory-swap must be at least --memory (it counts memory plus swap), or -1 for unlimited swap"
        );
    }
    if let (Some(limit), Some(reservation)) = (limit, reservation) {
        ensure!(limit == -1 || reservation <= limit, "--memory-reservation must be below --memory");
    }
    if let Some(swappiness) = args.memory_swappiness {
        ensure!(swappiness <= 100, "--memory-swappiness {swappiness} is out of range: use 0 to 100");
    }
    if (limit, swap, reservation, args.memory_swappiness) == (None, None, None, None) {
        return Ok(None);
    }
    let mut memory = LinuxMemory::default();
    memory.set_limit(limit).set_swap(swap).set_reservation(reservation).set_swappiness(args.memory_swappiness);
    Ok(Some(memory))
}

/// The CPU knobs, and `--cpus` as given (Docker records it apart from a quota).
fn cpu(args: &SetArgs) -> anyhow::Result<(Option<LinuxCpu>, Option<u64>)> {
    let mut cpu = LinuxCpu::default();
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let docker_cpus = args.cpus.as_deref().map(|t| parse_cpus(t).context("--cpus")).transpose()?;
    if let Some(micro_cpus) = docker_cpus
        && let Limit::Cpu { quota_us, period_us } = Limit::cpus(micro_cpus).context("--cpus")?
    {
        let text = args.cpus.as_deref().unwrap_or_default();
        ensure!(quota_us <= host_cpus * period_us, "--cpus {text} is more than this host's {host_cpus} CPUs");
        cpu.set_quota(Some(quota_us as i64)).set_period(Some(period_us));
    }
    if let Some(period) = args.cpu_period {
        ensure!((1000..=1_000_000).contains(&period), "--cpu-period {period} is out of range: use 1000 to 1000000 µs");
        cpu.set_period(Some(period));
    }
    if let Some(quota) = args.cpu_quota {
        ensure!(quota == -1 || quota >= 1000, "--cpu-quota {quota} is out of range: use at least 1000 µs, or -1");
        cpu.set_quota(Some(quota));
    }
    if let Some(shares) = args.cpu_shares {
        ensure!((2..=262_144).contains(&shares), "--cpu-shares {shares} is out of range: use 2 to 262144");
        cpu.set_shares(Some(shares));
    }
    if let Some(runtime) = args.cpu_rt_runtime {
        ensure!(runtime >= 0, "--cpu-rt-runtime {runtime} is out of range: use 0 or more µs");
        ensure!(
            args.cpu_rt_period.is_none_or(|p| runtime as u64 <= p),
            "--cpu-rt-runtime must not exceed --cpu-rt-period"
        );
    }
    if let Some(period) = args.cpu_rt_period {
        ensure!((1..=1_000_000).contains(&period), "--cpu-rt-period {period} is out of range: use 1 to 1000000 µs");
    }
    cpu.set_realtime_runtime(args.cpu_rt_runtime).set_realtime_period(args.cpu_rt_period);
    cpu.set_cpus(
        args.cpuset_cpus
            .as_deref()
            .map(|t| online("--cpuset-cpus", t, "/sys/devices/system/cpu/online"))
            .transpose()?,
    );
    cpu.set_mems(
        args.cpuset_mems
            .as_deref()
            .map(|t| online("--cpuset-mems", t, "/sys/devices/system/node/online"))
            .transpose()?,
    );
    Ok(((cpu != LinuxCpu::default()).then_some(cpu), docker_cpus))
}

/// A cpuset list, checked against what the host has online (a node file is absent without NUMA:
/// node 0 only). Returned in the kernel's spelling.
fn online(flag: &str, text: &str, file: &str) -> anyhow::Result<String> {
    let list: CpuList = text.parse().context(flag.to_owned())?;
    let online: CpuList = std::fs::read_to_string(file).unwrap_or_else(|_| "0".into()).parse()?;
    ensure!(!list.0.is_empty(), "{flag} must name at least one");
    ensure!(list.0.is_subset(&online.0), "{flag} {text} is out of range: this host has {online}");
    Ok(list.to_string())
}

fn block_io(args: &SetArgs) -> anyhow::Result<Option<LinuxBlockIo>> {
    let mut io = LinuxBlockIo::default();
    if let Some(weight) = args.blkio_weight {
        ensure!((10..=1000).contains(&weight), "--blkio-weight {weight} is out of range: use 10 to 1000");
        io.set_weight(Some(weight));
    }
    let devices = |flag: &str, values: &[String], bytes: bool| -> anyhow::Result<Option<Vec<LinuxThrottleDevice>>> {
        let devices = values
            .iter()
            .map(|t| throttle(t, bytes).with_context(|| flag.to_owned()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((!devices.is_empty()).then_some(devices))
    };
    io.set_throttle_read_bps_device(devices("--device-read-bps", &args.device_read_bps, true)?)
        .set_throttle_write_bps_device(devices("--device-write-bps", &args.device_write_bps, true)?)
        .set_throttle_read_iops_device(devices("--device-read-iops", &args.device_read_iops, false)?)
        .set_throttle_write_iops_device(devices("--device-write-iops", &args.device_write_iops, false)?);
    Ok((io != LinuxBlockIo::default()).then_some(io))
}

fn throttle(text: &str, bytes: bool) -> anyhow::Result<LinuxThrottleDevice> {
    let (path, rate) = parse_throttle(text, bytes)?;
    let (major, minor) = block_device_of(&path)?;
    Ok(LinuxThrottleDeviceBuilder::default().major(major as i64).minor(minor as i64).rate(rate).build()?)
}

/// The kernel looks interface names up in the host's network namespace.
fn network(args: &SetArgs) -> anyhow::Result<Option<LinuxNetwork>> {
    let class_id =
        args.net_cls_classid.as_deref().map(|t| parse_class_id(t).context("--net-cls-classid")).transpose()?;
    let mut priorities = Vec::new();
    for text in &args.net_prio {
        let (name, priority) = parse_interface_priority(text).context("--net-prio")?;
        ensure!(
            !name.contains('/') && Path::new("/sys/class/net").join(&name).exists(),
            "--net-prio: the host has no network interface {name} (see ip link)"
        );
        let mut p = LinuxInterfacePriority::default();
        p.set_name(name).set_priority(priority);
        priorities.push(p);
    }
    if class_id.is_none() && priorities.is_empty() {
        return Ok(None);
    }
    let mut network = LinuxNetwork::default();
    network.set_class_id(class_id).set_priorities((!priorities.is_empty()).then_some(priorities));
    Ok(Some(network))
}

/// A page size the kernel has, and a limit in whole pages.
fn hugepage_limit(text: &str) -> anyhow::Result<LinuxHugepageLimit> {
    let (size, limit) = parse_hugetlb(text)?;
    let page_kib: u64 = match &size[size.len() - 2..] {
        "GB" => size[..size.len() - 2].parse::<u64>()? << 20,
        "MB" => size[..size.len() - 2].parse::<u64>()? << 10,
        _ => size[..size.len() - 2].parse()?,
    };
    let sizes = Path::new("/sys/kernel/mm/hugepages");
    if !sizes.join(format!("hugepages-{page_kib}kB")).exists() {
        bail!("this host has no {size} huge pages (see /sys/kernel/mm/hugepages)");
    }
    ensure!(
        limit < 0 || (limit as u64).is_multiple_of(page_kib << 10),
        "the {size} limit must be a whole number of pages"
    );
    let mut hugepage = LinuxHugepageLimit::default();
    hugepage.set_page_size(size).set_limit(limit);
    Ok(hugepage)
}

fn priorities(args: &SetArgs) -> anyhow::Result<Priorities> {
    if let Some(nice) = args.nice {
        ensure!((-20..=19).contains(&nice), "--nice {nice} is out of range: use -20 to 19");
    }
    if let Some(adj) = args.oom_score_adj {
        ensure!((-1000..=1000).contains(&adj), "--oom-score-adj {adj} is out of range: use -1000 to 1000");
    }
    let sched = args.sched.as_deref().map(|t| parse_sched(t).context("--sched")).transpose()?;
    Ok(Priorities { nice: args.nice, sched, oom_score_adj: args.oom_score_adj })
}

impl StatsOptions {
    pub fn from_args(args: &StatsArgs) -> Result<StatsOptions, Usage> {
        let watch = args.watch.as_deref().map(|t| parse_interval(t).context("--watch")).transpose().map_err(Usage)?;
        Ok(StatsOptions { container: args.container.clone(), watch, json: args.json })
    }
}

/// `1s`, `500ms`, `2` (seconds), `0.5s`: at least 10 ms, since sampling reads a dozen files.
fn parse_interval(text: &str) -> anyhow::Result<Duration> {
    let (number, scale) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let seconds = number.parse::<f64>().ok().filter(|s| s.is_finite()).map(|s| s * scale);
    let seconds = seconds.with_context(|| format!("`{text}` is not an interval: use e.g. 1s or 500ms"))?;
    ensure!(seconds >= 0.01, "`{text}` is too short: use at least 10ms");
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
#[path = "options_knobs_tests.rs"]
mod tests;
