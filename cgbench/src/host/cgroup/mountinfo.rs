//! The two texts that say where cgroups are: `/proc/self/mountinfo` (which hierarchies are
//! mounted where) and `/proc/<pid>/cgroup` (which cgroup a process is in). Pure parsing.

use std::path::PathBuf;

use super::Version;

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

/// A hybrid host as this machine kind mounts it (fixture for the tests here and in `mod.rs`).
#[cfg(test)]
pub(super) const HYBRID_MOUNTINFO: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
";

#[cfg(test)]
mod tests {
    use super::*;

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
    fn proc_cgroup_lines_split_on_the_first_two_colons() {
        let lines = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n0::/\n");
        assert_eq!(lines[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(lines[0].path, "/a:b");
        assert!(lines[1].controllers.is_empty());
    }
}
