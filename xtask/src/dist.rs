//! `cargo xtask dist`: cgbench as one static x86_64 Linux binary (the eBPF object and the target
//! image's context are inside it), packed with README, LICENSE, shell completions and the man
//! page into a tarball with its sha256 — so a CI job runs cgbench in seconds, without building a
//! nightly toolchain and bpf-linker first. vm-test boots this same binary.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context as _, ensure};
use serde::Deserialize;

use crate::{
    process::{output, run},
    root,
};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The static binary: glibc linked in (`crt-static`), so it runs on any x86_64 Linux.
pub fn static_binary() -> anyhow::Result<PathBuf> {
    run(Command::new("cargo")
        .current_dir(root())
        .args(["build", "--release", "--package", "cgbench", "--target", TARGET])
        .env("RUSTFLAGS", "-C target-feature=+crt-static"))?;
    let binary = root().join("target").join(TARGET).join("release/cgbench");
    let linked = output(Command::new("file").arg(&binary)).unwrap_or_default();
    ensure!(!linked.contains("dynamically linked"), "{} is not static: {linked}", binary.display());
    Ok(binary)
}

/// Builds the tarball and its checksum, checks that the packed binary runs, and times a fresh
/// unpack to the first trial. Returns the packed binary, the one the tarball holds.
pub fn dist() -> anyhow::Result<PathBuf> {
    let binary = static_binary()?;
    let version = output(Command::new(&binary).arg("--version"))?;
    let version = version.split_whitespace().nth(1).context("cgbench --version printed no version")?.to_owned();
    let name = format!("cgbench-{version}-x86_64-linux");
    let out = root().join("target/dist");
    let dir = out.join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("completions"))?;
    std::fs::create_dir_all(dir.join("man"))?;
    std::fs::copy(&binary, dir.join("cgbench"))?;
    for file in ["README.md", "LICENSE"] {
        std::fs::copy(root().join(file), dir.join(file))?;
    }
    for (shell, file) in [("bash", "cgbench.bash"), ("zsh", "_cgbench"), ("fish", "cgbench.fish")] {
        let script = output(Command::new(&binary).args(["completions", shell]))?;
        ensure!(!script.is_empty(), "cgbench completions {shell} printed nothing");
        std::fs::write(dir.join("completions").join(file), script)?;
    }
    let manpage = output(Command::new(&binary).arg("manpage"))?;
    ensure!(manpage.contains(".TH cgbench"), "cgbench manpage printed no man page");
    std::fs::write(dir.join("man/cgbench.1"), manpage)?;

    let tarball = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar").current_dir(&out).arg("czf").arg(&tarball).arg(&name))?;
    let sum = output(Command::new("sha256sum").current_dir(&out).arg(tarball.file_name().expect("a file name")))?;
    std::fs::write(out.join(format!("{name}.tar.gz.sha256")), &sum)?;
    let size = std::fs::metadata(&tarball)?.len();
    println!("dist: {} ({:.1} MiB), sha256 {}", tarball.display(), size as f64 / (1 << 20) as f64, &sum[..64]);

    check_unpacked(&tarball, &name)?;
    Ok(dir.join("cgbench"))
}

/// What the JSON report says of its first trial: enough to time the start-up.
#[derive(Deserialize)]
struct Report {
    trials: Vec<Trial>,
}

#[derive(Deserialize)]
struct Trial {
    start_ns: u64,
}

/// Unpacks the tarball where nothing else is, runs its `--version` and `doctor`, and times
/// unpack → first trial on the one clock cgbench uses (CLOCK_MONOTONIC).
fn check_unpacked(tarball: &Path, name: &str) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("cgbench-dist-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let started_ns = monotonic_ns();
    let started = Instant::now();
    run(Command::new("tar").current_dir(&scratch).arg("xzf").arg(tarball))?;
    let cgbench = scratch.join(name).join("cgbench");
    let json = scratch.join("first.json");
    let first_run = Command::new(&cgbench)
        .args(["compare", "--iterations", "1", "--warmup", "0", "--routes", "raw", "--quiet", "--json"])
        .arg(&json)
        .output()?;
    let checked = if first_run.status.success() {
        let report: Report = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
        let first = report.trials.first().context("the first run has no trial")?;
        println!(
            "dist: unpack → first trial {:.2} s (the whole first run {:.2} s)",
            (first.start_ns - started_ns) as f64 / 1e9,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "the unpacked cgbench could not run compare: {}",
            String::from_utf8_lossy(&first_run.stderr).trim()
        ))
    };
    let version = output(Command::new(&cgbench).arg("--version"));
    let doctor = Command::new(&cgbench).arg("doctor").output()?;
    let _ = std::fs::remove_dir_all(&scratch);
    println!("dist: the unpacked binary says {}", version?.trim());
    ensure!(
        doctor.status.success(),
        "the unpacked `cgbench doctor` failed: {}",
        String::from_utf8_lossy(&doctor.stdout)
    );
    checked
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC cannot fail on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `cargo xtask ci-example`: the steps of examples/ci/limit-latency.yml, run for real on this
/// host with the tarball `dist` packs — install (checksum, PATH, doctor), two measurements, the
/// verdict. A regression verdict is an outcome, not a failure (two runs on a shared machine may
/// differ); a step that fails or a missing Markdown verdict is.
pub fn ci_example() -> anyhow::Result<()> {
    dist()?;
    let out = root().join("target/dist");
    let tarball = std::fs::read_dir(&out)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-x86_64-linux.tar.gz"))
        .context("dist left no tarball")?;
    let work = std::env::temp_dir().join(format!("cgbench-ci-example-{}", std::process::id()));
    std::fs::create_dir_all(work.join("bin"))?;
    let path = format!("{}:{}", work.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let script = root().join("examples/ci/cgbench-ci.sh");
    let step = |args: &[&str]| {
        Command::new(&script).args(args).current_dir(&work).env("CGBENCH_PREFIX", &work).env("PATH", &path).status()
    };
    let outcome = (|| {
        ensure!(step(&["install", &tarball.to_string_lossy()])?.success(), "the install step failed");
        for run in ["base.json", "new.json"] {
            let status = step(&["measure", run, "--iterations", "30", "--routes", "api,raw"])?;
            ensure!(status.success(), "the measure step failed for {run}");
        }
        let verdict = step(&["verdict", "base.json", "new.json", "diff.md"])?;
        ensure!(matches!(verdict.code(), Some(0 | 1)), "the verdict step failed: {verdict}");
        let markdown = std::fs::read_to_string(work.join("diff.md")).context("the verdict wrote no Markdown")?;
        ensure!(markdown.contains("| route |"), "the verdict's Markdown holds no table");
        println!("ci-example: every step ran; the verdict (exit {:?}):\n{markdown}", verdict.code());
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    outcome
}
