//! What cgbench says about itself when asked (`-v`, `-vv` or `RUST_LOG`): which probes attached,
//! what the in-kernel filters hold, each trial's events, why a trial went unpaired, and what the
//! probes themselves report through aya-log. Off by default: no subscriber is installed, and a
//! `tracing` macro with no subscriber costs one relaxed atomic load.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let filter = match (std::env::var("RUST_LOG"), verbose) {
        (Ok(spec), _) if !spec.is_empty() => EnvFilter::new(spec),
        (_, 0) => return,
        (_, 1) => EnvFilter::new("cgbench=debug"),
        _ => EnvFilter::new("cgbench=trace"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
