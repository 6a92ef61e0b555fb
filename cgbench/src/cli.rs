//! The command line as clap sees it. Turning it into typed options (and refusing bad input
//! before anything is touched) is `options.rs`'s job.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::{kernel::AttachMethod, trial::Route};

#[derive(Parser, Debug)]
#[command(
    name = "cgbench",
    version,
    about = "How long a container's CPU or memory limit change takes to be enforced: docker update versus a direct cgroup write, timed with eBPF"
)]
pub struct Cli {
    /// Say what happens underneath on stderr: -v which probes attached, what they watch, why a
    /// trial went unpaired; -vv every trial's events too. RUST_LOG (e.g. `cgbench=debug`) also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Time `docker update` and a direct cgroup write side by side on a fresh container.
    Compare(CompareArgs),
    /// Check what this host allows (privileges, kernel, BTF, lockdown, attach methods, cgroups,
    /// Docker); exit 0 only when `compare` can run.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Undo what runs that were killed (kill -9, OOM, a crash) left behind: their containers, a
    /// --container's limits, a tracefs mount. Runs still alive are left alone. Every command that
    /// changes the host does this first.
    Cleanup {
        /// Only list what would be undone.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change a running container's knobs by writing its own cgroup files directly — the fast
    /// path — checked first, timed per write, read back, put back whole on any failure.
    Set(crate::cli_knobs::SetArgs),
    /// A container's counters from its own cgroups: CPU, throttling, memory, I/O, pids, pressure.
    Stats(crate::cli_knobs::StatsArgs),
    /// Build cgbench's target image from docker/ if it is missing (no registry needed) and print its tag.
    Image,
    /// Compare two `compare --json` reports: how each route's median latency changed, with a 95 %
    /// confidence interval; exit 1 if any regressed.
    Diff(DiffArgs),
    /// Print the shell completion script for cgbench.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the manual page, cgbench.1 (for packaging).
    #[command(hide = true)]
    Manpage,
    /// What cgbench itself costs: probe overhead, filtering, start-up, memory (cargo xtask bench).
    #[command(hide = true)]
    Bench(BenchArgs),
    /// Raw writes to a scratch cgroup captured with one attach method (cargo xtask vm-test).
    #[command(hide = true)]
    Selftest(SelftestArgs),
    /// The benchmark's write storm (an internal helper process): two memory limits in turn, or
    /// `--value` every time (a harmless one, for a storm on a live container's cgroup).
    #[command(hide = true)]
    Storm(StormArgs),
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The report to compare against, written by `cgbench compare --json`.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The report of the change.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// The smallest change of a median that counts, as a percentage of the base median.
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    pub threshold: String,
    /// Also write the comparison as a Markdown table, for a pull-request comment.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Compare runs made on a different kernel, cgroup layout, Docker cgroup driver or probe method.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct SelftestArgs {
    /// Methods, interleaved block by block (`auto` is the best the kernel permits).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "tracepoint")]
    pub attach: Vec<AttachArg>,
    /// Writes per limit file and method.
    #[arg(long, default_value_t = 200)]
    pub writes: usize,
    /// Writes per block before the next method's turn.
    #[arg(long, default_value_t = 20)]
    pub block: usize,
    /// Attach every method at once, each timing the same writes.
    #[arg(long)]
    pub together: bool,
}

#[derive(clap::Args, Debug)]
pub struct StormArgs {
    pub cgroup_file: PathBuf,
    pub plain_file: PathBuf,
    pub millis: u64,
    #[arg(long)]
    pub value: Option<String>,
}

/// `--attach`: a method on the ladder, or the best one the kernel permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AttachArg {
    Auto,
    Fentry,
    Kprobe,
    Tracepoint,
}

