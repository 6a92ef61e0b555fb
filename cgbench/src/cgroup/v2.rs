//! cgroup v2 (unified): one directory per cgroup; cpu.max holds quota and period together.

use crate::resource::{Limit, Resource};

/// The controller that must be enabled in `cgroup.controllers` for a resource.
pub fn controller(resource: Resource) -> &'static str {
    match resource {
        Resource::Memory => "memory",
        Resource::Cpu => "cpu",
    }
}

/// The file that reports the memory a cgroup uses now.
pub const MEMORY_USAGE: &str = "memory.current";

/// The writes that set `limit`; the last one enforces it.
pub fn writes(limit: &Limit) -> Vec<(&'static str, String)> {
    match *limit {
        Limit::Memory { bytes } => vec![("memory.max", bytes.to_string())],
        Limit::Cpu { quota_us, period_us } => vec![("cpu.max", format!("{quota_us} {period_us}"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_quota_then_period() {
        let cpu = Limit::Cpu { quota_us: 50_001, period_us: 100_000 };
        assert_eq!(writes(&cpu), [("cpu.max", "50001 100000".into())]);
        assert_eq!(writes(&Limit::Memory { bytes: 268_439_552 }), [("memory.max", "268439552".into())]);
        assert_eq!(controller(Resource::Memory), "memory");
    }
}
