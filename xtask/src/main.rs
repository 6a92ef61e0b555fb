//! cgbench's developer tasks. Each is idempotent and says what it did.
//!
//!   cargo xtask setup              install and start what is missing (run as root)
//!   cargo xtask compare [ARGS...]  setup, build cgbench (release) and run `cgbench compare ARGS`
//!   cargo xtask test [ARGS...]     setup, then run the whole test suite (unit and integration)
//!   cargo xtask bench [ARGS...]    setup, build (release) and benchmark cgbench itself → bench.json
//!   cargo xtask dist               a static binary with completions and man page, as a tarball
//!   cargo xtask ci-example         the steps of examples/ci/limit-latency.yml, with that tarball
//!   cargo xtask vm-test            under qemu (TCG), with the binary `dist` packs: check that
//!                                  fentry, kprobe and tracepoint captures all work on Debian's
//!                                  distribution kernel, then measure Docker on cgroup v2 with
//!                                  both cgroup drivers

mod cri;
mod dist;
mod process;
mod run_cgbench;
mod setup;
mod vm;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use setup::setup;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("compare") => setup().and_then(|()| run_cgbench::compare(&args[1..])),
        Some("test") => setup().and_then(|()| run_cgbench::test(&args[1..])),
        Some("bench") => setup().and_then(|()| run_cgbench::bench(&args[1..])),
        Some("dist") => setup().and_then(|()| dist::dist().map(drop)),
        Some("ci-example") => setup().and_then(|()| dist::ci_example()),
        Some("vm-test") => setup().and_then(|()| vm::test()),
        _ => {
            eprintln!(
                "usage: cargo xtask setup | compare [cgbench compare args] | test [cargo test args] | bench [args] | dist | ci-example | vm-test"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}
