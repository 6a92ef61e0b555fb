//! Part 2, filtering: a storm of writes on an unrelated cgroup and a plain file, while cgbench
//! writes to its target once a millisecond, must deliver nothing foreign; a storm on the target
//! itself measures loss.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use serde::Serialize;

use super::{attach, scratch, time_writes};
use crate::{
    host::{cgroup::Scratch, system::cpu_time_ns},
    kernel::{AttachMethod, events::KernelEvent},
    options::BenchOptions as Options,
};

#[derive(Debug, Serialize)]
pub struct Filtering {
    pub unrelated_storm: UnrelatedStorm,
    pub target_storm: TargetStorm,
}

/// What a storm did, and what cgbench spent meanwhile.
#[derive(Debug, Serialize)]
pub struct StormLoad {
    pub storm_writes: u64,
    pub storm_writes_per_s: f64,
    pub cgbench_cpu_percent: f64,
}

#[derive(Debug, Serialize)]
pub struct UnrelatedStorm {
    #[serde(flatten)]
    pub load: StormLoad,
    pub target_writes: u64,
    /// cgbench's own writes to its target, as delivered.
    pub target_events_delivered: usize,
    pub events_delivered: usize,
    /// Events that are neither cgbench's writes nor the storm's exec: should be none.
    pub foreign_events_delivered: usize,
    pub lost_events: u64,
}

#[derive(Debug, Serialize)]
pub struct TargetStorm {
    #[serde(flatten)]
    pub load: StormLoad,
    pub events_delivered: usize,
    pub lost_events: u64,
    /// Delivered plus lost: every storm write should be one or the other.
    pub accounted_for: u64,
}

pub fn measure(opts: &Options, method: AttachMethod) -> anyhow::Result<Filtering> {
    let target = scratch("target")?;
    let plain = std::env::temp_dir().join(format!("cgbench-bench-{}.txt", std::process::id()));
    let measured = unrelated_storm(opts, method, &target, &plain).and_then(|unrelated_storm| {
        Ok(Filtering { unrelated_storm, target_storm: target_storm(opts, method, &target, &plain)? })
    });
    let _ = std::fs::remove_file(&plain);
    measured
}

fn unrelated_storm(
    opts: &Options,
    method: AttachMethod,
    target: &Scratch,
    plain: &Path,
) -> anyhow::Result<UnrelatedStorm> {
    let unrelated = scratch("unrelated")?;
    let mut probes = attach(&target.files.memory.path, method)?;
    let mut target_writes = 0u64;
    let mut delivered: Vec<KernelEvent> = Vec::new();
    let load = during_storm(&unrelated.memory_limit_file(), plain, opts.storm, Duration::from_millis(1), || {
        time_writes(&target.memory_limit_file(), 1, None)?;
        target_writes += 1;
        delivered.extend(probes.drain());
        Ok(())
    })?;
    delivered.extend(probes.drain());
    let own = std::process::id();
    let foreign = delivered
        .iter()
        .filter(|e| match e {
            KernelEvent::Write { tgid, .. } => *tgid != own,
            // The storm's exec is expected: it is what makes the storm a writer.
            KernelEvent::Exec { .. } => false,
            // Effect probes are never attached here: any of these is foreign.
            _ => true,
        })
        .count();
    let target_events_delivered =
        delivered.iter().filter(|e| matches!(e, KernelEvent::Write { tgid, .. } if *tgid == own)).count();
    Ok(UnrelatedStorm {
        load,
        target_writes,
        target_events_delivered,
        events_delivered: delivered.len(),
        foreign_events_delivered: foreign,
        lost_events: probes.lost()?,
    })
}

fn target_storm(opts: &Options, method: AttachMethod, target: &Scratch, plain: &Path) -> anyhow::Result<TargetStorm> {
    let mut probes = attach(&target.files.memory.path, method)?;
    let writes = |events: Vec<KernelEvent>| events.iter().filter(|e| matches!(e, KernelEvent::Write { .. })).count();
    let mut delivered = 0usize;
    // Drained as often as a long trial's events would be, so that only a burst larger than the
    // ring buffer between two drains is lost.
    let load = during_storm(&target.memory_limit_file(), plain, opts.storm, Duration::from_millis(1), || {
        delivered += writes(probes.drain());
        Ok(())
    })?;
    delivered += writes(probes.drain());
    let lost_events = probes.lost()?;
    Ok(TargetStorm { load, events_delivered: delivered, lost_events, accounted_for: delivered as u64 + lost_events })
}

/// Runs a storm on `cgroup_file` for `length`, calling `meanwhile` every `period`.
fn during_storm(
    cgroup_file: &Path,
    plain_file: &Path,
    length: Duration,
    period: Duration,
    mut meanwhile: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<StormLoad> {
    let child = storm(cgroup_file, plain_file, length)?;
    let (wall0, cpu0) = (Instant::now(), cpu_time_ns());
    while wall0.elapsed() < length {
        meanwhile()?;
        std::thread::sleep(period);
    }
    let storm_writes = storm_writes(child)?;
    let (wall, cpu) = (wall0.elapsed(), cpu_time_ns() - cpu0);
    Ok(StormLoad {
        storm_writes,
        storm_writes_per_s: storm_writes as f64 / wall.as_secs_f64(),
        cgbench_cpu_percent: cpu as f64 / wall.as_nanos() as f64 * 100.0,
    })
}

/// The storm: a child process (`cgbench storm`) writing as fast as it can. It becomes a writer
/// when it execs, as runc would, so only the cgroup filter stands between it and the ring buffer.
fn storm(cgroup_file: &Path, plain_file: &Path, length: Duration) -> anyhow::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg("storm")
        .arg(cgroup_file)
        .arg(plain_file)
        .arg(length.as_millis().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the storm process")
}

fn storm_writes(child: Child) -> anyhow::Result<u64> {
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "the storm process failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}
