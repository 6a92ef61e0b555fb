//! Where a process's limits live: the cgroup layout of the host (v1, hybrid or v2), the directory
//! of each resource, and the files a limit is written to. What differs between versions is one
//! `Mapping` each, in `v1.rs` and `v2.rs`; `io.rs` is the only reader and writer of control files.

mod container;
mod files;
pub mod io;
pub mod knobs;
mod mountinfo;
mod scratch;
mod v1;
mod v2;

use std::{
    fmt,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context as _, bail, ensure};
pub use files::{CgroupFiles, FileWrite, ResourceDir};
pub use io::{dir_key, read_value};
use knobs::{Controller, Current, KnobWrite};
pub use mountinfo::{Membership, Mount, parse_mountinfo, parse_proc_cgroup};
use oci_spec::runtime::LinuxResources;
pub use scratch::Scratch;
use serde::Serialize;

use crate::resource::Resource;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// How one cgroup version spells a resource: the one resource → file mapping.
pub struct Mapping {
    /// The name a controller goes by: its own hierarchy on v1, its entry in `cgroup.controllers`
    /// on v2; `None` where the version has no such controller.
    pub controller: fn(Controller) -> Option<&'static str>,
    /// The line of `/proc/<pid>/cgroup` that places a process for this controller.
    pub membership: for<'a> fn(&'a [Membership], Controller) -> Option<&'a Membership>,
    /// The writes that set a controller's part of an OCI `LinuxResources`, in runc's order, given
    /// what the files hold now; a limit's last write is the one that enforces it.
    pub knobs: fn(Controller, &LinuxResources, Current) -> anyhow::Result<Vec<KnobWrite>>,
    /// runc's order of the controllers.
    pub order: &'static [Controller],
    /// The file that reports the memory a cgroup uses now.
    pub memory_usage: &'static str,
}

impl Version {
    pub fn mapping(self) -> &'static Mapping {
        match self {
            Version::V1 => &v1::MAPPING,
            Version::V2 => &v2::MAPPING,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// How the host mounts cgroups, as reported to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 hierarchies for the controllers plus a cgroup2 mount (systemd's "hybrid").
    Hybrid,
    /// One cgroup2 hierarchy.
    Unified,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Legacy => "cgroup v1",
            Layout::Hybrid => "cgroup v1 (hybrid)",
            Layout::Unified => "cgroup v2",
        })
    }
}

/// The cgroup layout of a host, and how to find a resource's directory in it.
#[derive(Clone, Debug)]
pub struct Host {
    pub mounts: Vec<Mount>,
    /// Controllers enabled in the root of the cgroup2 hierarchy, if one is mounted.
    pub v2_controllers: Vec<String>,
}

