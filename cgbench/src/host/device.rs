//! Block devices as the I/O controllers name them: `major:minor` of a whole disk.

use std::{
    os::unix::fs::{FileTypeExt as _, MetadataExt as _},
    path::Path,
};

use anyhow::{Context as _, bail};

/// The whole disk a path names or lies on: a block device node's own number, otherwise the device
/// of the filesystem that holds the path. A partition resolves to its disk, since the kernel
/// throttles whole disks only (a partition's number is refused with ENODEV).
pub fn block_device_of(path: &Path) -> anyhow::Result<(u64, u64)> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!("{} does not exist: give a block device or a path on a mounted disk", path.display())
    })?;
    let kind = meta.file_type();
    if kind.is_char_device() {
        bail!("{} is a character device: give a block device (e.g. /dev/sda) or a path on one", path.display());
    }
    let dev = if kind.is_block_device() { meta.rdev() } else { meta.dev() };
    let (major, minor) = (u64::from(libc::major(dev)), u64::from(libc::minor(dev)));
    let sys = Path::new("/sys/dev/block").join(format!("{major}:{minor}"));
    if major == 0 || !sys.exists() {
        bail!(
            "{} is on a filesystem without a block device ({major}:{minor}, e.g. tmpfs or overlay): give the device node",
            path.display()
        );
    }
    if !sys.join("partition").exists() {
        return Ok((major, minor));
    }
    // /sys/dev/block/M:m links to …/block/<disk>/<partition>: the disk is the parent directory.
    let disk = std::fs::canonicalize(&sys)?.parent().map(|d| d.join("dev")).context("a partition has a disk")?;
    let text = std::fs::read_to_string(&disk).with_context(|| format!("reading {}", disk.display()))?;
    parse_dev(text.trim()).with_context(|| format!("{} holds no major:minor", disk.display()))
}

fn parse_dev(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The kernel's name of a block device (`vda`, `loop0`), for people; the number when it has none.
pub fn block_device_name(major: u64, minor: u64) -> String {
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).unwrap_or_default();
    uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")).map_or_else(|| format!("{major}:{minor}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_without_a_disk_and_missing_paths_say_what_to_give() {
        let err = block_device_of(Path::new("/nonexistent/x")).unwrap_err().to_string();
        assert_eq!(err, "/nonexistent/x does not exist: give a block device or a path on a mounted disk");
        let err = block_device_of(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(err.starts_with("/dev/null is a character device"), "{err}");
        let err = block_device_of(Path::new("/proc/self")).unwrap_err().to_string();
        assert!(err.contains("is on a filesystem without a block device (0:"), "{err}");
        assert_eq!(parse_dev("253:0"), Some((253, 0)));
    }
}
