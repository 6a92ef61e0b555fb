//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    compare,
    plan::Route,
    probes::AttachMethod,
    report::Format,
    resource::Limit,
    units::{parse_bytes, parse_cpus, parse_pair},
};

#[derive(Parser, Debug)]
#[command(
    name = "cgbench",
    version,
    about = "How long a container's CPU or memory limit change takes to be enforced: docker update versus a direct cgroup write, timed with eBPF"
)]
pub struct Cli {
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
    /// Build cgbench's target image from docker/ if it is missing (no registry needed) and print its tag.
    Image,
    /// What cgbench itself costs: probe overhead, filtering, start-up, memory (cargo xtask bench).
    #[command(hide = true)]
    Bench(BenchArgs),
    /// Raw writes to a scratch cgroup captured with one attach method (cargo xtask vm-test).
    #[command(hide = true)]
    Selftest {
        /// Comma-separated methods, interleaved block by block.
        #[arg(long, default_value = "tracepoint")]
        attach: String,
        /// Writes per limit file and method.
        #[arg(long, default_value_t = 200)]
        writes: usize,
        /// Writes per block before the next method's turn.
        #[arg(long, default_value_t = 20)]
        block: usize,
        /// Attach every method at once, each timing the same writes.
        #[arg(long)]
        together: bool,
    },
    /// The benchmark's write storm (an internal helper process): two memory limits in turn, or
    /// `--value` every time (a harmless one, for a storm on a live container's cgroup).
    #[command(hide = true)]
    Storm {
        cgroup_file: PathBuf,
        plain_file: PathBuf,
        millis: u64,
        #[arg(long)]
        value: Option<String>,
    },
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

/// Bad command-line input: reported on one line with exit code 2, before anything is touched.
#[derive(Debug)]
pub struct Usage(pub anyhow::Error);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Usage {}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Limit changes per route, alternating memory and cpu.
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N")]
    pub iterations: usize,
    /// Iterations run first and left out of the results (caches, runc's first start).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: usize,
    /// Routes to time: cli (docker update), api (Engine API), raw (open+write+close), raw-open
    /// (write to a kept-open file).
    #[arg(long, default_value = "cli,api,raw,raw-open", value_name = "LIST")]
    pub paths: String,
    /// How to attach the probes: auto picks the best the kernel permits; a forced method the
    /// kernel refuses is an error.
    #[arg(long, default_value = "auto", value_name = "auto|fentry|kprobe|tracepoint")]
    pub attach: String,
    /// Seed of the shuffled route order (default: from the clock; printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The two memory limits to alternate between (bytes, or with k, m, g).
    #[arg(long, default_value = "256m,512m", value_name = "A,B")]
    pub memory_values: String,
    /// The two CPU limits to alternate between, in CPUs (as `docker update --cpus`).
    #[arg(long, default_value = "0.5,1", value_name = "A,B")]
    pub cpu_values: String,
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

/// Fails now, not after a long run, when an output file cannot be written. A file this check
/// creates is removed again.
fn check_writable(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    anyhow::ensure!(dir.is_dir(), "--{flag} {}: directory {} does not exist", path.display(), dir.display());
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("--{flag} {}: cannot be written ({e})", path.display()))?;
    if !existed {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

impl CompareArgs {
    /// The output files asked for, by flag name.
    pub fn outputs(&self) -> Vec<(&'static str, Format, &PathBuf)> {
        [
            ("json", Format::Json, &self.json),
            ("csv", Format::Csv, &self.csv),
            ("markdown", Format::Markdown, &self.markdown),
            ("events", Format::Events, &self.events),
            ("plot", Format::Svg, &self.plot),
        ]
        .into_iter()
        .filter_map(|(flag, format, path)| Some((flag, format, path.as_ref()?)))
        .collect()
    }

    pub fn options(&self) -> Result<compare::Options, Usage> {
        self.parse().map_err(Usage)
    }

    fn parse(&self) -> anyhow::Result<compare::Options> {
        anyhow::ensure!(self.iterations >= 1, "--iterations must be at least 1");
        let memory_values = parse_pair(&self.memory_values, parse_bytes)?;
        for bytes in memory_values {
            anyhow::ensure!(bytes >= 6 << 20, "--memory-values: {bytes} bytes is below Docker's 6 MiB minimum");
        }
        let cpu_values = parse_pair(&self.cpu_values, |t| Limit::cpus(parse_cpus(t)?))?;
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        for limit in cpu_values {
            if let Limit::Cpu { quota_us, period_us } = limit {
                anyhow::ensure!(
                    quota_us <= host_cpus * period_us,
                    "--cpu-values: {limit} is more than this host's {host_cpus} CPUs"
                );
            }
        }
        for (flag, _, path) in self.outputs() {
            check_writable(flag, path)?;
        }
        let seed = self.seed.unwrap_or_else(|| crate::clock::monotonic_ns() ^ u64::from(std::process::id()));
        Ok(compare::Options {
            iterations: self.iterations,
            warmup: self.warmup,
            routes: Route::parse_list(&self.paths)?,
            attach: AttachMethod::parse(&self.attach)?,
            seed,
            quiet: self.quiet,
            keep_events: self.events.is_some(),
            memory_values,
            cpu_values,
            image: self.image.clone(),
            container: self.container.clone(),
            docker_cli: self.docker_cli.clone(),
        })
    }
}
