//! The command line turned into typed options, one path per command. Bad input is refused here,
//! before anything on the host is touched, as `Usage` (exit code 2).

use std::{path::PathBuf, time::Duration};

use anyhow::ensure;

use crate::{
    cli::{BenchArgs, CompareArgs, DiffArgs, SelftestArgs},
    error::Usage,
    host::{
        cri::socket_of,
        system::{ensure_root, monotonic_ns},
    },
    kernel::{AttachMethod, attach},
    load::Load,
    report::Format,
    resource::{CpuGrain, Limit, Limits},
    run::plan::Schedule,
    trial::{PlannedTrial, Route},
    units::{parse_bytes, parse_cpus, parse_pair},
};

#[derive(Clone, Debug)]
pub struct CompareOptions {
    pub iterations: usize,
    pub warmup: usize,
    pub routes: Vec<Route>,
    /// `None`: the best method the kernel permits.
    pub attach: Option<AttachMethod>,
    pub seed: u64,
    pub memory_values: [u64; 2],
    pub cpu_values: [Limit; 2],
    /// The workload in the container whose feeling of each limit is timed.
    pub load: Load,
    pub image: Option<String>,
    /// Measure this existing container instead of creating one; it is left running.
    pub container: Option<String>,
    pub docker_cli: String,
    /// The CRI runtime of the `cri` route.
    pub cri_endpoint: String,
    pub quiet: bool,
    /// The files to write the run to, each checked to be writable.
    pub outputs: Vec<(Format, PathBuf)>,
    pub strict: bool,
}

impl CompareOptions {
    pub fn from_args(args: &CompareArgs) -> Result<CompareOptions, Usage> {
        Self::parse(args).map_err(Usage)
    }

    fn parse(args: &CompareArgs) -> anyhow::Result<CompareOptions> {
        ensure!(args.iterations >= 1, "--iterations must be at least 1");
        let memory_values = parse_pair(&args.memory_values, parse_bytes)?;
        for bytes in memory_values {
            ensure!(bytes >= 6 << 20, "--memory-values: {bytes} bytes is below Docker's 6 MiB minimum");
        }
        let cpu_values = parse_pair(&args.cpu_values, |t| Limit::cpus(parse_cpus(t)?))?;
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        for limit in cpu_values {
            if let Limit::Cpu { quota_us, period_us } = limit {
                ensure!(
                    quota_us <= host_cpus * period_us,
                    "--cpu-values: {limit} is more than this host's {host_cpus} CPUs"
                );
            }
        }
        let outputs: Vec<(&str, Format, &PathBuf)> = [
            ("json", Format::Json, &args.json),
            ("csv", Format::Csv, &args.csv),
            ("markdown", Format::Markdown, &args.markdown),
            ("events", Format::Events, &args.events),
            ("plot", Format::Svg, &args.plot),
        ]
        .into_iter()
        .filter_map(|(flag, format, path)| Some((flag, format, path.as_ref()?)))
        .collect();
        for (flag, _, path) in &outputs {
            check_writable(flag, path)?;
        }
        let mut routes = Vec::new();
        for &route in &args.routes {
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
        if routes.contains(&Route::Cri) {
            socket_of(&args.cri_endpoint)?;
        }
        Ok(CompareOptions {
            iterations: args.iterations,
            warmup: args.warmup,
            routes,
            attach: args.attach.method(),
            seed: args.seed.unwrap_or_else(|| monotonic_ns() ^ u64::from(std::process::id())),
            memory_values,
            cpu_values,
            load: args.load,
            image: args.image.clone(),
            container: args.container.clone(),
            docker_cli: args.docker_cli.clone(),
            cri_endpoint: args.cri_endpoint.clone(),
            quiet: args.quiet,
            outputs: outputs.into_iter().map(|(_, format, path)| (format, path.clone())).collect(),
            strict: args.strict,
        })
    }

    /// Whether the raw kernel events are to be written (`--events`); otherwise they are dropped
    /// once paired.
    pub fn keep_events(&self) -> bool {
        self.outputs.iter().any(|(format, _)| *format == Format::Events)
    }

    /// The swap limit set with every memory change: above both values, so no order of updates
    /// is ever refused ("Memory limit should be smaller than already set memoryswap limit").
    pub fn memory_swap(&self) -> u64 {
        2 * self.memory_values.iter().max().copied().unwrap_or(0)
    }

    pub fn initial_limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_values[0],
            memory_swap_bytes: self.memory_swap() as i64,
            cpu: self.cpu_values[0],
        }
    }

    /// The trials, their CPU values nudged in steps of `cpu_grain`, the grain of the daemon's path.
    pub fn schedule(&self, cpu_grain: CpuGrain) -> Vec<PlannedTrial> {
        Schedule {
            iterations: self.iterations,
            warmup: self.warmup,
            routes: &self.routes,
            memory: self.memory_values.map(|bytes| Limit::Memory { bytes }),
            cpu: self.cpu_values,
            cpu_grain,
            seed: self.seed,
        }
        .trials()
    }
}

