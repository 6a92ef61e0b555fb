use std::{env, path::PathBuf, process::Command};

use anyhow::{Context as _, ensure};

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("..");
    build_probes(&root)?;
    build_idle(&root)?;
    build_load(&root)
}

/// The eBPF object, built from `probe-ebpf` with the pinned nightly (`probe_common::EBPF_TOOLCHAIN`) on every build, never committed.
fn build_probes(root: &std::path::Path) -> anyhow::Result<()> {
    let probe_dir = root.join("probe-ebpf");
    let probe_dir = probe_dir.to_str().context("non-UTF-8 path")?;
    aya_build::build_ebpf(
        [aya_build::Package { name: "probe-ebpf", root_dir: probe_dir, ..Default::default() }],
        aya_build::Toolchain::Custom(probe_common::EBPF_TOOLCHAIN),
    )
}

/// The target image's program: a static, libc-free `pause()` loop, so the image builds from
/// `scratch` with no registry.
fn build_idle(root: &std::path::Path) -> anyhow::Result<()> {
    let src = root.join("docker/idle.c");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(env::var("OUT_DIR")?).join("idle");
    let status = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-static", "-nostdlib", "-Os", "-s", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .context("running the C compiler for docker/idle.c (install gcc)")?;
    ensure!(status.success(), "compiling docker/idle.c failed: {status}");
    Ok(())
}

/// The workload `compare --load` runs in the target container: static too, with glibc's pthreads
/// (libc6-dev's libc.a, which `cargo xtask setup` installs).
fn build_load(root: &std::path::Path) -> anyhow::Result<()> {
    let src = root.join("docker/load.c");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(env::var("OUT_DIR")?).join("load");
    let status = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-static", "-pthread", "-O2", "-s", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .context("running the C compiler for docker/load.c (install gcc)")?;
    ensure!(status.success(), "compiling docker/load.c failed (static linking needs libc6-dev): {status}");
    Ok(())
}
