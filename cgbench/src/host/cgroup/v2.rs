//! cgroup v2 (unified): one directory per cgroup; cpu.max holds quota and period together.

use super::{
    Mapping, Membership,
    knobs::{self, Controller},
};

pub const MAPPING: Mapping = Mapping {
    controller: knobs::v2::controller,
    membership,
    knobs: knobs::v2::writes,
    order: &knobs::v2::ORDER,
    memory_usage: "memory.current",
};

/// The unified hierarchy's line of `/proc/<pid>/cgroup` (`0::/path`), whatever the controller.
fn membership(memberships: &[Membership], _: Controller) -> Option<&Membership> {
    memberships.iter().find(|m| m.controllers.is_empty())
}
