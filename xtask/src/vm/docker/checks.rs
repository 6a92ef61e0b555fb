//! The host's verdict on one boot of the Docker VM, from the files its checks left in the share.
//! Latencies are printed, never asserted: TCG runs 20–60× slower than a native host.

use std::path::Path;

use super::{
    super::Timings,
    Driver, ITERATIONS, LOADS, METHODS,
    report::{
        DoctorCheck, Honesty, Leftovers, Outcome, Report, Step, Trial, exit_code, read_json, read_lines, read_text,
    },
};

/// The routes every run times (checks.sh): one trial of each per iteration.
const ROUTES: usize = 4;

/// Prints what the boot measured, notes how long each of its steps took, and returns what failed.
pub fn judge(share: &Path, driver: Driver, timings: &mut Timings) -> anyhow::Result<Vec<String>> {
    let name = driver.name();
    let mut failures = Vec::new();
    for step in read_lines::<Step>(share, name, "steps.jsonl")? {
        timings.note(&format!("{name}: {} (exit {})", step.step, step.exit_code), step.seconds);
    }
    doctor(share, driver, &mut failures)?;
    for method in METHODS {
        measured(share, driver, method, &mut failures)?;
    }
    for load in LOADS {
        loaded(share, driver, load, &mut failures)?;
    }
    for fault in driver.faults() {
        ended_by(share, driver, fault, &mut failures)?;
    }
    Ok(failures)
}

/// `cgbench doctor` must see cgroup v2, the driver, and fentry as the method `compare` takes.
fn doctor(share: &Path, driver: Driver, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let name = driver.name();
    print!("{}", indented(&read_text(share, name, "doctor.txt")?));
    let checks: Vec<DoctorCheck> = read_json(share, name, "doctor.json")?;
    for check in checks.iter().filter(|c| c.status == "fail") {
        failures.push(format!("{name} doctor: {} fails: {}", check.name, check.detail));
    }
    let expected = [
        ("attach method", "compare will use fentry/fexit".to_owned()),
        ("cgroups", "cgroup v2: memory on v2, cpu on v2".to_owned()),
        ("docker daemon", format!("cgroup driver {name}")),
    ];
    for (check, says) in expected {
        match checks.iter().find(|c| c.name == check) {
            Some(c) if c.detail.contains(&says) => {}
            Some(c) => failures.push(format!("{name} doctor: {check} says {:?}, not {says:?}", c.detail)),
            None => failures.push(format!("{name} doctor: no {check} check")),
        }
    }
    Ok(())
}

/// One `compare` run of every route with `--attach method`: clean, complete, on cgroup v2 with
/// the driver, each trial's enforcing write by the process that should make it, and the host
/// as it was before.
fn measured(share: &Path, driver: Driver, method: &str, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let run = format!("{}-{method}", driver.name());
    if !exited_zero(share, driver, method, failures)? {
        return Ok(());
    }
    println!("vm-test: {run}: the table as cgbench printed it in the VM (emulated: TCG)");
    print!("{}", indented(&read_text(share, driver.name(), &format!("{method}.txt"))?));
    let report: Report = read_json(share, driver.name(), &format!("{method}.json"))?;
    let probes = match method {
        "auto" | "fentry" => "fentry/fexit",
        "kprobe" => "kprobes",
        _ => "tracepoints",
    };
    let environment = [
        ("cgroup layout", report.environment.cgroup_layout.as_str(), "unified"),
        ("docker cgroup driver", &report.environment.docker_cgroup_driver, driver.name()),
        ("probe method", &report.environment.probe_method, probes),
    ];
    for (what, is, should) in environment {
        if is != should {
            failures.push(format!("{run}: {what} {is}, not {should}"));
        }
    }
    complete_and_clean(&run, &report, ITERATIONS * ROUTES, failures);
    let wrong: Vec<String> = report.trials.iter().filter_map(|t| wrong_trial(t, driver)).collect();
    if let Some(first) = wrong.first() {
        failures.push(format!("{run}: {} trials not as expected, the first: {first}", wrong.len()));
    }
    for resource in ["memory", "cpu"] {
        if !report.trials.iter().any(|t| t.limit.resource == resource) {
            failures.push(format!("{run}: no {resource} trial"));
        }
    }
    left_as_found(share, driver, method, failures)?;
    if method != "auto" {
        let before = read_text(share, driver.name(), &format!("{method}.limits-before"))?;
        let after = read_text(share, driver.name(), &format!("{method}.limits-after"))?;
        if before != after {
            failures.push(format!("{run}: the container's limits were\n{before}and are now\n{after}"));
        }
    }
    Ok(())
}

