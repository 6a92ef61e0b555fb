//! Helpers shared by the integration tests. They run for real: as root, against the running
//! kernel and a real dockerd (`cargo xtask test` sets both up).
#![allow(dead_code)] // each test crate uses its own subset

use std::process::{Command, Output};

pub const CGBENCH: &str = env!("CARGO_BIN_EXE_cgbench");

pub fn cgbench(args: &[&str]) -> Output {
    Command::new(CGBENCH).args(args).output().expect("running cgbench")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("running docker");
    assert!(out.status.success(), "docker {args:?} failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Containers cgbench created that still exist: must always be none after a run.
pub fn leftover_containers() -> String {
    docker(&["ps", "-aq", "--filter", "label=org.cgbench.created-by"])
}

pub fn assert_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "integration tests need root: run `cargo xtask test` as root");
}
