//! `--load`: the workload the target container runs so that a new limit has something to be felt
//! by (`docker/load.c`), and how long a trial waits for it to feel one. Pure.

use std::time::Duration;

use serde::Serialize;

use crate::resource::Limit;

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
pub fn resident_bytes([a, b]: [u64; 2]) -> u64 {
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
