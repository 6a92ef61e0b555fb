//! `--load`: the workload the target container runs so that a new limit has something to be felt
//! by (`docker/load.c`), and how long a trial waits for it to feel one.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{host::cgroup::CgroupFiles, kernel::Probes, options::CompareOptions, resource::Limit};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    /// The container idles: the limits cgbench changes never affect it.
    #[default]
    None,
    /// Busy threads, enough to use up the higher CPU limit.
    Cpu,
    /// A resident set of file pages between the two memory values, read over and over.
    Memory,
}

/// After each trial under load, the workload is given this long to feel the new limit before
/// the next change: two CFS periods and some, so a decrease has throttled it and an increase has
/// let it run. It is also the bound past which an effect not seen is reported missing.
pub const SETTLE: Duration = Duration::from_millis(300);

impl Load {
    /// The container's command instead of the image's idle one; `None` without a load.
    pub fn command(self, memory_values: [u64; 2], cpu_values: [Limit; 2]) -> Option<Vec<String>> {
        let arg = match self {
            Load::None => return None,
            Load::Cpu => threads(cpu_values).to_string(),
            Load::Memory => resident_bytes(memory_values).to_string(),
        };
        let mode = if self == Load::Cpu { "cpu" } else { "memory" };
        Some(vec!["/load".to_owned(), mode.to_owned(), arg])
    }
}

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

/// One thread more than the higher limit's CPUs, rounded up: at the higher limit the group still
/// uses up its quota each period, so an increase finds it throttled more often than not.
fn threads(cpu_values: [Limit; 2]) -> u64 {
    let cpus = cpu_values
        .iter()
        .map(|l| match *l {
            Limit::Cpu { quota_us, period_us } => quota_us.div_ceil(period_us.max(1)),
            Limit::Memory { .. } => 0,
        })
        .max()
        .unwrap_or(1);
    cpus + 1
}

/// Halfway between the two memory values: above the lower, so a decrease has pages to reclaim,
/// and below the higher, so an increase lets all of it stay resident.
fn resident_bytes([a, b]: [u64; 2]) -> u64 {
    a.min(b) + a.abs_diff(b) / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_fits_the_values_compared() {
        let cpu = [Limit::cpus(500_000).unwrap(), Limit::cpus(1_000_000).unwrap()];
        let memory = [256 << 20, 512 << 20];
        assert_eq!(Load::None.command(memory, cpu), None);
        assert_eq!(Load::Cpu.command(memory, cpu).unwrap(), ["/load", "cpu", "2"]);
        assert_eq!(Load::Memory.command(memory, cpu).unwrap(), ["/load", "memory", &(384u64 << 20).to_string()]);
    }
}
