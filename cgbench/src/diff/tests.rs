//! `diff` on reports built here (latencies drawn from a seeded generator), on what `compare
//! --json` writes, and on a real report recorded in fixtures/.

use std::path::Path;

use serde_json::{Value, json};

use super::{
    compare::{Diff, Verdict, compare},
    read::{self, Run},
    render,
};
use crate::{report, resource::Resource, trial::Route};

const API_MEMORY: (Route, Resource) = (Route::DockerApi, Resource::Memory);
const RAW_CPU: (Route, Resource) = (Route::Raw, Resource::Cpu);

/// `n` latencies spread uniformly over `median_ns` ± `spread` (a fraction of it).
fn latencies(seed: u64, n: usize, median_ns: f64, spread: f64) -> Vec<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| (median_ns * (1.0 + spread * (2.0 * rng.f64() - 1.0))) as u64).collect()
}

/// A report holding only what `diff` reads: the environment, and paired trials with these
/// latencies, plus an unpaired one per group.
fn report_of(kernel: &str, probe_method: &str, groups: &[((Route, Resource), Vec<u64>)]) -> Value {
    let trial = |(route, resource): (Route, Resource), outcome: Value| json!({ "route": route, "limit": { "resource": resource }, "outcome": outcome });
    let trials: Vec<Value> = groups
        .iter()
        .flat_map(|(group, sample)| {
            let paired = sample.iter().map(|ns| trial(*group, json!({ "status": "paired", "latency_ns": ns })));
            paired.chain([trial(*group, json!({ "status": "unpaired", "reason": "no write was seen" }))])
        })
        .collect();
    json!({
        "schema_version": 2,
        "environment": {
            "cgbench_version": "0.1.0",
            "kernel": kernel,
            "cgroup_layout": "hybrid",
            "docker_cgroup_driver": "cgroupfs",
            "probe_method": probe_method,
        },
        "trials": trials,
    })
}

fn report(groups: &[((Route, Resource), Vec<u64>)]) -> Value {
    report_of("6.18.44", "tracepoints", groups)
}

fn run(name: &str, document: &Value) -> Run {
    read::parse(Path::new(name), &document.to_string()).unwrap()
}

fn diff(base: &Value, new: &Value) -> Diff {
    compare(run("base.json", base), run("new.json", new), 5.0, false).unwrap()
}

fn verdicts(diff: &Diff) -> Vec<(Route, Resource, Verdict)> {
    diff.changes.iter().map(|c| (c.route, c.resource, c.verdict)).collect()
}

/// Two groups, 30 trials each, ±20 % around 12 ms (docker API) and 30 µs (raw write).
fn typical(seed: u64, api_scale: f64) -> Value {
    report(&[(API_MEMORY, latencies(seed, 30, 12e6 * api_scale, 0.2)), (RAW_CPU, latencies(seed + 1, 30, 30e3, 0.2))])
}

#[test]
fn identical_runs_are_unchanged() {
    let d = diff(&typical(1, 1.0), &typical(1, 1.0));
    assert_eq!(
        verdicts(&d),
        [(Route::DockerApi, Resource::Memory, Verdict::Unchanged), (Route::Raw, Resource::Cpu, Verdict::Unchanged)]
    );
    assert!(d.changes.iter().all(|c| c.percent == 0.0 && c.n == [30, 30]), "{d:?}");
    assert_eq!(d.regressions(), 0);
}

#[test]
fn a_doubled_median_regressed_and_a_halved_one_improved() {
    let d = diff(&typical(1, 1.0), &typical(1, 2.0));
    assert_eq!(verdicts(&d)[0], (Route::DockerApi, Resource::Memory, Verdict::Regressed));
    assert_eq!(verdicts(&d)[1].2, Verdict::Unchanged);
    assert!((d.changes[0].percent - 100.0).abs() < 1e-3, "{:?}", d.changes[0]);
    assert!(d.changes[0].percent_ci95[0] > 50.0, "{:?}", d.changes[0]);
    assert_eq!(d.regressions(), 1);
    let d = diff(&typical(1, 1.0), &typical(1, 0.5));
    assert_eq!(verdicts(&d)[0].2, Verdict::Improved);
    assert_eq!(d.regressions(), 0);
}

#[test]
fn noisy_but_equal_runs_overlap_zero_and_are_unchanged() {
    // The same wide distribution (±60 %), drawn twice: the medians differ, the intervals say
    // the difference may be nothing.
    let draw = |seed| report(&[(API_MEMORY, latencies(seed, 20, 12e6, 0.6))]);
    let d = diff(&draw(7), &draw(8));
    let change = &d.changes[0];
    assert_ne!(change.percent, 0.0);
    assert!(change.percent_ci95[0] < 0.0 && 0.0 < change.percent_ci95[1], "{change:?}");
    assert_eq!(change.verdict, Verdict::Unchanged);
}

