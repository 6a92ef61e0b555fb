//! The in-effect milestone replayed on real event streams, recorded with `--load cpu` and
//! `--load memory`, `--events` and `--json` (each file's `recorded` says how): on the development
//! machine (cgroup v1, kernel 6.18, tracepoints; the raw and runc routes), and in vm-test's VM
//! (cgroup v2, kernel 6.1, fentry under the systemd driver and kprobes under cgroupfs; the raw and
//! API routes, raw trials timed by cgbench's clock). Every event of the run is in the probes' raw
//! format, and each trial's effect as the run reported it.

use serde_json::Value;

use super::{
    super::{effect::*, *},
    event, number, trial,
};
use crate::{
    load::Load,
    resource::{Limits, Resource},
    trial::Route,
};

/// The recording's trials paired and given their effects as a run does, and what the run said.
fn replayed(recording: &str, load: Load) -> Vec<(TrialResult, Value)> {
    let recorded: Value = serde_json::from_str(recording).unwrap();
    let trials: Vec<ExecutedTrial> = recorded["trials"].as_array().unwrap().iter().map(trial).collect();
    let mut events: Vec<KernelEvent> = recorded["events"].as_array().unwrap().iter().filter_map(event).collect();
    let actors = Actors {
        own_tgid: number(&recorded["own_tgid"]) as u32,
        container_id: recorded["container_id"].as_str().unwrap(),
    };
    let initial: Limits = serde_json::from_value(recorded["initial_limits"].clone()).unwrap();
    let mut results = pair(trials, events.clone(), &actors);
    events.sort_by_key(KernelEvent::time_ns);
    find(&mut results, &events, load, &initial, None);
    let said = recorded["trials"].as_array().unwrap().iter().map(|t| t["effect"].clone());
    results.into_iter().zip(said).collect()
}

fn cpu() -> Vec<(TrialResult, Value)> {
    replayed(include_str!("cpu_load.json"), Load::Cpu)
}

fn memory() -> Vec<(TrialResult, Value)> {
    replayed(include_str!("memory_load.json"), Load::Memory)
}

/// Docker's systemd driver, fentry/fexit: `cpu.max` written by systemd for the API route.
fn v2_cpu() -> Vec<(TrialResult, Value)> {
    replayed(include_str!("cgroup_v2_cpu_load.json"), Load::Cpu)
}

/// Docker's cgroupfs driver, kprobes: `memory.max` written by runc for the API route.
fn v2_memory() -> Vec<(TrialResult, Value)> {
    replayed(include_str!("cgroup_v2_memory_load.json"), Load::Memory)
}

/// Replayed, every trial gets the effect the run reported: the milestone is a function of the
/// events, nothing else.
#[test]
fn replayed_effects_are_what_the_runs_reported() {
    for (result, said) in cpu().into_iter().chain(memory()).chain(v2_cpu()).chain(v2_memory()) {
        let got = serde_json::to_value(&result.effect).unwrap();
        assert_eq!(got, said, "trial {} ({:?})", result.trial.planned.index, result.trial.planned.limit);
    }
}

/// Every trial of the loaded resource has its effect seen or says why not, and only those do.
#[test]
fn every_loaded_trial_has_an_effect_or_a_reason() {
    for (load, results) in [(Resource::Cpu, cpu()), (Resource::Memory, memory())] {
        for (r, _) in results {
            assert!(r.timeline().is_some(), "every recorded trial pairs: {:?}", r.outcome);
            assert_eq!(r.effect.is_some(), r.trial.planned.limit.resource() == load);
        }
    }
}

