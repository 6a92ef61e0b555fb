//! Starting to watch the `--load` workload: its effect probes attached, and the workload given
//! time to reach the state the trials need.

use std::time::{Duration, Instant};

use crate::{
    host::cgroup::CgroupFiles,
    kernel::Probes,
    load::{Load, SETTLE},
    options::CompareOptions,
};

/// How long a memory workload may take to fill its resident set up to the starting limit.
const FILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Has the effect probes watch the workload (container's first process), then waits until the
/// workload is what the trials need. Probes the kernel refuses do not end the run: one line
/// says so and every trial's effect is then reported missing.
pub async fn start(
    probes: &mut Probes,
    opts: &CompareOptions,
    workload_tgid: u32,
    files: &CgroupFiles,
) -> anyhow::Result<()> {
    if opts.load == Load::None {
        return Ok(());
    }
    if let Err(e) = probes.watch_effect(opts.load, workload_tgid) {
        eprintln!(
            "cgbench: --load: the in-effect milestone is not available on this kernel ({e:#}); the limits' application is still timed"
        );
    }
    if opts.load == Load::Memory {
        // It starts under the lower limit, which its file pages fill once written.
        let target = opts.memory_values[0] / 10 * 9;
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