/// Whether compare run `name` exited 0; if not, the failure with what it said on stderr.
fn exited_zero(share: &Path, driver: Driver, name: &str, failures: &mut Vec<String>) -> anyhow::Result<bool> {
    let code = exit_code(share, driver.name(), name)?;
    if code != 0 {
        let stderr = read_text(share, driver.name(), &format!("{name}.stderr"))?;
        failures.push(format!("{}-{name}: compare exited {code}: {}", driver.name(), stderr.trim()));
    }
    Ok(code == 0)
}

/// A run with every one of its `trials`, no lost event, no unpaired, failed or out-of-order
/// trial, and not ended early.
fn complete_and_clean(run: &str, report: &Report, trials: usize, failures: &mut Vec<String>) {
    let clean = Honesty { lost_events: 0, unpaired_trials: 0, failed_trials: 0, out_of_order_trials: 0 };
    if report.honesty != clean || report.ended_early.is_some() {
        failures.push(format!("{run}: {:?}, ended early: {:?}", report.honesty, report.ended_early));
    }
    if report.trials.len() != trials {
        failures.push(format!("{run}: {} trials, not {trials}", report.trials.len()));
    }
}

/// Why a trial is not what the driver makes of it, if it is not: paired, its target the v2 file
/// of its resource, and its enforcing write by cgbench (raw routes), runc (cgroupfs) or systemd
/// with runc's rewrite after it (systemd) — for memory and cpu alike.
fn wrong_trial(trial: &Trial, driver: Driver) -> Option<String> {
    let about = format!("trial {} ({} {} {})", trial.index, trial.route, trial.target.file, trial.target.value);
    let file = if trial.limit.resource == "memory" { "memory.max" } else { "cpu.max" };
    if trial.target.file != file {
        return Some(format!("{about}: the target is not {file}"));
    }
    let timeline = match &trial.outcome {
        Outcome::Paired(timeline) => timeline,
        // Timed by cgbench's clock, with nothing to pair: the file must hold what was written.
        Outcome::Timed if trial.read_back.as_ref() == Some(&trial.target.value) => return None,
        Outcome::Timed => return Some(format!("{about}: the file read back {:?}", trial.read_back)),
        Outcome::Unpaired { reason } | Outcome::Failed { reason } => return Some(format!("{about}: {reason}")),
    };
    let by = (timeline.writer_comm.as_str(), timeline.runc_write_exit_ns);
    let expected = match (trial.via_docker(), driver) {
        (false, _) => by == ("cgbench", None),
        (true, Driver::Cgroupfs) => by == ("runc", None),
        (true, Driver::Systemd) => {
            timeline.writer_pid == 1 && by.0 == "systemd" && by.1.is_some_and(|runc| runc > timeline.write_exit_ns)
        }
    };
    (!expected).then(|| {
        format!("{about}: enforced by {} (pid {}), runc's write beside it: {:?}", by.0, timeline.writer_pid, by.1)
    })
}

/// A `compare --load` run (routes api and raw): clean and complete on cgroup v2, every trial of
/// the loaded resource with its direction and its effect seen or the reason it was not, some
/// decrease felt, and the host as it was before.
fn loaded(share: &Path, driver: Driver, load: &str, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let run = format!("{}-load-{load}", driver.name());
    let name = format!("load-{load}");
    if !exited_zero(share, driver, &name, failures)? {
        return Ok(());
    }
    let text = read_text(share, driver.name(), &format!("{name}.txt"))?;
    println!("vm-test: {run}: the in-effect table as cgbench printed it in the VM (emulated: TCG)");
    let effect_table = text.lines().skip_while(|l| !l.starts_with("in effect")).take_while(|l| !l.is_empty());
    print!("{}", indented(&effect_table.collect::<Vec<_>>().join("\n")));
    let report: Report = read_json(share, driver.name(), &format!("{name}.json"))?;
    if report.environment.cgroup_layout != "unified" || report.environment.docker_cgroup_driver != driver.name() {
        failures.push(format!("{run}: measured on {:?}", report.environment));
    }
    complete_and_clean(&run, &report, ITERATIONS * 2, failures);
    failures.extend(wrong_effects(&report.trials, load).into_iter().map(|wrong| format!("{run}: {wrong}")));
    left_as_found(share, driver, &name, failures)
}

