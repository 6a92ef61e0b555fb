//! The Docker VM's disk: a Debian bookworm root filesystem made by debootstrap, configured for a
//! fast TCG boot with both of Docker's cgroup drivers, as an ext4 image. Both are cached: the
//! root filesystem is rebuilt only when its package list changes, the image only when the root
//! filesystem or the files baked into it do.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

use crate::process::run;

/// What the guest runs: Docker with containerd and runc, systemd for the systemd driver, and the
/// distribution kernel it boots. AppArmor because Debian's kernel enables it: without the
/// parser, dockerd under systemd cannot load its profile and `docker run` fails.
const PACKAGES: &[&str] = &[
    "systemd-sysv",
    "dbus",
    "udev",
    "kmod",
    "procps",
    "iproute2",
    "docker.io",
    "containerd",
    "runc",
    "iptables",
    "apparmor",
    "linux-image-amd64",
    "initramfs-tools",
];

/// Files put into the image, by their path in the guest: the plumbing of the two boots. The
/// checks themselves travel through the share at every boot.
const BAKED: &[(&str, &str, u32)] = &[
    ("usr/local/sbin/cgbench-vm-init", include_str!("../../../vm-guest/cgroupfs-init"), 0o755),
    ("etc/systemd/system/cgbench-vm.service", include_str!("../../../vm-guest/cgbench-vm.service"), 0o644),
    ("etc/docker/daemon.json", include_str!("../../../vm-guest/daemon-systemd.json"), 0o644),
    ("etc/docker/cgroupfs.json", include_str!("../../../vm-guest/daemon-cgroupfs.json"), 0o644),
    ("etc/fstab", FSTAB, 0o644),
    ("etc/modules-load.d/9p.conf", "9pnet_virtio\n", 0o644),
    ("etc/hostname", "cgbench-vm\n", 0o644),
    // The modules a virtio disk with ext4 needs, instead of all of them: a 7 MB initramfs
    // rather than 37 MB, which TCG unpacks seconds faster.
    ("etc/initramfs-tools/modules", "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n", 0o644),
    ("etc/initramfs-tools/conf.d/cgbench-vm", "MODULES=list\n", 0o644),
];

const FSTAB: &str = "/dev/vda / ext4 rw,relatime 0 1\n\
    host0 /mnt/host 9p trans=virtio,version=9p2000.L,nofail,x-systemd.requires=systemd-modules-load.service 0 0\n";

/// Units a throw-away VM has no use for, which would only slow its boot.
const MASKED: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "dpkg-db-backup.timer",
    "getty@tty1.service",
    "serial-getty@ttyS0.service",
];

