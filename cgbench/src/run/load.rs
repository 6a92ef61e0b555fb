//! Starting to watch the `--load` workload: its effect probes attached, and the workload given
//! time to reach the state the trials need.

use std::time::{Duration, Instant};

use crate::{
    host::cgroup::CgroupFiles,
    kernel::Probes,
    load::{self, Load, SETTLE},
    options::CompareOptions,
};

/// How long a memory workload may take to fill its resident set up to the starting limit.
const FILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Has the effect probes watch the workload (the container's first process). Probes the kernel
/// refuses do not end the run: one line says so, and the reason returned is every trial's
/// missing effect.
pub fn watch(probes: &mut Probes, load: Load, workload_tgid: u32) -> Option<String> {
    let e = probes.watch_effect(load, workload_tgid).err()?;
    eprintln!(
        "cgbench: --load: the in-effect milestone is not available on this kernel ({e:#}); the limits' application is still timed"
    );
    Some(format!("the effect probes are not available on this kernel: {e:#}"))
}

/// Waits until the workload is what the trials need: a memory workload's pages filling the
/// starting limit, and either settled.
pub async fn settle(opts: &CompareOptions, files: &CgroupFiles) -> anyhow::Result<()> {
    if opts.load == Load::None {
        return Ok(());
    }
    if opts.load == Load::Memory {
        // It starts under the first value, which its file pages fill once written if it is the
        // lower one; under the higher one, they all stay resident.
        let target = opts.memory_values[0].min(load::resident_bytes(opts.memory_values)) / 10 * 9;
        let since = Instant::now();
        while files.memory_usage()? < target {
            anyhow::ensure!(
                since.elapsed() < FILL_TIMEOUT,
                "--load memory: the workload did not fill {} within {FILL_TIMEOUT:?}",
                crate::units::format_bytes(target)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(SETTLE).await;
    Ok(())
}
