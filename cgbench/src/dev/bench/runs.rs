//! Parts 3–5, from real runs of `cgbench compare` (they need Docker): start-up, whole-run
//! efficiency and peak memory.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use serde::{Deserialize, Serialize};

use crate::{
    analysis::stats::median, host::system::monotonic_ns, report::SCHEMA_VERSION as COMPARE_SCHEMA_VERSION,
    run::floor::needs_syscall_tracepoints, trial::Route,
};

/// Start-up is timed over this many runs, and its medians reported.
const STARTUP_RUNS: usize = 5;

#[derive(Debug, Serialize)]
pub struct Runs {
    pub startup: Startup,
    pub efficiency_1000_iterations: Efficiency,
    /// Of that 1000-iteration run.
    pub syscall_tax_duty: TaxDuty,
    pub memory: Memory,
}

/// How much of a run the host pays the syscall tax for, against how much of it the trials that
/// need the syscall tracepoints (the docker family's) take.
#[derive(Debug, Serialize)]
pub struct TaxDuty {
    pub attached_ns: u64,
    /// The run's wall time, exec to exit.
    pub wall_ns: u64,
    pub attached_share: f64,
    pub docker_family_trials_share: f64,
}

#[derive(Debug, Serialize)]
pub struct Startup {
    pub runs: usize,
    pub exec_to_first_trial_median_ns: f64,
    pub probe_load_attach_median_ns: f64,
}

/// How much of a run's wall time the trials themselves take.
#[derive(Debug, Serialize)]
pub struct Efficiency {
    pub wall_ns: u64,
    pub sum_of_trial_spans_ns: u64,
    pub sum_of_latencies_ns: u64,
    pub wall_over_trial_spans: f64,
    pub wall_over_latencies: f64,
}

/// Peak resident set sizes, KiB.
#[derive(Debug, Serialize)]
pub struct Memory {
    pub peak_rss_kib_1000_all_routes: i64,
    pub peak_rss_kib_1000_raw_routes: i64,
    pub peak_rss_kib_10000_raw_routes: i64,
}

/// The fields of `cgbench compare --json` (`report::json`) that the benchmark reads; serde
/// passes over the others.
#[derive(Deserialize)]
struct CompareReport {
    schema_version: u32,
    environment: CompareEnvironment,
    trials: Vec<CompareTrial>,
    /// Absent from reports before it existed.
    syscall_tax: Option<CompareSyscallTax>,
}

#[derive(Deserialize)]
struct CompareSyscallTax {
    attached_ns: u64,
}

#[derive(Deserialize)]
struct CompareEnvironment {
    probe_load_ns: u64,
}

#[derive(Deserialize)]
struct CompareTrial {
    route: Route,
    start_ns: u64,
    end_ns: u64,
    outcome: CompareOutcome,
}

#[derive(Deserialize)]
struct CompareOutcome {
    /// Absent unless the trial was paired.
    latency_ns: Option<u64>,
}

/// One run of `cgbench compare`, seen from outside.
struct CompareRun {
    report: CompareReport,
    wall: Duration,
    /// CLOCK_MONOTONIC, like the report's timestamps.
    spawn_ns: u64,
    peak_rss_kib: i64,
}

