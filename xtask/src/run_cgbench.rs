//! Tasks that run cgbench itself: `compare`, `bench` and the test suite.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use anyhow::{Context as _, ensure};

use crate::{process::run, root};

fn cgbench_release(subcommand: &str, args: &[String]) -> anyhow::Result<()> {
    run(Command::new("cargo").current_dir(root()).args(["build", "--release", "--package", "cgbench"]))?;
    run(Command::new(root().join("target/release/cgbench")).arg(subcommand).args(args))
}

pub fn compare(args: &[String]) -> anyhow::Result<()> {
    cgbench_release("compare", args)
}

/// The target image is built first so that start-up is measured without it.
pub fn bench(args: &[String]) -> anyhow::Result<()> {
    cgbench_release("image", &[])?;
    cgbench_release("bench", args)
}

/// Runs the suite one test at a time (integration tests share the daemon and the host's
/// cgroups) and closes with one total line.
pub fn test(args: &[String]) -> anyhow::Result<()> {
    let mut child = Command::new("cargo")
        .current_dir(root())
        .arg("test")
        .args(args)
        .args(["--", "--test-threads=1"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(child.stdout.take().context("cargo test stdout")?).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse::<u64>().ok())
            };
            passed += count("passed").unwrap_or(0);
            failed += count("failed").unwrap_or(0);
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    ensure!(status.success() && failed == 0, "the test suite failed");
    Ok(())
}
