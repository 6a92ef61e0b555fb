//! vm-test's second stage: Docker on cgroup v2, measured end to end by the release cgbench in a
//! qemu/TCG guest booted from a Debian bookworm disk — once with Docker's cgroupfs driver (a
//! small init as PID 1), once with its systemd driver (systemd as PID 1, the container in
//! `system.slice/docker-<id>.scope`). The guest's checks (vm-guest/checks.sh) run cgbench and
//! leave its reports in a 9p share, `target/vm-test`; the host judges them (checks.rs).

mod checks;
mod report;
mod rootfs;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::Stdio,
};

use anyhow::Context as _;
pub use rootfs::{Disk, disk};

use super::Timings;
use crate::root;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Cgroupfs,
    Systemd,
}

impl Driver {
    const BOTH: [Driver; 2] = [Driver::Cgroupfs, Driver::Systemd];

    /// As `docker info` and cgbench's report name it.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Cgroupfs => "cgroupfs",
            Driver::Systemd => "systemd",
        }
    }

    /// The init the kernel starts: the baked init script, or systemd (the image's default).
    fn kernel_args(self) -> &'static str {
        match self {
            Driver::Cgroupfs => "init=/usr/local/sbin/cgbench-vm-init",
            Driver::Systemd => "systemd.unified_cgroup_hierarchy=1",
        }
    }

    /// Faults that end a run: the container killed, on both; dockerd restarted, where systemd
    /// runs it as a service.
    fn faults(self) -> &'static [&'static str] {
        match self {
            Driver::Cgroupfs => &["kill"],
            Driver::Systemd => &["kill", "restart"],
        }
    }
}

/// `cgbench compare --iterations` of each run: the 20 (88 trials with the warm-up),
/// about 45 s a run under TCG.
const ITERATIONS: usize = 20;
/// Each an `--attach` value: auto must pick fentry there.
const METHODS: [&str; 3] = ["auto", "kprobe", "tracepoint"];

/// Each a `--load` value, run with `--attach auto` (cpu) and `--attach kprobe` (memory).
const LOADS: [&str; 2] = ["cpu", "memory"];

/// The guest's `plan`, sourced by checks.sh.
fn plan(driver: Driver) -> String {
    format!(
        "iterations={ITERATIONS}\nmethods=\"{}\"\nloads=\"{}\"\nfaults=\"{}\"\n",
        METHODS.join(" "),
        LOADS.join(" "),
        driver.faults().join(" ")
    )
}

/// Boots each driver in turn and judges what its checks left; returns what failed.
pub fn test(disk: &Disk, binary: &Path, timings: &mut Timings) -> anyhow::Result<Vec<String>> {
    let share = root().join("target/vm-test");
    let guest = share.join("guest");
    std::fs::create_dir_all(&guest)?;
    std::fs::copy(binary, guest.join("cgbench"))?;
    std::fs::write(guest.join("checks.sh"), include_str!("../../../vm-guest/checks.sh"))?;
    let mut failures = Vec::new();
    for driver in Driver::BOTH {
        clear(&share, driver)?;
        std::fs::write(guest.join("plan"), plan(driver))?;
        let stage = format!("stage 2: {} driver boot", driver.name());
        timings.time(&stage, || boot(disk, &share, driver))?;
        // A stuck step, stopped by the guest's watchdog: what every process was waiting on.
        let hung = share.join(format!("{}-hung.txt", driver.name()));
        if let Ok(waits) = std::fs::read_to_string(&hung) {
            print!("{}", checks::indented(&waits));
            failures.push(format!("{} boot: a step was stuck; see {}", driver.name(), hung.display()));
        }
        if share.join(format!("{}.done", driver.name())).exists() {
            failures.extend(checks::judge(&share, driver, timings)?);
        } else {
            failures.push(format!(
                "{} boot: the checks did not finish; see {}",
                driver.name(),
                share.join(format!("{}-console.log", driver.name())).display()
            ));
        }
    }
    Ok(failures)
}

/// Removes what an earlier boot of `driver` left, so that every file judged is this boot's.
fn clear(share: &Path, driver: Driver) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(share)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{}-", driver.name())) || name == format!("{}.done", driver.name()) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Boots the disk for `driver` with `share` as the guest's /mnt/host, until it powers off.
/// Writes never reach the cached image (`snapshot=on`). The console goes to
/// `<driver>-console.log`; the checks' own lines are printed as they come.
fn boot(disk: &Disk, share: &Path, driver: Driver) -> anyhow::Result<()> {
    let append = format!("root=/dev/vda rw console=ttyS0 panic=1 quiet {}", driver.kernel_args());
    let log_path = share.join(format!("{}-console.log", driver.name()));
    let mut log = std::fs::File::create(&log_path)?;
    let mut qemu = super::qemu(&disk.kernel, &disk.initrd, 2048, 2, &append)
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw,snapshot=on", disk.image.display()))
        .arg("-virtfs")
        .arg(format!("local,path={},mount_tag=host0,security_model=none,id=host0", share.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.try_clone()?)
        .spawn()
        .context("running qemu-system-x86_64")?;
    let mut console = BufReader::new(qemu.stdout.take().context("qemu's console")?);
    let mut line = Vec::new();
    while console.read_until(b'\n', &mut line)? > 0 {
        log.write_all(&line)?;
        let text = String::from_utf8_lossy(&line);
        if let Some(start) = text.find("cgbench-vm: ") {
            println!("vm-test: {}", text[start + "cgbench-vm: ".len()..].trim_end());
        }
        line.clear();
    }
    let status = qemu.wait()?;
    println!("vm-test: {} boot ended ({status}); console in {}", driver.name(), log_path.display());
    Ok(())
}