/// The image the VM boots from, with the kernel and initramfs inside it.
pub struct Disk {
    pub image: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The cached disk, built or rebuilt as needed, saying when it does.
pub fn disk(cache: &Path) -> anyhow::Result<Disk> {
    let rootfs = cache.join("rootfs");
    let packages = PACKAGES.join(",");
    let image = cache.join("rootfs.img");
    if !stamp_matches(&rootfs.with_extension("packages"), &packages) {
        println!("vm-test: building the root filesystem with debootstrap (a few minutes)");
        let _ = std::fs::remove_file(image.with_extension("baked"));
        debootstrap(&rootfs, &packages)?;
        std::fs::write(rootfs.with_extension("packages"), &packages)?;
    }
    let baked = format!("{packages}\n{BAKED:?}\n{MASKED:?}");
    if !stamp_matches(&image.with_extension("baked"), &baked) {
        println!("vm-test: making the disk image");
        configure(&rootfs)?;
        let _ = std::fs::remove_file(&image);
        run(Command::new("truncate").args(["-s", "4G"]).arg(&image))?;
        run(Command::new("mkfs.ext4").args(["-q", "-F", "-L", "cgbench-vm", "-d"]).arg(&rootfs).arg(&image))?;
        std::fs::write(image.with_extension("baked"), &baked)?;
    }
    let boot = |prefix: &str| -> anyhow::Result<PathBuf> {
        std::fs::read_dir(rootfs.join("boot"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
            .with_context(|| format!("no {prefix}* in the root filesystem's /boot"))
    };
    Ok(Disk { image, kernel: boot("vmlinuz-")?, initrd: boot("initrd.img-")? })
}

/// Whether `stamp` records exactly `inputs`: what the cached artefact was made from.
fn stamp_matches(stamp: &Path, inputs: &str) -> bool {
    std::fs::read_to_string(stamp).is_ok_and(|made_from| made_from == inputs)
}

/// A fresh bookworm root filesystem from the mirror this machine's apt uses.
fn debootstrap(rootfs: &Path, packages: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(rootfs);
    let _ = std::fs::remove_file(rootfs.with_extension("packages"));
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={packages}"), "bookworm"])
        .arg(rootfs)
        .arg(debian_mirror()?))?;
    // The downloaded packages would only make the image larger.
    for deb in std::fs::read_dir(rootfs.join("var/cache/apt/archives"))?.flatten() {
        if deb.path().extension().is_some_and(|e| e == "deb") {
            std::fs::remove_file(deb.path())?;
        }
    }
    Ok(())
}

/// The first Debian archive in this machine's apt sources (deb822 `URIs:` or one-line `deb`).
fn debian_mirror() -> anyhow::Result<String> {
    let listed = std::fs::read_dir("/etc/apt/sources.list.d").into_iter().flatten().flatten().map(|e| e.path());
    let sources: String = std::iter::once(PathBuf::from("/etc/apt/sources.list"))
        .chain(listed)
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect::<Vec<_>>()
        .join("\n");
    first_debian_archive(&sources)
        .context("no Debian archive (…/debian) in /etc/apt/sources.list*: debootstrap needs one")
}

fn first_debian_archive(sources: &str) -> Option<String> {
    sources
        .lines()
        .filter_map(|l| l.trim().strip_prefix("URIs:").or_else(|| l.trim().strip_prefix("deb ")))
        .flat_map(str::split_whitespace)
        .find(|uri| uri.starts_with("http") && uri.trim_end_matches('/').ends_with("/debian"))
        .map(str::to_owned)
}

/// Bakes the boots' plumbing into the root filesystem and rebuilds its initramfs with only the
/// modules listed.
fn configure(rootfs: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for (path, content, mode) in BAKED {
        let file = rootfs.join(path);
        std::fs::create_dir_all(file.parent().expect("a file in a directory"))?;
        std::fs::write(&file, content)?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode))?;
    }
    let units = rootfs.join("etc/systemd/system");
    let wants = units.join("multi-user.target.wants/cgbench-vm.service");
    std::fs::create_dir_all(wants.parent().expect("a directory"))?;
    let _ = std::fs::remove_file(&wants);
    std::os::unix::fs::symlink("/etc/systemd/system/cgbench-vm.service", &wants)?;
    for unit in MASKED {
        let _ = std::fs::remove_file(units.join(unit));
        std::os::unix::fs::symlink("/dev/null", units.join(unit))?;
    }
    std::fs::create_dir_all(rootfs.join("mnt/host"))?;
    run(Command::new("chroot").arg(rootfs).args(["update-initramfs", "-u", "-k", "all"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debian_archive_is_found_in_either_format() {
        let deb822 = "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(first_debian_archive(deb822).as_deref(), Some("http://deb.debian.org/debian"));
        let one_line = "deb [signed-by=/k.gpg] http://mirror.example/debian-security bookworm-security main\n\
                        deb [arch=amd64] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(first_debian_archive(one_line).as_deref(), Some("http://mirror.example/debian/"));
        assert_eq!(first_debian_archive("deb https://packages.cloud.google.com/apt cloud-sdk main"), None);
    }
}
