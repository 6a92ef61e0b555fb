//! Checks of the change against the kernel's state, before anything is written: what the kernel
//! would refuse or fight, said in one line that says what to do.

use anyhow::{bail, ensure};

use super::plan::Step;
use crate::{
    host::cgroup::{
        ResourceDir, Version, io,
        knobs::{at_most, limit_of},
    },
    settings::Priorities,
    units::format_bytes,
};

/// A memory limit at or below what the container uses has the kernel reclaim, or refuse; on v1
/// memory must stay at or below memory+swap, whichever of the two is changed.
pub fn memory(dir: &ResourceDir, steps: &[Step]) -> anyhow::Result<()> {
    let new_of = |file: &str| steps.iter().find(|s| s.path == dir.path.join(file)).map(|s| s.new.clone());
    let now_of = |file: &str| io::control_file(&dir.path, file).and_then(|p| io::read_value(&p)).ok();
    let limit_file = match dir.version {
        Version::V1 => "memory.limit_in_bytes",
        Version::V2 => "memory.max",
    };
    let usage_file = dir.version.mapping().memory_usage;
    let usage: i128 = io::read_value(&io::control_file(&dir.path, usage_file)?)?.parse()?;
    if let Some(limit) = new_of(limit_file).as_deref().and_then(limit_of)
        && limit <= usage
    {
        bail!(
            "--memory {} is not above the container's current memory usage ({}): the kernel would reclaim or refuse; choose a larger value",
            format_bytes(limit as u64),
            format_bytes(usage as u64)
        );
    }
    let swap_file = "memory.memsw.limit_in_bytes";
    if dir.version == Version::V2 || now_of(swap_file).is_none() {
        return Ok(());
    }
    let (memory, swap) = (new_of(limit_file), new_of(swap_file));
    let memory_after = memory.clone().or_else(|| now_of(limit_file)).unwrap_or_default();
    let swap_after = swap.clone().or_else(|| now_of(swap_file)).unwrap_or_default();
    if at_most(limit_of(&memory_after), limit_of(&swap_after)) {
        return Ok(());
    }
    let shown = |v: &str| limit_of(v).map_or_else(|| "unlimited".to_owned(), |b| format_bytes(b as u64));
    match (memory, swap) {
        (Some(memory), None) => bail!(
            "--memory {} is above the container's memory+swap limit ({}): give --memory-swap too",
            shown(&memory),
            shown(&swap_after)
        ),
        _ => bail!(
            "--memory-swap {} is below the container's memory limit ({}): give --memory too, or a larger --memory-swap",
            shown(&swap_after),
            shown(&memory_after)
        ),
    }
}

/// Where the kernel schedules real-time groups (v1 with `cpu.rt_runtime_us`), a real-time policy
/// needs runtime in the task's group: `sched_setscheduler` is refused otherwise.
pub fn real_time_policy(cpu: &ResourceDir, steps: &[Step], priorities: &Priorities) -> anyhow::Result<()> {
    let Some(sched) = priorities.sched.filter(|s| s.is_real_time()) else { return Ok(()) };
    let Ok(file) = io::control_file(&cpu.path, "cpu.rt_runtime_us") else { return Ok(()) };
    let runtime = match steps.iter().find(|s| s.path == file) {
        Some(step) => step.new.clone(),
        None => io::read_value(&file)?,
    };
    ensure!(
        runtime != "0",
        "--sched {sched} needs real-time runtime in the container's cpu cgroup, which has none (cpu.rt_runtime_us is 0): add --cpu-rt-runtime, e.g. 95000 (µs per second)"
    );
    Ok(())
}