/// What is wrong with the effects of a `--load` run's trials: one of the loaded resource without
/// an effect or with an unknown status, one of the other resource with one, or no decrease felt.
fn wrong_effects(trials: &[Trial], load: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut decreases_felt = 0;
    for trial in trials {
        let about = format!("trial {} ({} {})", trial.index, trial.route, trial.target.value);
        match (&trial.effect, trial.limit.resource == load) {
            (None, true) => wrong.push(format!("{about}: no effect")),
            (Some(e), false) => wrong.push(format!("{about}: an effect on a resource not loaded: {e:?}")),
            (Some(e), true) if !["seen", "oom_kill", "nothing", "refused", "missing"].contains(&e.status.as_str()) => {
                wrong.push(format!("{about}: {e:?}"))
            }
            (Some(e), true) if e.status != "seen" && e.reason.as_deref().is_none_or(str::is_empty) => {
                wrong.push(format!("{about}: {} without a reason", e.status))
            }
            (Some(e), true) if e.status == "seen" && e.after_applied_ns.is_none_or(|ns| ns > 300_000_000) => {
                wrong.push(format!("{about}: seen, but not within 300 ms of the write: {e:?}"))
            }
            (Some(e), true) => decreases_felt += usize::from(e.direction == "decrease" && e.status == "seen"),
            (None, false) => {}
        }
    }
    if decreases_felt == 0 {
        wrong.push(format!("no {load} decrease was felt"));
    }
    wrong
}

/// A run that a fault ended, as on cgroup v1: exit 1, one error line, the trials before the
/// fault reported as a partial run (only the one in flight may be unpaired, saying the
/// container went), and nothing left behind.
fn ended_by(share: &Path, driver: Driver, fault: &str, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let run = format!("{}-{fault}", driver.name());
    let stderr = read_text(share, driver.name(), &format!("{fault}.stderr"))?;
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("cgbench: ")).collect();
    println!("vm-test: {run}: {}", errors.join(" / "));
    let code = exit_code(share, driver.name(), fault)?;
    if code != 1 || errors.len() != 1 || !errors[0].starts_with("error: ") {
        failures.push(format!("{run}: exit {code} with {} error lines: {errors:?}", errors.len()));
    }
    if !read_text(share, driver.name(), &format!("{fault}.txt"))?.contains("PARTIAL RUN:") {
        failures.push(format!("{run}: the table says nothing of a partial run"));
    }
    let report: Report = read_json(share, driver.name(), &format!("{fault}.json"))?;
    if report.ended_early.is_none() || report.trials.is_empty() {
        failures.push(format!("{run}: {} trials, ended early: {:?}", report.trials.len(), report.ended_early));
    }
    let last = report.trials.len().saturating_sub(1);
    for (i, trial) in report.trials.iter().enumerate() {
        let in_flight = i == last && trial.container_gone;
        if let (Some(wrong), false) = (wrong_trial(trial, driver), in_flight) {
            failures.push(format!("{run}: {wrong}"));
        }
    }
    left_as_found(share, driver, fault, failures)
}

/// No container of cgbench's, no journal entry and no tracefs mount more than before the run.
fn left_as_found(share: &Path, driver: Driver, run: &str, failures: &mut Vec<String>) -> anyhow::Result<()> {
    let lines: Vec<Leftovers> = read_lines(share, driver.name(), &format!("{run}.left"))?;
    let [before, after] = lines.as_slice() else {
        anyhow::bail!("{}-{run}.left: {} lines, not 2 (before and after)", driver.name(), lines.len());
    };
    if before != after || !after.containers.is_empty() || !after.journal.is_empty() {
        failures.push(format!("{}-{run}: before the run {before:?}, after it {after:?}", driver.name()));
    }
    Ok(())
}

