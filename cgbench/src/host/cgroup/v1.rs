//! cgroup v1 (legacy and hybrid): each controller has its own hierarchy and files.

use super::{Mapping, Membership};
use crate::resource::{Limit, Resource};

pub const MAPPING: Mapping = Mapping { controller, membership, writes, memory_usage: "memory.usage_in_bytes" };

/// The v1 controller whose hierarchy holds a resource's files.
fn controller(resource: Resource) -> &'static str {
    match resource {
        Resource::Memory => "memory",
        Resource::Cpu => "cpu",
    }
}

/// The line of `/proc/<pid>/cgroup` for the resource's own hierarchy.
fn membership(memberships: &[Membership], resource: Resource) -> Option<&Membership> {
    memberships.iter().find(|m| m.controllers.iter().any(|c| c == controller(resource)))
}

/// The writes that set `limit`, in the order runc makes them; the last one enforces it.
fn writes(limit: &Limit) -> Vec<(&'static str, String)> {
    match *limit {
        Limit::Memory { bytes } => vec![("memory.limit_in_bytes", bytes.to_string())],
        Limit::Cpu { quota_us, period_us } => {
            vec![("cpu.cfs_period_us", period_us.to_string()), ("cpu.cfs_quota_us", quota_us.to_string())]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_written_before_quota() {
        let cpu = Limit::Cpu { quota_us: 50_001, period_us: 100_000 };
        assert_eq!(writes(&cpu), [("cpu.cfs_period_us", "100000".into()), ("cpu.cfs_quota_us", "50001".into())]);
        assert_eq!(writes(&Limit::Memory { bytes: 4096 }), [("memory.limit_in_bytes", "4096".into())]);
        assert_eq!(controller(Resource::Cpu), "cpu");
    }
}