/// On 6.18 with 0.5 and 1 CPU and two busy threads, a decrease is felt tens of ms after the
/// write — once the group has spent its new quota — and an increase that found the group
/// throttled within a fraction of a millisecond: the write itself unthrottles it.
#[test]
fn a_cpu_decrease_is_felt_a_quota_later_and_an_increase_at_once() {
    let results = cpu();
    let effects = |direction| -> Vec<&Effect> {
        results
            .iter()
            .filter_map(|(r, _)| r.effect.as_ref())
            .filter(|e| e.direction == direction)
            .map(|e| &e.effect)
            .collect()
    };
    for e in effects(Direction::Decrease) {
        let Effect::Seen { after_applied_ns, .. } = e else { panic!("{e:?}") };
        assert!((10_000_000..BOUND_NS).contains(after_applied_ns), "{e:?}");
    }
    let increases = effects(Direction::Increase);
    assert!(increases.iter().any(|e| matches!(e, Effect::Seen { .. })));
    for e in increases {
        match e {
            Effect::Seen { after_applied_ns, .. } => assert!(*after_applied_ns < 1_000_000, "{e:?}"),
            Effect::Nothing { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

/// Without the scheduler's events the effect is missing, with the bound as the reason; it is
/// never filled in.
#[test]
fn without_its_events_an_effect_is_missing() {
    let mut results: Vec<TrialResult> = cpu().into_iter().map(|(r, _)| r).collect();
    let recorded: Value = serde_json::from_str(include_str!("cpu_load.json")).unwrap();
    let initial: Limits = serde_json::from_value(recorded["initial_limits"].clone()).unwrap();
    find(&mut results, &[], Load::Cpu, &initial, None);
    for InEffect { direction, effect: e } in results.iter().filter_map(|r| r.effect.as_ref()) {
        match direction {
            Direction::Decrease => {
                assert!(matches!(e, Effect::Missing { reason } if reason.contains("within 300 ms")), "{e:?}")
            }
            Direction::Increase => assert!(matches!(e, Effect::Nothing { .. }), "{e:?}"),
        }
    }
}

/// On v1 a lower memory limit is reclaimed down to inside the write (`mem_cgroup_resize_max`),
/// so the write's return is the moment usage is at or under it; a higher one has nothing to do.
#[test]
fn a_memory_decrease_reclaims_inside_the_write() {
    for (r, _) in memory() {
        let Some(e) = r.effect.as_ref() else { continue };
        match (e.direction, &e.effect) {
            (Direction::Decrease, Effect::Seen { ns, after_applied_ns: 0, signal }) => {
                assert_eq!(*ns, r.timeline().unwrap().write_exit_ns);
                assert!(signal.starts_with("reclaimed inside the write"), "{signal}");
            }
            (Direction::Increase, Effect::Nothing { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// The effect groups split each route's trials by direction and account for every one of them;
/// the stage's sample is the seen trials, timed from the same applied writes.
#[test]
fn effect_groups_account_for_every_trial_by_direction() {
    let results: Vec<TrialResult> = cpu().into_iter().map(|(r, _)| r).collect();
    let groups = crate::analysis::effects::groups(&results);
    let with_effect = results.iter().filter(|r| r.effect.is_some()).count();
    assert_eq!(groups.iter().map(|g| g.trials).sum::<usize>(), with_effect);
    for g in &groups {
        assert_eq!(g.seen + g.oom_kills + g.nothing + g.refused + g.missing, g.trials, "{g:?}");
        assert_eq!(g.applied_to_effect.map_or(0, |s| s.n), g.seen + g.oom_kills, "{g:?}");
        if let (Some(applied), Some(in_effect)) = (g.applied, g.in_effect) {
            assert!(in_effect.median_ns >= applied.median_ns, "{g:?}");
        }
    }
    let decrease = groups.iter().find(|g| g.route == Route::Raw && g.direction == Direction::Decrease).unwrap();
    assert!(decrease.applied_to_effect.unwrap().median_ns > 1000.0 * decrease.applied.unwrap().median_ns);
}

/// Probes the kernel refused leave every loaded trial missing, with the reason, and a memory
/// decrease is not "nothing reclaimed".
#[test]
fn with_the_effect_probes_unavailable_every_effect_is_missing() {
    let mut results: Vec<TrialResult> = memory().into_iter().map(|(r, _)| r).collect();
    let recorded: Value = serde_json::from_str(include_str!("memory_load.json")).unwrap();
    let initial: Limits = serde_json::from_value(recorded["initial_limits"].clone()).unwrap();
    find(&mut results, &[], Load::Memory, &initial, Some("refused"));
    let effects: Vec<&InEffect> = results.iter().filter_map(|r| r.effect.as_ref()).collect();
    assert!(!effects.is_empty());
    assert!(effects.iter().all(|e| e.effect == Effect::Missing { reason: "refused".into() }), "{effects:?}");
}

/// The terminal and Markdown reports show each route's increases and decreases on rows of
/// their own, the stage between applied and in effect, and why a trial has no time.
#[test]
fn reports_show_applied_and_in_effect_by_direction() {
    let results: Vec<TrialResult> = cpu().into_iter().map(|(r, _)| r).collect();
    let mut report = crate::report::fixtures::report();
    report.config.load = Load::Cpu;
    report.effects = crate::analysis::effects::groups(&results);
    let table = report.table();
    assert!(table.contains("in effect (--load cpu)"), "{table}");
    for row in ["raw write      cpu increase", "raw write      cpu decrease", "runc update    cpu decrease"] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }
    assert!(table.contains("nothing to lift"), "{table}");
    let mut markdown = Vec::new();
    report.write(crate::report::Format::Markdown, &mut markdown).unwrap();
    let markdown = String::from_utf8(markdown).unwrap();
    assert!(markdown.contains("### In effect") && markdown.contains("| raw write | cpu | decrease |"), "{markdown}");
}

/// The CSV carries each trial's direction and effect beside its timestamps, as the JSON does.
#[test]
fn csv_rows_carry_the_effect() {
    let results: Vec<TrialResult> = cpu().into_iter().map(|(r, _)| r).collect();
    let mut report = crate::report::fixtures::report();
    report.config.load = Load::Cpu;
    report.trials = results;
    let mut csv = Vec::new();
    report.write(crate::report::Format::Csv, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let seen: Vec<&Vec<&str>> = rows.iter().filter(|r| r[column("effect_status")] == "seen").collect();
    assert!(!seen.is_empty(), "{csv}");
    for row in seen {
        let at: u64 = row[column("effect_ns")].parse().unwrap();
        let after: u64 = row[column("effect_after_applied_ns")].parse().unwrap();
        assert!(after > 0 && at > after, "{row:?}");
        assert!(["increase", "decrease"].contains(&row[column("effect_direction")]), "{row:?}");
    }
    let memory_rows = rows.iter().filter(|r| r[column("resource")] == "memory");
    assert!(memory_rows.into_iter().all(|r| r[column("effect_status")].is_empty()), "only the loaded resource");
}

/// On cgroup v2 as on v1: a lower `cpu.max` is felt once the group has spent its new quota, a
/// higher one at once by a throttled task; whichever process wrote it (systemd for the API
/// route here, cgbench for the raw one).
#[test]
fn on_cgroup_v2_a_cpu_decrease_is_felt_a_quota_later_and_an_increase_at_once() {
    let results = v2_cpu();
    let mut felt = [0, 0];
    for (r, _) in &results {
        let Some(InEffect { direction, effect }) = &r.effect else { continue };
        match (direction, effect) {
            (Direction::Decrease, Effect::Seen { after_applied_ns, .. }) => {
                assert!((10_000_000..BOUND_NS).contains(after_applied_ns), "{effect:?}");
                felt[0] += 1;
            }
            (Direction::Increase, Effect::Seen { after_applied_ns, .. }) => {
                assert!(*after_applied_ns < 1_000_000, "{effect:?}");
                felt[1] += 1;
            }
            (Direction::Increase, Effect::Nothing { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    // 20 trials flipping from the starting 0.5 CPU, the first a grain above it: 9 decreases.
    assert_eq!(felt[0], 9, "every decrease felt");
    assert!(felt[1] > 0);
    let api = results.iter().find_map(|(r, _)| r.timeline().filter(|_| r.trial.planned.route == Route::DockerApi));
    assert_eq!(api.map(|t| t.writer_comm.as_str()), Some("systemd"), "systemd writes cpu.max for Docker");
}

/// On cgroup v2 `memory_max_write` reclaims inside the write, as v1 does: the write's return is
/// the moment usage fits, for runc's write (API route) and cgbench's alike.
#[test]
fn on_cgroup_v2_memory_max_reclaims_inside_the_write() {
    let mut seen = 0;
    for (r, _) in v2_memory() {
        let Some(e) = r.effect.as_ref() else { continue };
        match (e.direction, &e.effect) {
            (Direction::Decrease, Effect::Seen { ns, after_applied_ns: 0, signal }) => {
                let applied = r.timeline().map_or(r.trial.end_ns, |t| t.write_exit_ns);
                assert_eq!(*ns, applied);
                assert!(signal.starts_with("reclaimed inside the write"), "{signal}");
                seen += 1;
            }
            (Direction::Increase, Effect::Nothing { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    // 20 trials flipping from the starting 64 MiB, the first a page above it: 9 decreases.
    assert_eq!(seen, 9, "every decrease reclaimed");
}
