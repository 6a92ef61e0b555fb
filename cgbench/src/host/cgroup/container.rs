//! A container's own cgroup directory for any controller, as `set` and `stats` use them:
//! confined as `compare`'s are, never a hierarchy's root (which the whole host shares), and on v2
//! only where the controller is enabled.

use anyhow::{Context as _, ensure};

use super::{Host, ResourceDir, Version, io, knobs::Controller, read_value};

impl Host {
    pub fn container_dir(&self, proc_cgroup: &str, controller: Controller) -> anyhow::Result<ResourceDir> {
        let dir = self.dir_of(proc_cgroup, controller)?;
        let mount = self.mount_for(controller)?;
        ensure!(
            dir.path != mount.mount_point,
            "the container is in the root {controller} cgroup, which the whole host shares, and cgbench changes only a container's own cgroup: restart the container so that it gets one (was the hierarchy mounted after it started?)"
        );
        io::verify_dir(&dir.path)?;
        if dir.version == Version::V2 {
            let name = (Version::V2.mapping().controller)(controller).unwrap_or_default();
            let enabled = read_value(&dir.path.join("cgroup.controllers"))?;
            ensure!(
                enabled.split_whitespace().any(|c| c == name),
                "the {name} controller is not enabled for the container's cgroup {}: enable it in its parent's cgroup.subtree_control",
                dir.path.display()
            );
        }
        Ok(dir)
    }

    /// The process's directory in the cgroup2 hierarchy, where the kernel reports pressure (PSI),
    /// on a hybrid host too.
    pub fn unified_dir_of(&self, proc_cgroup: &str) -> anyhow::Result<std::path::PathBuf> {
        let mount = self.mounts.iter().find(|m| m.version == Version::V2).context("no cgroup2 hierarchy is mounted")?;
        let memberships = super::parse_proc_cgroup(proc_cgroup);
        let membership = (Version::V2.mapping().membership)(&memberships, Controller::Cpu)
            .context("the process is in no cgroup2 cgroup")?;
        let dir = super::join_confined(mount, &membership.path)?;
        io::verify_dir(&dir)?;
        Ok(dir)
    }

    /// The root directory of the hierarchy that holds a controller: the host's own cgroup, which
    /// `set` reads (real-time budget) but never writes.
    pub fn hierarchy_root(&self, controller: Controller) -> anyhow::Result<&std::path::Path> {
        Ok(&self.mount_for(controller)?.mount_point)
    }
}
