//! cgroup v2 (unified): one directory per cgroup; cpu.max holds quota and period together.

use super::{Mapping, Membership};
use crate::resource::{Limit, Resource};

pub const MAPPING: Mapping = Mapping { controller, membership, writes, memory_usage: "memory.current" };

/// The controller that must be enabled in `cgroup.controllers` for a resource.
fn controller(resource: Resource) -> &'static str {
    match resource {
        Resource::Memory => "memory",
        Resource::Cpu => "cpu",
    }
}

/// The unified hierarchy's line of `/proc/<pid>/cgroup` (`0::/path`), whatever the resource.
fn membership(memberships: &[Membership], _: Resource) -> Option<&Membership> {
    memberships.iter().find(|m| m.controllers.is_empty())
}

/// The writes that set `limit`; the last one enforces it.
fn writes(limit: &Limit) -> Vec<(&'static str, String)> {
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