impl AttachArg {
    /// `None` for `auto`.
    pub fn method(self) -> Option<AttachMethod> {
        match self {
            AttachArg::Auto => None,
            AttachArg::Fentry => Some(AttachMethod::Fentry),
            AttachArg::Kprobe => Some(AttachMethod::Kprobe),
            AttachArg::Tracepoint => Some(AttachMethod::Tracepoint),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = "bench.json")]
    pub out: PathBuf,
    /// Writes per side and per mode for the overhead figures.
    #[arg(long, default_value_t = 20_000)]
    pub writes: usize,
    /// Writes per block; sides alternate block by block.
    #[arg(long, default_value_t = 2_000)]
    pub block: usize,
    /// Length of each write storm, in seconds.
    #[arg(long, default_value_t = 3)]
    pub storm_seconds: u64,
    /// Skip the runs of `cgbench compare` (start-up, efficiency, memory).
    #[arg(long)]
    pub skip_runs: bool,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Limit changes per route, alternating memory and cpu.
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N")]
    pub iterations: usize,
    /// Iterations run first and left out of the results (caches, runc's first start).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: usize,
    /// Routes to time, comma-separated: cli (docker update), api (Engine API), cri (CRI
    /// UpdateContainerResources, on a pod of cgbench's own), containerd (Tasks.Update on Docker's
    /// containerd), runc (runc update on Docker's runc state), raw (open+write+close), raw-open
    /// (write to a kept-open file).
    #[arg(
        long,
        alias = "paths",
        value_enum,
        value_delimiter = ',',
        default_value = "cli,api,raw,raw-open",
        value_name = "LIST"
    )]
    pub routes: Vec<Route>,
    /// How to attach the probes: auto picks the best the kernel permits; a forced method the
    /// kernel refuses is an error.
    #[arg(long, value_enum, default_value = "auto")]
    pub attach: AttachArg,
    /// Seed of the shuffled route order (default: from the clock; printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The two memory limits to alternate between (bytes, or with k, m, g).
    #[arg(long, default_value = "256m,512m", value_name = "A,B")]
    pub memory_values: String,
    /// The two CPU limits to alternate between, in CPUs (as `docker update --cpus`).
    #[arg(long, default_value = "0.5,1", value_name = "A,B")]
    pub cpu_values: String,
    /// A workload in the container, to time when it feels each new limit ("in effect"): none,
    /// cpu (busy threads beyond the higher CPU limit) or memory (file pages between the two
    /// memory values, read over and over). Needs cgbench's own image and container.
    #[arg(long, value_enum, default_value = "none", conflicts_with_all = ["image", "container"])]
    pub load: crate::load::Load,
    /// Image to run instead of cgbench's own (built from docker/ when absent); must exist locally.
    #[arg(long)]
    pub image: Option<String>,
    /// Measure this running container (name or id) instead of creating one. Its limits are
    /// restored and it is left running. It needs a memory and a --cpus limit already.
    #[arg(long, value_name = "NAME", conflicts_with = "image")]
    pub container: Option<String>,
    /// The docker CLI to time.
    #[arg(long, default_value = "docker", value_name = "PATH")]
    pub docker_cli: String,
    /// The CRI runtime the `cri` route resizes its pod on (default: the containerd `cargo xtask
    /// setup` starts).
    #[arg(long, default_value = crate::host::cri::DEFAULT_ENDPOINT, value_name = "unix:///SOCKET")]
    pub cri_endpoint: String,
    /// Write the whole run, every trial with all its timestamps, as JSON (schema in README).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write every trial as a CSV row.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the summary and stage breakdown as Markdown tables.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write every raw kernel event, one JSON object a line.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Draw the latency distributions and the stage breakdown as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Exit non-zero if any event was lost, any trial unpaired or failed, or any out of order.
    #[arg(long)]
    pub strict: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The completion script of `shell`, as `cgbench completions` prints it.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cgbench", &mut script);
    script
}

/// The manual page in roff, as `cgbench manpage` prints it.
pub fn manpage() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_scripts_know_the_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completions(shell)).unwrap();
            assert!(script.contains("compare") && script.contains("diff"), "{shell}: {script}");
        }
    }

    #[test]
    fn manpage_is_roff_naming_the_commands() {
        let page = String::from_utf8(manpage().unwrap()).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains("cgbench") && page.contains("diff"), "{page}");
    }
}
