//! `cgbench stats`: a container's counters from its own cgroups — CPU, throttling, memory and its
//! events, I/O per device, pids, pressure — once, or every `--watch` interval on one screen
//! refreshed in place with rates per second, or one JSON object per sample. Reads only.

mod read;
mod render;
mod sample;

use std::{
    io::{IsTerminal as _, Write as _},
    time::Duration,
};

use anyhow::Context as _;
use serde::Serialize;

use crate::host::{cgroup::Host, docker::DockerHost, system::monotonic_ns};

/// `stats`' options, checked (see `options_knobs.rs`).
#[derive(Clone, Debug)]
pub struct StatsOptions {
    pub container: String,
    pub watch: Option<Duration>,
    pub json: bool,
}

/// One line of `--json`.
#[derive(Serialize)]
struct JsonSample<'a> {
    container: &'a str,
    container_id: &'a str,
    /// CLOCK_MONOTONIC, as every timestamp cgbench writes.
    monotonic_ns: u64,
    #[serde(flatten)]
    sample: &'a sample::Sample,
    rates: Option<&'a render::Rates>,
}

pub async fn stats(opts: &StatsOptions) -> anyhow::Result<()> {
    let docker = DockerHost::connect().await?;
    let (container, _) = docker.running_container(&opts.container).await?;
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid))
        .with_context(|| format!("reading /proc/{}/cgroup of container {}", container.pid, container.name))?;
    let host = Host::detect()?;
    let sources = read::Sources::find(&host, &proc_cgroup);
    let short = &container.id[..container.id.len().min(12)];
    let every = opts.watch.map_or_else(String::new, |w| format!(", every {}", format_interval(w)));
    let title = format!("container {} ({short}), {}{every}", container.name, host.layout());
    let refresh = opts.watch.is_some() && !opts.json && std::io::stdout().is_terminal();
    let mut previous: Option<(u64, sample::Sample)> = None;
    loop {
        let at = monotonic_ns();
        let now = match sources.sample() {
            Ok(sample) => sample,
            Err(_) if previous.is_some() && !sources.alive() => {
                println!("container {} stopped", container.name);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let rates = previous.as_ref().map(|(then, before)| render::rates(&now, before, (at - then) as f64 / 1e9));
        let mut out = std::io::stdout().lock();
        if opts.json {
            let line = JsonSample {
                container: &container.name,
                container_id: &container.id,
                monotonic_ns: at,
                sample: &now,
                rates: rates.as_ref(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else {
            // Home and clear: the next screen replaces this one instead of scrolling.
            let clear = if refresh { "\x1b[H\x1b[2J" } else { "" };
            let gap = if previous.is_some() && !refresh { "\n" } else { "" };
            write!(out, "{clear}{gap}{}", render::screen(&title, &now, rates.as_ref()))?;
        }
        out.flush()?;
        let Some(interval) = opts.watch else { return Ok(()) };
        previous = Some((at, now));
        tokio::time::sleep(interval).await;
    }
}

fn format_interval(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}