#[test]
fn a_real_change_counts_only_past_the_threshold() {
    let tight = |scale| report(&[(RAW_CPU, latencies(3, 200, 30e3 * scale, 0.01))]);
    let (base, new) = (run("base.json", &tight(1.0)), run("new.json", &tight(1.03)));
    let d = compare(base, new, 5.0, false).unwrap();
    assert!(d.changes[0].percent_ci95[0] > 0.0, "the interval excludes zero: {:?}", d.changes[0]);
    assert_eq!(d.changes[0].verdict, Verdict::Unchanged, "+3 % is below 5 %");
    let d = compare(run("base.json", &tight(1.0)), run("new.json", &tight(1.03)), 1.0, false).unwrap();
    assert_eq!(d.changes[0].verdict, Verdict::Regressed);
}

#[test]
fn a_schema_version_from_the_future_is_refused() {
    let mut future = typical(1, 1.0);
    future["schema_version"] = json!(3);
    let error = read::parse(Path::new("new.json"), &future.to_string()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "new.json has schema_version 3, which this cgbench does not read (it reads 2): diff it with the cgbench that wrote it"
    );
}

#[test]
fn what_is_not_a_report_is_refused_in_one_line() {
    let refusal = |text: &str| read::parse(Path::new("x.json"), text).unwrap_err().to_string();
    let no_version =
        "x.json is not a cgbench report (no schema_version): give a file written by `cgbench compare --json`";
    assert_eq!(refusal("[1, 2]"), no_version);
    assert_eq!(refusal(r#"{"groups": []}"#), no_version);
    assert!(refusal("<html>").starts_with("x.json is not a cgbench report (not JSON: "), "{}", refusal("<html>"));
    assert!(refusal(r#"{"schema_version": 2, "trials": []}"#).contains("missing field `environment`"));
    let missing = read::run(Path::new("/nonexistent/base.json")).unwrap_err().to_string();
    assert!(missing.starts_with("/nonexistent/base.json cannot be read ("), "{missing}");
}

#[test]
fn differing_environments_are_refused_unless_forced() {
    let groups = [(API_MEMORY, latencies(1, 10, 12e6, 0.2))];
    let (here, there) = (report(&groups), report_of("6.1.0", "kprobes", &groups));
    let refused = compare(run("base.json", &here), run("new.json", &there), 5.0, false).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the runs differ in kernel (6.18.44 vs 6.1.0) and probe_method (tracepoints vs kprobes): compare like with like, or pass --force"
    );
    let forced = compare(run("base.json", &here), run("new.json", &there), 5.0, true).unwrap();
    assert_eq!(forced.changes.len(), 1);
    assert!(render::table(&forced).contains("warning: the runs differ in kernel (6.18.44 vs 6.1.0) and probe_method"));
}

#[test]
fn groups_of_one_run_are_listed_not_compared() {
    let sample = || latencies(1, 10, 12e6, 0.2);
    let base = report(&[(API_MEMORY, sample()), (RAW_CPU, sample())]);
    let new = report(&[(API_MEMORY, sample()), ((Route::RawKeptOpen, Resource::Cpu), sample()), (RAW_CPU, vec![])]);
    let d = diff(&base, &new);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(
        d.not_compared,
        [(Route::Raw, Resource::Cpu, "no paired trial in new"), (Route::RawKeptOpen, Resource::Cpu, "only in new")]
    );
    let only_raw = report(&[(RAW_CPU, sample())]);
    let only_api = report(&[(API_MEMORY, sample())]);
    let refused = compare(run("a.json", &only_raw), run("b.json", &only_api), 5.0, false).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "a.json and b.json have no route in common (raw vs api): run both with the same --routes"
    );
}

#[test]
fn reads_what_compare_writes() {
    let mut json = Vec::new();
    report::fixtures::report().write(report::Format::Json, &mut json).unwrap();
    let run = read::parse(Path::new("fixture.json"), std::str::from_utf8(&json).unwrap()).unwrap();
    assert_eq!(run.latencies_ns[&(Route::DockerCli, Resource::Memory)], [30_400_000.0, 31_200_000.0]);
    assert_eq!(run.latencies_ns[&(Route::DockerCli, Resource::Cpu)], [32_000_000.0], "the unpaired trial has none");
    assert_eq!(run.latencies_ns.len(), 14);
    assert_eq!(run.environment.probe_method, "tracepoints");
}

const REAL_REPORT: &str = include_str!("fixtures/report.json");

#[test]
fn a_real_report_against_itself_is_unchanged() {
    report::schema::assert_valid(&serde_json::from_str(REAL_REPORT).unwrap());
    let real = || read::parse(Path::new("report.json"), REAL_REPORT).unwrap();
    let d = compare(real(), real(), 5.0, false).unwrap();
    assert_eq!(d.changes.len(), 8);
    assert!(d.changes.iter().all(|c| c.verdict == Verdict::Unchanged && c.n == [4, 4]), "{d:?}");
}

#[test]
fn renders_for_the_terminal_and_for_a_pull_request() {
    let d = diff(&typical(1, 1.0), &typical(2, 2.0));
    insta::assert_snapshot!("table", render::table(&d));
    insta::assert_snapshot!("markdown", render::markdown(&d));
}
