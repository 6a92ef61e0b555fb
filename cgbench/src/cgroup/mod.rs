//! Where a process's limits live: the cgroup layout of the host (v1, hybrid or v2), the directory
//! of each resource, and the files a limit is written to. Everything version-specific is in
//! `v1.rs` and `v2.rs`; the rest of cgbench only sees `CgroupFiles`.

mod v1;
mod v2;

use std::{
    fmt,
    os::unix::fs::MetadataExt as _,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context as _, bail, ensure};
use probe_common::CgroupKey;
use serde::Serialize;

use crate::resource::{Limit, Resource};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
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

/// One cgroup filesystem mount, from `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub version: Version,
    /// The cgroup path mounted here (`/` on the host).
    pub root: String,
    pub mount_point: PathBuf,
    /// v1 controllers bound to this hierarchy (empty for cgroup2).
    pub controllers: Vec<String>,
}

/// Super options of a v1 mount that are not controller names (`name=…` and `release_agent=…`
/// are recognised by their `=`).
const V1_MOUNT_OPTIONS: &[&str] =
    &["rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"];

/// Parses the cgroup mounts out of a mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, mount_point) = (*left.get(3)?, *left.get(4)?);
            let version = match *right.first()? {
                "cgroup" => Version::V1,
                "cgroup2" => Version::V2,
                _ => return None,
            };
            let controllers = match version {
                Version::V1 => right
                    .get(2)?
                    .split(',')
                    .filter(|o| !V1_MOUNT_OPTIONS.contains(o) && !o.contains('='))
                    .map(str::to_owned)
                    .collect(),
                Version::V2 => Vec::new(),
            };
            Some(Mount {
                version,
                root: unescape_mountinfo(root),
                mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
                controllers,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(octal) = bytes.get(i + 1..i + 4)
            && let Ok(code) = u8::from_str_radix(std::str::from_utf8(octal).unwrap_or("x"), 8)
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/<pid>/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Membership {
                controllers: controllers.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
                path: path.to_owned(),
            })
        })
        .collect()
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
        let v2_controllers = mounts
            .iter()
            .find(|m| m.version == Version::V2)
            .and_then(|m| std::fs::read_to_string(m.mount_point.join("cgroup.controllers")).ok())
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let host = Host { mounts, v2_controllers };
        ensure!(
            host.mounts.iter().any(|m| m.version == Version::V2)
                || host.mounts.iter().any(|m| m.version == Version::V1),
            "no cgroup filesystem is mounted: cgbench needs cgroup v1 or v2"
        );
        Ok(host)
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

    /// The mount that holds a resource: its v1 hierarchy if the controller is bound to one,
    /// otherwise the cgroup2 hierarchy if the controller is enabled there.
    fn mount_for(&self, resource: Resource) -> anyhow::Result<&Mount> {
        let v1 = v1::controller(resource);
        if let Some(m) = self.mounts.iter().find(|m| m.version == Version::V1 && m.controllers.iter().any(|c| c == v1))
        {
            return Ok(m);
        }
        let v2 = v2::controller(resource);
        match self.mounts.iter().find(|m| m.version == Version::V2) {
            Some(m) if self.v2_controllers.iter().any(|c| c == v2) => Ok(m),
            _ => bail!("the {resource} controller is not available in any cgroup hierarchy on this host"),
        }
    }

    /// The directories of a process's memory and cpu cgroups, from its `/proc/<pid>/cgroup`.
    pub fn files_of(&self, proc_cgroup: &str) -> anyhow::Result<CgroupFiles> {
        let memberships = parse_proc_cgroup(proc_cgroup);
        let dir = |resource: Resource| -> anyhow::Result<ResourceDir> {
            let mount = self.mount_for(resource)?;
            let membership = match mount.version {
                Version::V1 => memberships.iter().find(|m| m.controllers.iter().any(|c| c == v1::controller(resource))),
                Version::V2 => memberships.iter().find(|m| m.controllers.is_empty()),
            }
            .with_context(|| format!("the process is in no {resource} cgroup"))?;
            Ok(ResourceDir { version: mount.version, path: join_confined(mount, &membership.path)? })
        };
        Ok(CgroupFiles { memory: dir(Resource::Memory)?, cpu: dir(Resource::Cpu)? })
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceDir {
    pub version: Version,
    pub path: PathBuf,
}

/// A container's cgroup files: the one place that knows which file a limit goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupFiles {
    pub memory: ResourceDir,
    pub cpu: ResourceDir,
}

/// One control-file write: where, and the exact bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileWrite {
    pub path: PathBuf,
    pub value: String,
}

impl FileWrite {
    pub fn file_name(&self) -> &str {
        self.path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    }
}

impl CgroupFiles {
    pub fn dir(&self, resource: Resource) -> &ResourceDir {
        match resource {
            Resource::Memory => &self.memory,
            Resource::Cpu => &self.cpu,
        }
    }