impl Host {
    pub fn detect() -> anyhow::Result<Host> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let mounts = parse_mountinfo(&mountinfo);
        ensure!(!mounts.is_empty(), "no cgroup filesystem is mounted: cgbench needs cgroup v1 or v2");
        let v2_controllers = mounts
            .iter()
            .find(|m| m.version == Version::V2)
            .and_then(|m| read_value(&m.mount_point.join("cgroup.controllers")).ok())
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Host { mounts, v2_controllers })
    }

    pub fn layout(&self) -> Layout {
        let v1 = self.mounts.iter().any(|m| m.version == Version::V1 && !m.controllers.is_empty());
        let v2 = self.mounts.iter().any(|m| m.version == Version::V2);
        match (v1, v2) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::Legacy,
            _ => Layout::Unified,
        }
    }

    /// The mount that holds a controller: its v1 hierarchy if one binds it, otherwise the cgroup2
    /// hierarchy if the controller is enabled there.
    fn mount_for(&self, controller: Controller) -> anyhow::Result<&Mount> {
        let v1 = (Version::V1.mapping().controller)(controller);
        if let Some(m) = self
            .mounts
            .iter()
            .find(|m| m.version == Version::V1 && m.controllers.iter().any(|c| Some(c.as_str()) == v1))
        {
            return Ok(m);
        }
        let v2 = (Version::V2.mapping().controller)(controller);
        let unified = self.mounts.iter().find(|m| m.version == Version::V2);
        match (unified, v2) {
            (Some(m), Some(v2)) if self.v2_controllers.iter().any(|c| c == v2) => Ok(m),
            (_, None) => bail!(
                "the {controller} controller exists only in cgroup v1, and no v1 hierarchy mounts it on this host (cgroup v2 has none)"
            ),
            _ => bail!("the {controller} controller is not available in any cgroup hierarchy on this host"),
        }
    }

    /// A process's cgroup directory for one controller, from its `/proc/<pid>/cgroup`.
    pub fn dir_of(&self, proc_cgroup: &str, controller: Controller) -> anyhow::Result<ResourceDir> {
        let mount = self.mount_for(controller)?;
        let memberships = parse_proc_cgroup(proc_cgroup);
        let membership = (mount.version.mapping().membership)(&memberships, controller)
            .with_context(|| format!("the process is in no {controller} cgroup"))?;
        Ok(ResourceDir { version: mount.version, path: join_confined(mount, &membership.path)? })
    }

    /// The directories of a process's memory and cpu cgroups, from its `/proc/<pid>/cgroup`.
    pub fn files_of(&self, proc_cgroup: &str) -> anyhow::Result<CgroupFiles> {
        let dir = |resource: Resource| self.dir_of(proc_cgroup, resource.into());
        Ok(CgroupFiles { memory: dir(Resource::Memory)?, cpu: dir(Resource::Cpu)? })
    }

    /// Removes the empty cgroup `cgroup_path` from every hierarchy that has it: what a container
    /// runtime leaves of a pod once the pod's own cgroups are gone.
    pub fn remove_everywhere(&self, cgroup_path: &str) -> anyhow::Result<()> {
        for dir in self.mounts.iter().filter_map(|mount| join_confined(mount, cgroup_path).ok()) {
            match std::fs::remove_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing cgroup {}", dir.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The mount point joined with a cgroup path, refusing anything that could leave the mount
/// (`..`, or a path outside the mount's root), so cgbench only ever writes inside cgroupfs.
fn join_confined(mount: &Mount, cgroup_path: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(cgroup_path)
        .strip_prefix(&mount.root)
        .with_context(|| format!("cgroup {cgroup_path} lies outside the mount of {}", mount.mount_point.display()))?;
    ensure!(
        relative.components().all(|c| matches!(c, Component::Normal(_))),
        "refusing cgroup path {cgroup_path}: it must not contain `..` or `.`"
    );
    Ok(mount.mount_point.join(relative))
}

#[cfg(test)]
mod tests {
    use super::{mountinfo::HYBRID_MOUNTINFO, *};
    use crate::resource::Limit;

    const HYBRID_PROC_CGROUP: &str = "\
12:memory:/docker/4f1c
4:cpu,cpuacct:/docker/4f1c
1:name=systemd:/docker/4f1c
0::/docker/4f1c
";

    const UNIFIED_MOUNTINFO: &str = "\
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    fn unified_host() -> Host {
        Host {
            mounts: parse_mountinfo(UNIFIED_MOUNTINFO),
            v2_controllers: "cpuset cpu io memory hugetlb pids rdma misc".split(' ').map(str::to_owned).collect(),
        }
    }

    #[test]
    fn hybrid_host_resolves_v1_files() {
        let host = Host { mounts: parse_mountinfo(HYBRID_MOUNTINFO), v2_controllers: vec!["hugetlb".into()] };
        assert_eq!(host.layout(), Layout::Hybrid);
        let files = host.files_of(HYBRID_PROC_CGROUP).unwrap();
        assert_eq!(files.memory.path, PathBuf::from("/sys/fs/cgroup/memory/docker/4f1c"));
        assert_eq!(files.cpu.path, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/4f1c"));
        assert_eq!(files.version(), Version::V1);
        let cpu = Limit::Cpu { quota_us: 50_001, period_us: 100_000 };
        let target = files.target(&cpu);
        assert_eq!(target.path, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/4f1c/cpu.cfs_quota_us"));
        assert_eq!(target.value, "50001");
        assert_eq!(target.file_name(), "cpu.cfs_quota_us");
        assert_eq!(files.writes(&cpu).len(), 2);
    }

    #[test]
    fn unified_host_with_cgroupfs_driver() {
        let host = unified_host();
        assert_eq!(host.layout(), Layout::Unified);
        let files = host.files_of("0::/docker/4f1c\n").unwrap();
        let mem = files.target(&Limit::Memory { bytes: 268_439_552 });
        assert_eq!(mem.path, PathBuf::from("/sys/fs/cgroup/docker/4f1c/memory.max"));
        assert_eq!(mem.value, "268439552");
        let cpu = files.target(&Limit::Cpu { quota_us: 50_000, period_us: 100_000 });
        assert_eq!(cpu.path, PathBuf::from("/sys/fs/cgroup/docker/4f1c/cpu.max"));
        assert_eq!(cpu.value, "50000 100000");
    }

    #[test]
    fn unified_host_with_systemd_driver() {
        let files = unified_host().files_of("0::/system.slice/docker-4f1c.scope\n").unwrap();
        assert_eq!(files.memory.path, PathBuf::from("/sys/fs/cgroup/system.slice/docker-4f1c.scope"));
        assert_eq!(files.memory, files.cpu);
        let all = files.limit_files(&[Limit::Memory { bytes: 1 }, Limit::Cpu { quota_us: 1, period_us: 1 }]);
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn v2_without_the_controller_is_an_error() {
        let host = Host { mounts: parse_mountinfo(UNIFIED_MOUNTINFO), v2_controllers: vec!["pids".into()] };
        let err = host.files_of("0::/docker/4f1c\n").unwrap_err().to_string();
        assert!(err.contains("memory controller is not available"), "{err}");
    }

    #[test]
    fn escapes_from_the_mount_are_refused() {
        let host = unified_host();
        let err = host.files_of("0::/docker/../../etc\n").unwrap_err().to_string();
        assert!(err.contains("must not contain `..`"), "{err}");
        let nested = Host {
            mounts: parse_mountinfo("35 24 0:30 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            v2_controllers: vec!["memory".into(), "cpu".into()],
        };
        let err = nested.files_of("0::/other/x\n").unwrap_err().to_string();
        assert!(err.contains("outside the mount"), "{err}");
    }
}
