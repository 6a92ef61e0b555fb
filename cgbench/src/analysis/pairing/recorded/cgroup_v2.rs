//! Pairing replayed on what the kernel really sent: event streams recorded by `cargo xtask
//! vm-test` (Debian 12's kernel 6.1 under qemu, Docker 20.10 on cgroup v2, `--attach auto`), with
//! what the VM's own pairing made of each trial. Each file holds two iterations of a run — four
//! memory trials, then four cpu trials, one per route — and every event of its `--events` file
//! within their windows; cut out of `target/vm-test/<driver>-auto.{json,events}`.

use probe_common::CgroupKey;
use serde::Deserialize;

use super::super::*;
use crate::{
    kernel::events::{self, cgroup_from_id},
    resource::{CpuGrain, Limit},
    trial::{PlannedTrial, Route, Target},
};

#[derive(Deserialize)]
struct Recording {
    own_tgid: u32,
    container_id: String,
    trials: Vec<RecordedTrial>,
    events: Vec<KernelEvent>,
}

#[derive(Deserialize)]
struct RecordedTrial {
    index: usize,
    route: Route,
    limit: Limit,
    file: String,
    value: String,
    #[serde(deserialize_with = "cgroup_from_id")]
    cgroup: CgroupKey,
    start_ns: u64,
    end_ns: u64,
    paired_in_vm: Enforced,
}

/// Who enforced a trial's limit, and when.
#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Enforced {
    writer_comm: String,
    writer_pid: u32,
    write_exit_ns: u64,
    runc_write_exit_ns: Option<u64>,
    latency_ns: u64,
}

/// Pairs a recording as `compare` does and returns each trial with what the VM made of it, and
/// the events.
fn replay(recording: &str) -> (Vec<(TrialResult, Enforced)>, Vec<KernelEvent>) {
    let recording: Recording = serde_json::from_str(recording).unwrap();
    let (trials, in_vm): (Vec<ExecutedTrial>, Vec<Enforced>) = recording
        .trials
        .into_iter()
        .map(|t| {
            let planned = PlannedTrial { index: t.index, route: t.route, limit: t.limit, warmup: false };
            let target = Target { file: t.file, value: t.value, cgroup: t.cgroup };
            let executed = ExecutedTrial {
                planned,
                target,
                start_ns: t.start_ns,
                end_ns: t.end_ns,
                lost_events: 0,
                container_gone: false,
                read_back: None,
            };
            (executed, t.paired_in_vm)
        })
        .unzip();
    let actors = Actors { own_tgid: recording.own_tgid, container_id: &recording.container_id };
    let results = pair(trials, events::join_split_requests(recording.events.clone()), &actors);
    (results.into_iter().zip(in_vm).collect(), recording.events)
}

/// Who enforced a replayed trial: the writer, its pid, and whether runc's own write came after.
fn enforced(result: &TrialResult) -> Enforced {
    let Outcome::Paired(t) = &result.outcome else {
        panic!("trial {}: {:?}", result.trial.planned.index, result.outcome)
    };
    Enforced {
        writer_comm: t.writer_comm.clone(),
        writer_pid: t.writer_pid,
        write_exit_ns: t.write_exit_ns,
        runc_write_exit_ns: t.runc_write_exit_ns,
        latency_ns: t.latency_ns,
    }
}

fn writers(replayed: &[(TrialResult, Enforced)]) -> Vec<(&'static str, &'static str, String, bool)> {
    replayed
        .iter()
        .map(|(r, _)| {
            let e = enforced(r);
            (
                r.trial.planned.route.flag(),
                r.trial.planned.limit.resource().name(),
                e.writer_comm,
                e.runc_write_exit_ns.is_some(),
            )
        })
        .collect()
}

/// Every trial pairs as it did in the VM.
fn pairs_as_in_the_vm(replayed: &[(TrialResult, Enforced)]) {
    for (result, in_vm) in replayed {
        assert_eq!(&enforced(result), in_vm, "trial {}", result.trial.planned.index);
    }
}

/// cgroupfs driver: runc writes the limit; nothing else does.
#[test]
fn cgroupfs_driver_runc_enforces() {
    let (replayed, _) = replay(include_str!("cgroupfs.json"));
    pairs_as_in_the_vm(&replayed);
    for (route, resource, writer, runc_beside) in writers(&replayed) {
        let expected = if route == "raw" || route == "raw-open" { "cgbench" } else { "runc" };
        assert_eq!((writer.as_str(), runc_beside), (expected, false), "{route} {resource}");
    }
}

/// systemd driver, with cpu values nudged in systemd's steps: systemd (pid 1) writes every
/// property of the unit, the limit among them, before runc writes the limit again — for memory
/// and cpu alike.
#[test]
fn systemd_driver_systemd_enforces_memory_and_cpu() {
    let (replayed, _) = replay(include_str!("systemd.json"));
    pairs_as_in_the_vm(&replayed);
    for (route, resource, writer, runc_beside) in writers(&replayed) {
        let expected = if route == "raw" || route == "raw-open" { ("cgbench", false) } else { ("systemd", true) };
        assert_eq!((writer.as_str(), runc_beside), expected, "{route} {resource}");
    }
}

/// systemd driver, with cpu values between systemd's steps (as cgbench once nudged them, by 1
/// µs): systemd writes the quota rounded up first, runc the value asked for after it. The trial
/// is runc's write; systemd's, of another value, is not.
#[test]
fn systemd_driver_rounding_a_quota_leaves_it_to_runc() {
    let (replayed, events) = replay(include_str!("systemd-rounded.json"));
    pairs_as_in_the_vm(&replayed);
    for (result, _) in replayed.iter().filter(|(r, _)| r.trial.planned.route.through_dockerd()) {
        let limit = result.trial.planned.limit;
        let Limit::Cpu { quota_us, period_us } = CpuGrain::SystemdStep.kept(limit) else { continue };
        let rounded = format!("{quota_us} {period_us}");
        let systemds = events.iter().find(|e| {
            matches!(e, KernelEvent::Write { tgid: 1, file, value, exit_ns, .. }
                if file == "cpu.max" && *value == rounded && result.trial.start_ns < *exit_ns && *exit_ns < enforced(result).write_exit_ns)
        });
        assert!(systemds.is_some(), "systemd's {rounded} before runc's {limit}");
    }
    for (route, resource, writer, runc_beside) in writers(&replayed) {
        let expected = match (route, resource) {
            ("raw" | "raw-open", _) => ("cgbench", false),
            (_, "memory") => ("systemd", true),
            _ => ("runc", false),
        };
        assert_eq!((writer.as_str(), runc_beside), expected, "{route} {resource}");
    }
}
