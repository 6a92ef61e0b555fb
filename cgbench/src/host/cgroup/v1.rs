//! cgroup v1 (legacy and hybrid): each controller has its own hierarchy and files.

use super::{
    Mapping, Membership,
    knobs::{self, Controller},
};

pub const MAPPING: Mapping = Mapping {
    controller: knobs::v1::controller,
    membership,
    knobs: knobs::v1::writes,
    order: &knobs::v1::ORDER,
    memory_usage: "memory.usage_in_bytes",
};

/// The line of `/proc/<pid>/cgroup` for the controller's own hierarchy.
fn membership(memberships: &[Membership], controller: Controller) -> Option<&Membership> {
    let name = knobs::v1::controller(controller)?;
    memberships.iter().find(|m| m.controllers.iter().any(|c| c == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cgroup::parse_proc_cgroup;

    #[test]
    fn each_controller_is_found_in_its_own_hierarchy() {
        let lines = parse_proc_cgroup("2:cpuacct:/docker/a\n1:cpu:/docker/a\n7:blkio:/docker/a\n0::/docker/a\n");
        assert_eq!(membership(&lines, Controller::Cpu).unwrap().controllers, ["cpu"]);
        assert_eq!(membership(&lines, Controller::Io).unwrap().controllers, ["blkio"]);
        assert!(membership(&lines, Controller::NetCls).is_none());
    }
}
