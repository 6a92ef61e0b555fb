//! What the VM boots: Debian's distribution kernel and an initramfs around a static cgbench.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

use super::VM_WRITES;
use crate::process::{output, run};

/// The vmlinuz of Debian's current distribution kernel, downloaded once (not installed).
pub fn kernel(cache: &Path) -> anyhow::Result<PathBuf> {
    let extracted = cache.join("kernel");
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(extracted.join("boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
    };
    if let Some(vmlinuz) = find() {
        return Ok(vmlinuz);
    }
    let deps = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let package = deps
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-")))
        .context("apt-cache names no kernel package for linux-image-amd64")?
        .to_owned();
    if !std::fs::read_dir(cache)?.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&package)) {
        run(Command::new("apt-get").current_dir(cache).args(["download", "-qq", &package]))?;
    }
    let deb = std::fs::read_dir(cache)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&package)))
        .context("the kernel package was not downloaded")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted))?;
    find().context("the kernel package holds no vmlinuz")
}

/// busybox, the static cgbench and an init that runs the selftest once per method.
pub fn initramfs(cache: &Path, binary: &Path) -> anyhow::Result<PathBuf> {
    let dir = cache.join("initramfs");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["bin", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let busybox = output(Command::new("sh").args(["-c", "command -v busybox"]))?;
    std::fs::copy(busybox.trim(), dir.join("bin/busybox"))?;
    std::fs::copy(binary, dir.join("cgbench"))?;
    // A first, unreported selftest warms TCG's translation cache: whichever method ran first
    // would otherwise pay for translating the kernel's write path (measured: 2× slower). The
    // methods then run interleaved in blocks within one process, so emulation drift weighs on
    // all of them alike; then all at once.
    let init = format!(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sys /sys\n\
         mount -t cgroup2 none /sys/fs/cgroup\n\
         echo '+memory +cpu' > /sys/fs/cgroup/cgroup.subtree_control\n\
         /cgbench selftest --attach tracepoint --writes 40 > /dev/null\n\
         /cgbench selftest --attach fentry,kprobe,tracepoint --writes {VM_WRITES}\n\
         /cgbench selftest --attach fentry,kprobe,tracepoint --writes {VM_WRITES} --together\n\
         echo CGBENCH-VM-DONE\n\
         poweroff -f\n"
    );
    std::fs::write(dir.join("init"), init)?;
    run(Command::new("chmod").arg("+x").arg(dir.join("init")).arg(dir.join("bin/busybox")).arg(dir.join("cgbench")))?;
    let initrd = cache.join("initramfs.cpio.gz");
    run(Command::new("sh")
        .current_dir(&dir)
        .args(["-c", &format!("find . | cpio -o -H newc --quiet | gzip -1 > {}", initrd.display())]))?;
    Ok(initrd)
}