pub fn measure() -> anyhow::Result<Runs> {
    let (mut to_first_trial, mut probe_load) = (Vec::new(), Vec::new());
    for _ in 0..STARTUP_RUNS {
        let run = compare_run(&["--iterations", "1", "--warmup", "0", "--routes", "raw"])?;
        let first = run.report.trials.first().context("no trial in the start-up run")?;
        to_first_trial.push((first.start_ns - run.spawn_ns) as f64);
        probe_load.push(run.report.environment.probe_load_ns as f64);
    }

    let full = compare_run(&["--iterations", "1000"])?;
    let wall_ns = full.wall.as_nanos() as u64;
    let trials = &full.report.trials;
    let sum_of_trial_spans_ns: u64 = trials.iter().map(|t| t.end_ns - t.start_ns).sum();
    let sum_of_latencies_ns: u64 = trials.iter().filter_map(|t| t.outcome.latency_ns).sum();
    let docker_family_ns: u64 =
        trials.iter().filter(|t| needs_syscall_tracepoints(t.route)).map(|t| t.end_ns - t.start_ns).sum();
    let attached_ns = full.report.syscall_tax.as_ref().context("the run reported no syscall tax")?.attached_ns;

    let raw_1k = compare_run(&["--iterations", "1000", "--routes", "raw,raw-open"])?;
    let raw_10k = compare_run(&["--iterations", "10000", "--routes", "raw,raw-open"])?;
    Ok(Runs {
        startup: Startup {
            runs: STARTUP_RUNS,
            exec_to_first_trial_median_ns: median(&to_first_trial).context("no start-up run")?,
            probe_load_attach_median_ns: median(&probe_load).context("no start-up run")?,
        },
        efficiency_1000_iterations: Efficiency {
            wall_ns,
            sum_of_trial_spans_ns,
            sum_of_latencies_ns,
            wall_over_trial_spans: wall_ns as f64 / sum_of_trial_spans_ns as f64,
            wall_over_latencies: wall_ns as f64 / sum_of_latencies_ns as f64,
        },
        syscall_tax_duty: TaxDuty {
            attached_ns,
            wall_ns,
            attached_share: attached_ns as f64 / wall_ns as f64,
            docker_family_trials_share: docker_family_ns as f64 / wall_ns as f64,
        },
        memory: Memory {
            peak_rss_kib_1000_all_routes: full.peak_rss_kib,
            peak_rss_kib_1000_raw_routes: raw_1k.peak_rss_kib,
            peak_rss_kib_10000_raw_routes: raw_10k.peak_rss_kib,
        },
    })
}

/// Runs `cgbench compare ARGS --json` as a child, whose peak RSS only `wait4` reports.
fn compare_run(args: &[&str]) -> anyhow::Result<CompareRun> {
    let json = std::env::temp_dir().join(format!("cgbench-bench-run-{}.json", std::process::id()));
    let spawn_ns = monotonic_ns();
    let wall0 = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .arg("compare")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .spawn()?;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = wall0.elapsed();
    ensure!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "cgbench compare {args:?} failed");
    let text = std::fs::read_to_string(&json)?;
    std::fs::remove_file(&json)?;
    let report =
        CompareReport::parse(&text).with_context(|| format!("reading the report of cgbench compare {args:?}"))?;
    Ok(CompareRun { report, wall, spawn_ns, peak_rss_kib: usage.ru_maxrss })
}

impl CompareReport {
    /// Another schema version may mean the same names with another meaning: refused.
    fn parse(json: &str) -> anyhow::Result<CompareReport> {
        let report: CompareReport = serde_json::from_str(json)?;
        ensure!(
            report.schema_version == COMPARE_SCHEMA_VERSION,
            "schema version {}, the benchmark reads {COMPARE_SCHEMA_VERSION}",
            report.schema_version
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Format, fixtures};

    #[test]
    fn reads_what_compare_writes() {
        let mut json = Vec::new();
        fixtures::report().write(Format::Json, &mut json).unwrap();
        let report = CompareReport::parse(std::str::from_utf8(&json).unwrap()).unwrap();
        assert_eq!(report.environment.probe_load_ns, 1_400_000);
        assert_eq!(report.trials.len(), 18);
        assert_eq!(report.trials[0].outcome.latency_ns, Some(31_200_000));
        assert!(report.trials.iter().all(|t| t.start_ns <= t.end_ns));
        assert_eq!(report.trials.iter().filter(|t| t.outcome.latency_ns.is_none()).count(), 1, "the unpaired one");
    }

    #[test]
    fn refuses_another_schema_or_a_missing_field() {
        let other = format!(
            r#"{{"schema_version": {}, "environment": {{"probe_load_ns": 1}}, "trials": []}}"#,
            COMPARE_SCHEMA_VERSION + 1
        );
        assert!(CompareReport::parse(&other).is_err());
        let no_trials =
            format!(r#"{{"schema_version": {COMPARE_SCHEMA_VERSION}, "environment": {{"probe_load_ns": 1}}}}"#);
        assert!(CompareReport::parse(&no_trials).is_err());
    }
}