/// Fails now, not after a long run, when an output file cannot be written. A file this check
/// creates is removed again.
fn check_writable(flag: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    ensure!(dir.is_dir(), "--{flag} {}: directory {} does not exist", path.display(), dir.display());
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

/// `cgbench diff`: two reports and what counts as a change between them.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    pub base: PathBuf,
    pub new: PathBuf,
    /// The smallest change of a median that counts, in percent of the base median.
    pub threshold_percent: f64,
    pub markdown: Option<PathBuf>,
    /// Compare runs whose environments differ.
    pub force: bool,
}

impl DiffOptions {
    pub fn from_args(args: &DiffArgs) -> Result<DiffOptions, Usage> {
        Self::parse(args).map_err(Usage)
    }

    fn parse(args: &DiffArgs) -> anyhow::Result<DiffOptions> {
        let percent = args.threshold.trim().trim_end_matches('%').trim();
        let threshold_percent =
            percent.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0).ok_or_else(|| {
                anyhow::anyhow!("--threshold `{}` is not a percentage: use one such as 5% or 2.5", args.threshold)
            })?;
        if let Some(path) = &args.markdown {
            check_writable("markdown", path)?;
        }
        Ok(DiffOptions {
            base: args.base.clone(),
            new: args.new.clone(),
            threshold_percent,
            markdown: args.markdown.clone(),
            force: args.force,
        })
    }
}

/// `cgbench bench`: what the instrument itself costs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub out: PathBuf,
    /// Writes per side (attached, detached) and per mode (open+write+close, kept open).
    pub writes: usize,
    pub block: usize,
    pub storm: Duration,
    /// Skip the `cgbench compare` runs (start-up, efficiency, memory), which need Docker.
    pub skip_runs: bool,
}

impl From<&BenchArgs> for BenchOptions {
    fn from(args: &BenchArgs) -> BenchOptions {
        BenchOptions {
            out: args.out.clone(),
            writes: args.writes,
            block: args.block.max(1),
            storm: Duration::from_secs(args.storm_seconds),
            skip_runs: args.skip_runs,
        }
    }
}

/// How the self-test's attach methods take turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SelftestMode {
    /// One method at a time, in blocks that rotate through the methods (A B C A B C …), so that
    /// a drifting machine — an emulated one drifts a lot — weighs on every method alike: each
    /// method's own cost, probes included.
    Alone,
    /// Every method attached at once, each timing the same writes: whether they agree on what
    /// they see, with the cost of all probes in every write.
    Together,
}

/// `cgbench selftest`: raw writes captured by each attach method.
#[derive(Clone, Debug)]
pub struct SelftestOptions {
    pub methods: Vec<AttachMethod>,
    pub writes: usize,
    pub block: usize,
    pub mode: SelftestMode,
}

impl SelftestOptions {
    /// Each `--attach` as the kernel takes it: `auto` is the best method it permits, and a forced
    /// method it refuses is an error, as for `compare`.
    pub fn from_args(args: &SelftestArgs) -> anyhow::Result<SelftestOptions> {
        // Asking the kernel needs root: say that, not that the kernel refused.
        ensure_root()?;
        Ok(SelftestOptions {
            methods: args.attach.iter().map(|a| attach::choose(a.method())).collect::<anyhow::Result<_>>()?,
            writes: args.writes,
            block: args.block.max(1),
            mode: if args.together { SelftestMode::Together } else { SelftestMode::Alone },
        })
    }
}
