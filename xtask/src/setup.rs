//! `cargo xtask setup`: the pinned nightly, bpf-linker, Debian packages, a Docker daemon and
//! tracefs, each installed or started only when missing.

use std::{path::Path, process::Command};

use anyhow::{Context as _, ensure};

use crate::process::{apt_install, have, output, run, start_daemon, succeeds};

/// The dated nightly the eBPF crate is built with; bpf-linker is linked against its LLVM.
const NIGHTLY: &str = probe_common::EBPF_TOOLCHAIN;
/// Where bpf-linker finds the nightly's libLLVM at build time.
const LLVM_PREFIX: &str = "/opt/cgbench-llvm";
const DOCKERD_LOG: &str = "/var/log/cgbench-dockerd.log";
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

pub fn setup() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    ensure!(unsafe { libc::geteuid() } == 0, "setup installs packages and starts dockerd: run it as root");
    pinned_nightly()?;
    bpf_linker()?;
    apt_packages()?;
    docker_daemon()?;
    crate::cri::containerd()?;
    tracefs()
}

pub fn say(step: &str, what: &str) {
    println!("setup: {step}: {what}");
}

/// Exactly the pinned nightly, with rust-src for `-Z build-std`; no other toolchain is touched.
fn pinned_nightly() -> anyhow::Result<()> {
    let installed = output(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", NIGHTLY]))
        .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        say("nightly", &format!("{NIGHTLY} with rust-src present"));
        return Ok(());
    }
    run(Command::new("rustup").args([
        "toolchain",
        "install",
        NIGHTLY,
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))?;
    say("nightly", &format!("{NIGHTLY} with rust-src installed"));
    Ok(())
}

/// bpf-linker must use the same LLVM as the pinned nightly's rustc. Debian has no LLVM that new,
/// so it is linked against the nightly's own libLLVM through a symlink in `LLVM_PREFIX`. It is
/// present only when it runs and that symlink leads into the pinned nightly: one built for another
/// toolchain's LLVM is rebuilt, never reused.
fn bpf_linker() -> anyhow::Result<()> {
    let sysroot = output(Command::new("rustc").arg(format!("+{NIGHTLY}")).args(["--print", "sysroot"]))?;
    let lib_dir = Path::new(sysroot.trim()).join("lib");
    let link = Path::new(LLVM_PREFIX).join("lib/libLLVM.so");
    let linked_to_pinned = std::fs::read_link(&link).is_ok_and(|target| target.starts_with(&lib_dir));
    if linked_to_pinned && succeeds(Command::new("rustup").args(["run", NIGHTLY, "bpf-linker", "--version"])) {
        say("bpf-linker", &format!("present, linked against {NIGHTLY}'s LLVM"));
        return Ok(());
    }
    let verbose = output(Command::new("rustc").arg(format!("+{NIGHTLY}")).arg("-vV"))?;
    let major = verbose
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .with_context(|| format!("rustc +{NIGHTLY} -vV printed no LLVM version"))?
        .to_owned();
    let libllvm = std::fs::read_dir(&lib_dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libLLVM.so")))
        .with_context(|| format!("no libLLVM in {}", lib_dir.display()))?;
    std::fs::create_dir_all(link.parent().expect("a path in a directory"))?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&libllvm, &link)?;
    say("bpf-linker", &format!("building against {NIGHTLY}'s LLVM {major} (takes a few minutes)"));
    run(Command::new("cargo")
        .args(["install", "--force", "bpf-linker", "--no-default-features", "--features"])
        .arg(format!("llvm-{major}"))
        .env("LLVM_PREFIX", LLVM_PREFIX))?;
    ensure!(
        succeeds(Command::new("rustup").args(["run", NIGHTLY, "bpf-linker", "--version"])),
        "bpf-linker was built but does not run under the {NIGHTLY} toolchain"
    );
    say("bpf-linker", "installed");
    Ok(())
}

/// The C compiler (for the target image's static `idle`), protoc and, when no Docker engine is
/// installed, Debian's docker.io (dockerd, containerd, runc).
fn apt_packages() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !have("cc") {
        missing.push("gcc");
    }
    // The `--load` workload links statically against glibc; gcc only recommends its libc.a.
    if !have("cc") || !static_libc() {
        missing.push("libc6-dev");
    }
    // The containerd and CRI client crates generate their gRPC code with protoc at build time.
    if !have("protoc") {
        missing.push("protobuf-compiler");
    }
    if !have("dockerd") && !daemon_answers() {
        missing.push("docker.io");
    }
    if missing.is_empty() {
        say("packages", "present");
        return Ok(());
    }
    say("packages", &format!("installing {}", missing.join(" ")));
    apt_install(&missing)
}

/// Whether the C compiler finds a static libc (it echoes the bare name back when it does not).
fn static_libc() -> bool {
    output(Command::new("cc").arg("-print-file-name=libc.a")).is_ok_and(|path| path.trim() != "libc.a")
}

fn daemon_answers() -> bool {
    Path::new(DOCKER_SOCKET).exists()
        && succeeds(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
}

/// Starts dockerd when none answers: through systemd where it is pid 1, otherwise in the
/// background with the cgroupfs driver (the systemd driver needs systemd).
fn docker_daemon() -> anyhow::Result<()> {
    if daemon_answers() {
        say("docker", "daemon answers");
        return Ok(());
    }
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() == "systemd" {
        run(Command::new("systemctl").args(["start", "docker"]))?;
        say("docker", "daemon started by systemd");
    } else {
        let dockerd = ["dockerd", "--exec-opt", "native.cgroupdriver=cgroupfs"];
        start_daemon("dockerd", &dockerd, Path::new(DOCKERD_LOG), daemon_answers)?;
        say("docker", &format!("daemon started (log: {DOCKERD_LOG})"));
    }
    Ok(())
}

fn tracefs() -> anyhow::Result<()> {
    if Path::new("/sys/kernel/tracing/events").is_dir() {
        say("tracefs", "mounted");
        return Ok(());
    }
    run(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]))?;
    say("tracefs", "mounted on /sys/kernel/tracing");
    Ok(())
}