pub fn indented(text: &str) -> String {
    text.lines().map(|l| format!("vm-test:   {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(route: &str, resource: &str, file: &str, by: (&str, u32), runc_write_exit_ns: Option<u64>) -> Trial {
        let (writer_comm, writer_pid) = by;
        let outcome = serde_json::json!({ "status": "paired", "write_exit_ns": 100, "writer_pid": writer_pid,
            "writer_comm": writer_comm, "runc_write_exit_ns": runc_write_exit_ns });
        let trial = serde_json::json!({ "index": 3, "route": route, "limit": { "resource": resource },
            "target": { "file": file, "value": "51000 100000" }, "outcome": outcome });
        serde_json::from_value(trial).unwrap()
    }

    #[test]
    fn each_driver_has_its_enforcing_writer() {
        let cgroupfs = trial("docker_api", "cpu", "cpu.max", ("runc", 583), None);
        assert_eq!(wrong_trial(&cgroupfs, Driver::Cgroupfs), None);
        let systemd = trial("docker_cli", "memory", "memory.max", ("systemd", 1), Some(200));
        assert_eq!(wrong_trial(&systemd, Driver::Systemd), None);
        let raw = trial("raw_kept_open", "cpu", "cpu.max", ("cgbench", 419), None);
        assert_eq!(wrong_trial(&raw, Driver::Systemd), None);
    }

    /// The first of them is what the VM showed while cgbench nudged CPU values by 1 µs.
    #[test]
    fn anything_else_is_reported() {
        let late = wrong_trial(&trial("docker_api", "cpu", "cpu.max", ("runc", 583), None), Driver::Systemd);
        assert_eq!(
            late.as_deref(),
            Some("trial 3 (docker_api cpu.max 51000 100000): enforced by runc (pid 583), runc's write beside it: None")
        );
        let runc_first = trial("docker_api", "memory", "memory.max", ("systemd", 1), Some(50));
        assert!(wrong_trial(&runc_first, Driver::Systemd).is_some());
        let v1_file = trial("raw", "memory", "memory.limit_in_bytes", ("cgbench", 419), None);
        assert!(wrong_trial(&v1_file, Driver::Cgroupfs).unwrap().ends_with("the target is not memory.max"));
        let unpaired: Trial = serde_json::from_value(serde_json::json!({ "index": 5, "route": "raw",
            "limit": { "resource": "cpu" }, "target": { "file": "cpu.max", "value": "1" },
            "outcome": { "status": "unpaired", "reason": "no write of 1 to cpu.max was seen" } }))
        .unwrap();
        assert!(wrong_trial(&unpaired, Driver::Cgroupfs).unwrap().ends_with("no write of 1 to cpu.max was seen"));
    }

    #[test]
    fn every_loaded_trial_needs_an_effect_and_some_decrease_a_seen_one() {
        let trial = |resource: &str, effect: serde_json::Value| -> Trial {
            serde_json::from_value(serde_json::json!({ "index": 2, "route": "raw", "limit": { "resource": resource },
                "target": { "file": "cpu.max", "value": "51000 100000" }, "read_back": null,
                "outcome": { "status": "timed", "latency_ns": 4000 }, "effect": effect }))
            .unwrap()
        };
        let felt =
            trial("cpu", serde_json::json!({ "direction": "decrease", "status": "seen", "after_applied_ns": 9 }));
        let lifted = trial(
            "cpu",
            serde_json::json!({ "direction": "increase", "status": "nothing", "reason": "none throttled" }),
        );
        let memory = trial("memory", serde_json::Value::Null);
        assert!(wrong_effects(&[felt, lifted, memory], "cpu").is_empty());
        let missing = trial(
            "cpu",
            serde_json::json!({ "direction": "decrease", "status": "missing", "reason": "not within 300 ms" }),
        );
        assert_eq!(wrong_effects(&[missing], "cpu"), ["no cpu decrease was felt"]);
        let bare = trial("cpu", serde_json::json!({ "direction": "increase", "status": "nothing" }));
        assert!(wrong_effects(&[bare], "cpu")[0].ends_with("nothing without a reason"));
        assert!(wrong_effects(&[trial("cpu", serde_json::Value::Null)], "cpu")[0].ends_with("no effect"));
    }

    #[test]
    fn a_raw_trial_is_right_when_its_file_reads_back_what_was_written() {
        let timed = |read_back: &str| -> Trial {
            serde_json::from_value(serde_json::json!({ "index": 6, "route": "raw", "limit": { "resource": "cpu" },
                "target": { "file": "cpu.max", "value": "51000 100000" }, "read_back": read_back,
                "outcome": { "status": "timed", "latency_ns": 4000 } }))
            .unwrap()
        };
        assert_eq!(wrong_trial(&timed("51000 100000"), Driver::Systemd), None);
        assert!(wrong_trial(&timed("max 100000"), Driver::Cgroupfs).unwrap().contains("read back"));
    }
}