    /// The writes that set `limit`, in order; the last one is the one that enforces it.
    pub fn writes(&self, limit: &Limit) -> Vec<FileWrite> {
        let dir = self.dir(limit.resource());
        let writes = match dir.version {
            Version::V1 => v1::writes(limit),
            Version::V2 => v2::writes(limit),
        };
        writes.into_iter().map(|(file, value)| FileWrite { path: dir.path.join(file), value }).collect()
    }

    /// The write whose kernel event marks `limit` as enforced.
    pub fn target(&self, limit: &Limit) -> FileWrite {
        self.writes(limit).pop().expect("every limit maps to at least one file")
    }

    pub fn version(&self) -> Version {
        self.memory.version
    }

    /// The memory the cgroup uses now, in bytes.
    pub fn memory_usage(&self) -> anyhow::Result<u64> {
        let file = match self.memory.version {
            Version::V1 => v1::MEMORY_USAGE,
            Version::V2 => v2::MEMORY_USAGE,
        };
        let path = self.memory.path.join(file);
        read_value(&path)?.parse().with_context(|| format!("{} is not a number", path.display()))
    }

    /// Every distinct file a change of either resource writes, to save and restore them.
    pub fn limit_files(&self, sample: &[Limit]) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = sample.iter().flat_map(|l| self.writes(l)).map(|w| w.path).collect();
        files.dedup();
        files
    }

    /// Checks that each directory is a real cgroup directory: no symlink anywhere on the way,
    /// and on a cgroup filesystem.
    pub fn verify(&self) -> anyhow::Result<()> {
        for dir in [&self.memory.path, &self.cpu.path] {
            let real =
                std::fs::canonicalize(dir).with_context(|| format!("cgroup directory {} is missing", dir.display()))?;
            ensure!(&real == dir, "refusing {}: it resolves through a symlink to {}", dir.display(), real.display());
            let magic = statfs_magic(dir)?;
            ensure!(
                magic == CGROUP_SUPER_MAGIC || magic == CGROUP2_SUPER_MAGIC,
                "refusing {}: it is not on a cgroup filesystem",
                dir.display()
            );
        }
        Ok(())
    }

    /// The kernel's identity of each directory, for the in-kernel write filter.
    pub fn keys(&self) -> anyhow::Result<Vec<CgroupKey>> {
        let mut keys = vec![dir_key(&self.memory.path)?, dir_key(&self.cpu.path)?];
        keys.dedup();
        Ok(keys)
    }
}

/// Cgroups made next to this process's own — one per hierarchy on v1 — for cgbench's benchmark,
/// self-test and tests; removed when dropped.
pub struct Scratch {
    pub files: CgroupFiles,
    dirs: Vec<PathBuf>,
}

impl Scratch {
    pub fn new(host: &Host, name: &str) -> anyhow::Result<Scratch> {
        let own = host.files_of(&std::fs::read_to_string("/proc/self/cgroup")?)?;
        let dir = |d: &ResourceDir| ResourceDir { version: d.version, path: d.path.join(name) };
        let mut scratch =
            Scratch { files: CgroupFiles { memory: dir(&own.memory), cpu: dir(&own.cpu) }, dirs: Vec::new() };
        for path in [scratch.files.memory.path.clone(), scratch.files.cpu.path.clone()] {
            if !scratch.dirs.contains(&path) {
                std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
                scratch.dirs.push(path);
            }
        }
        Ok(scratch)
    }

    /// The file a memory limit is written to.
    pub fn memory_limit_file(&self) -> PathBuf {
        self.files.target(&Limit::Memory { bytes: 0 }).path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;

fn statfs_magic(path: &Path) -> anyhow::Result<i64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and a properly sized out-buffer.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut buf) };
    ensure!(rc == 0, "statfs {}: {}", path.display(), std::io::Error::last_os_error());
    Ok(buf.f_type as i64)
}

/// `(s_dev, i_ino)` of a directory as the kernel sees them: `stat` reports the device in the
/// user-space encoding, the kernel stores `major << 20 | minor`.
pub fn dir_key(path: &Path) -> anyhow::Result<CgroupKey> {
    let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    let dev = meta.dev();
    let kernel_dev = (libc::major(dev) << 20) | libc::minor(dev);
    Ok(CgroupKey { dev: kernel_dev, _pad: 0, ino: meta.ino() })
}

/// The current content of a control file, without its trailing newline.
pub fn read_value(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
";

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
    fn mountinfo_yields_cgroup_mounts_and_controllers() {
        let mounts = parse_mountinfo(HYBRID_MOUNTINFO);
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[0].version, Version::V2);
        assert_eq!(mounts[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(mounts[2].mount_point, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(mounts[1].controllers.is_empty(), "name=systemd is not a controller");
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        let line = "40 25 0:40 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_mountinfo(line)[0].mount_point, PathBuf::from("/mnt/my cgroups"));
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

    #[test]
    fn proc_cgroup_lines_split_on_the_first_two_colons() {
        let lines = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n0::/\n");
        assert_eq!(lines[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[0].path, "/a:b");
        assert!(lines[1].controllers.is_empty());
    }
}
