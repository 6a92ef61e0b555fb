//! `cargo xtask vm-test`: what this machine's kernel cannot show (fentry, kprobes,
//! cgroup v2, Docker's systemd driver), shown under qemu with TCG (KVM does not work here), in
//! two stages: cgbench's self-test on Debian's distribution kernel, then Docker on cgroup v2
//! with both cgroup drivers, measured end to end.

mod docker;
mod selftest;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::ensure;

use crate::process::{apt_install, have};

/// Where the kernel package, the initramfs, the root filesystem and its image are kept between
/// runs.
const VM_CACHE: &str = "/var/cache/cgbench-vm";

pub fn test() -> anyhow::Result<()> {
    let mut timings = Timings::default();
    let cache = Path::new(VM_CACHE);
    std::fs::create_dir_all(cache)?;
    timings.time("qemu, debootstrap, cpio and busybox", prerequisites)?;
    // The binary `dist` packs, without dist's check of the tarball on this host's Docker: the
    // VMs have their own dockerd, and the host's may be busy with other work.
    let binary = timings.time("static cgbench", crate::dist::static_binary)?;
    let disk = timings.time("bookworm disk (debootstrap, image)", || docker::disk(cache))?;
    let mut failures = timings.time("stage 1: selftest boot", || selftest::run(cache, &binary))?;
    failures.extend(docker::test(&disk, &binary, &mut timings)?);
    timings.print();
    ensure!(failures.is_empty(), "vm-test failed:\n  {}", failures.join("\n  "));
    Ok(())
}

fn prerequisites() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (program, package) in [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("cpio", "cpio"),
        ("busybox", "busybox-static"),
        ("debootstrap", "debootstrap"),
    ] {
        if !have(program) {
            missing.push(package);
        }
    }
    if missing.is_empty() { Ok(()) } else { apt_install(&missing) }
}

/// qemu-system-x86_64 under TCG booting `kernel`, its serial console on stdout, powering off
/// for good (no reboot), within a time limit.
fn qemu(kernel: &Path, initrd: &Path, memory_mib: u32, cpus: u32, append: &str) -> Command {
    let mut qemu = Command::new("timeout");
    qemu.args(["1800", "qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64", "-nographic", "-no-reboot"])
        .args(["-m", &memory_mib.to_string(), "-smp", &cpus.to_string(), "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append]);
    qemu
}

/// How long each stage took, printed at the end: what CI's time goes to. Notes are the steps
/// inside a stage, timed where they ran (in the guest).
#[derive(Default)]
struct Timings(Vec<Timing>);

enum Timing {
    Stage(String, Duration),
    Note(String, f64),
}

impl Timings {
    fn time<T>(&mut self, stage: &str, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let started = Instant::now();
        let done = work();
        self.0.push(Timing::Stage(stage.to_owned(), started.elapsed()));
        done
    }

    fn note(&mut self, step: &str, seconds: f64) {
        self.0.push(Timing::Note(step.to_owned(), seconds));
    }

    fn print(&self) {
        println!("vm-test: stage timings");
        let mut total = Duration::ZERO;
        for timing in &self.0 {
            match timing {
                Timing::Stage(stage, took) => {
                    total += *took;
                    println!("vm-test:   {stage:<52}{:>7.0} s", took.as_secs_f64());
                }
                Timing::Note(step, seconds) => println!("vm-test:       {step:<48}{seconds:>7.1} s"),
            }
        }
        println!("vm-test:   {:<52}{:>7.0} s", "in all", total.as_secs_f64());
    }
}
