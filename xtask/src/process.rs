//! Running the commands the tasks are made of.

use std::{
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};

pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn have(program: &str) -> bool {
    succeeds(Command::new("sh").args(["-c", &format!("command -v {program}")]))
}

/// Starts a daemon in a session of its own, logging to `log`, and waits up to 60 s until
/// `answers`. A daemon outlives the task that starts it, so it inherits none of the task's fds
/// past stderr: one started under `flock … cargo xtask test` would hold the lock for good.
pub fn start_daemon(name: &str, program: &[&str], log: &Path, answers: impl Fn() -> bool) -> anyhow::Result<()> {
    let file = std::fs::File::create(log)?;
    let mut daemon = Command::new("setsid");
    daemon.args(program).stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
    // SAFETY: close_range is async-signal-safe and touches nothing but the child's fds.
    unsafe {
        daemon.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        })
    };
    daemon.spawn().with_context(|| format!("starting {name}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers() {
        ensure!(Instant::now() < deadline, "{name} did not answer within 60 s; see {}", log.display());
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Debian packages, installed without their recommendations.
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
