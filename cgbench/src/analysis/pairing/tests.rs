use probe_common::CgroupKey;

use super::*;
use crate::{
    kernel::events::fixtures::*,
    resource::Limit,
    trial::{PlannedTrial, Route, Target},
};

const ME: u32 = 1000;
const RUNC_PID: u32 = 2000;
const DOCKERD: u32 = 300;
const ID: &str = "4f1cabcd";
const MEM: CgroupKey = CgroupKey { dev: 50, _pad: 0, ino: 11 };
const OTHER: CgroupKey = CgroupKey { dev: 50, _pad: 0, ino: 12 };

fn actors() -> Actors<'static> {
    Actors { own_tgid: ME, container_id: ID }
}

fn trial(route: Route, value: &str, start: u64, end: u64) -> ExecutedTrial {
    ExecutedTrial {
        planned: PlannedTrial {
            index: 0,
            route,
            limit: Limit::Memory { bytes: value.parse().unwrap() },
            warmup: false,
        },
        target: Target { file: "memory.limit_in_bytes".into(), value: value.into(), cgroup: MEM },
        start_ns: start,
        end_ns: end,
        lost_events: 0,
        container_gone: false,
        read_back: None,
    }
}

fn decode(raw: &[probe_common::Event]) -> Vec<KernelEvent> {
    raw.iter().filter_map(KernelEvent::from_raw).collect()
}

/// One `docker update --memory`, as runc does it on v1: memsw first, then the limit.
fn docker_update(value: &str, t0: u64) -> Vec<probe_common::Event> {
    vec![
        raw_request(DOCKERD, "HEAD /_ping HTTP/1.1", t0 + 100, t0 + 110),
        raw_request(DOCKERD, &format!("POST /v1.41/containers/{ID}/update HTTP/1.1"), t0 + 1_000, t0 + 1_100),
        raw_exec(RUNC_PID, t0 + 5_000),
        raw_write(RUNC_PID, "runc", MEM, "memory.memsw.limit_in_bytes", "1073741824", t0 + 9_000, t0 + 9_500, 10),
        raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", value, t0 + 10_000, t0 + 10_700, 9),
        raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", "999", t0 + 11_000, t0 + 11_100, 3),
    ]
}

#[test]
fn docker_trial_pairs_request_exec_and_target_write() {
    let events = decode(&docker_update("268439552", 0));
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], events.clone(), &actors());
    let Outcome::Paired(t) = &results[0].outcome else { panic!("{:?}", results[0].outcome) };
    assert_eq!(t.request_ns, Some(1_100));
    assert_eq!(t.request_syscall.as_deref(), Some("read"));
    assert_eq!(t.exec_ns, Some(5_000));
    assert_eq!(t.first_write_ns, 9_000, "memsw is runc's first write");
    assert_eq!((t.write_enter_ns, t.write_exit_ns), (10_000, 10_700));
    assert_eq!(t.latency_ns, 10_700, "from the client's start");
    assert_eq!(t.daemon_latency_ns, Some(10_700 - 1_100));
    assert_eq!((t.writer_pid, t.writer_comm.as_str()), (RUNC_PID, "runc"));
    assert_eq!(t.runc_write_exit_ns, None, "runc wrote first: nothing beside it");
}

#[test]
fn raw_trial_starts_at_user_space_open() {
    let events = decode(&[raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "536879104", 1_500, 1_900, 9)]);
    let results = pair(vec![trial(Route::Raw, "536879104", 1_000, 2_000)], events.clone(), &actors());
    assert_eq!(results[0].latency_ns(), Some(900));
    let Outcome::Paired(t) = &results[0].outcome else { panic!() };
    assert_eq!((t.request_ns, t.exec_ns, t.daemon_latency_ns), (None, None, None));
}

#[test]
fn writes_of_other_cgroups_writers_and_values_are_ignored() {
    let events = decode(&[
        raw_write(RUNC_PID, "runc", OTHER, "memory.limit_in_bytes", "268439552", 1_500, 1_600, 9),
        raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "268439552", 1_500, 1_600, 9),
        raw_write(RUNC_PID, "runc", MEM, "memory.soft_limit_in_bytes", "268439552", 1_500, 1_600, 9),
        raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", "268443648", 1_500, 1_600, 9),
        raw_request(DOCKERD, &format!("POST /v1.41/containers/{ID}/update HTTP/1.1"), 1_000, 1_100),
    ]);
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 2_000)], events.clone(), &actors());
    assert_eq!(
        results[0].outcome,
        Outcome::Unpaired { reason: "no write of 268439552 to memory.limit_in_bytes was seen".into() }
    );
}

/// Every event of the trial arrived, yet one that did not might have been a milestone (runc's
/// first write, say): the trial is not paired.
#[test]
fn a_trial_that_lost_events_is_not_paired() {
    let mut lossy = trial(Route::DockerCli, "268439552", 0, 20_000);
    lossy.lost_events = 3;
    let results = pair(vec![lossy], decode(&docker_update("268439552", 0)), &actors());
    assert_eq!(
        results[0].outcome,
        Outcome::Unpaired {
            reason: "3 events were lost while it ran (ring buffer full): any of its milestones may be among them"
                .into()
        }
    );
}

#[test]
fn a_missing_request_leaves_the_trial_unpaired() {
    let mut raw = docker_update("268439552", 0);
    raw.remove(1);
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    assert_eq!(
        results[0].outcome,
        Outcome::Unpaired { reason: "dockerd's read of the update request was not seen".into() }
    );
    assert_eq!(results[0].latency_ns(), None);
}

#[test]
fn a_request_for_another_container_does_not_count() {
    let raw = vec![
        raw_request(DOCKERD, "POST /v1.41/containers/ffff/update HTTP/1.1", 1_000, 1_100),
        raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", "268439552", 2_000, 2_100, 9),
    ];
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    assert!(matches!(results[0].outcome, Outcome::Unpaired { .. }));
}

#[test]
fn events_outside_the_window_belong_to_other_trials() {
    let mut raw = docker_update("268439552", 0);
    raw.extend(docker_update("536879104", 50_000));
    let trials =
        [trial(Route::DockerCli, "268439552", 0, 20_000), trial(Route::DockerCli, "536879104", 50_000, 70_000)];
    let results = pair(trials.to_vec(), decode(&raw), &actors());
    assert_eq!(results[0].latency_ns(), Some(10_700));
    assert_eq!(results[1].latency_ns(), Some(10_700));
    let Outcome::Paired(t) = &results[1].outcome else { panic!() };
    assert_eq!(t.request_ns, Some(51_100));
    // Same value again, but outside the second trial's window: not taken.
    let late = pair(vec![trial(Route::DockerCli, "268439552", 50_000, 70_000)], decode(&raw), &actors());
    assert!(matches!(late[0].outcome, Outcome::Unpaired { .. }));
}

#[test]
fn with_the_systemd_driver_systemds_first_write_enforces_and_runcs_is_kept() {
    let mut raw = docker_update("268439552", 0);
    // systemd (pid 1) writes the limit on runc's D-Bus request before runc does.
    raw.push(raw_write(1, "systemd", MEM, "memory.limit_in_bytes", "268439552", 8_000, 8_300, 9));
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    let Outcome::Paired(t) = &results[0].outcome else { panic!("{:?}", results[0].outcome) };
    assert_eq!((t.writer_pid, t.writer_comm.as_str()), (1, "systemd"));
    assert_eq!((t.write_enter_ns, t.write_exit_ns, t.latency_ns), (8_000, 8_300, 8_300));
    assert_eq!(t.runc_write_exit_ns, Some(10_700));
    assert_eq!(t.exec_ns, Some(5_000), "runc's exec, not the first writer's");
    assert_eq!(t.first_write_ns, 8_000);
}

#[test]
fn a_refused_write_is_a_failure_not_a_latency() {
    let raw = [raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "4096", 1_500, 1_600, -22)];
    let results = pair(vec![trial(Route::Raw, "4096", 1_000, 2_000)], decode(&raw), &actors());
    let Outcome::Failed { reason } = &results[0].outcome else { panic!() };
    assert!(reason.contains("Invalid argument"), "{reason}");
}

#[test]
fn the_earliest_matching_write_wins_and_exec_must_be_the_writers() {
    let mut raw = docker_update("268439552", 0);
    raw.push(raw_exec(RUNC_PID + 1, 6_000));
    raw.push(raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", "268439552", 15_000, 15_100, 9));
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    let Outcome::Paired(t) = &results[0].outcome else { panic!() };
    assert_eq!(t.write_enter_ns, 10_000);
    assert_eq!(t.exec_ns, Some(5_000));
}

#[test]
fn a_trial_whose_container_stopped_says_so() {
    let mut gone = trial(Route::DockerCli, "268439552", 0, 20_000);
    gone.container_gone = true;
    let results = pair(vec![gone], Vec::new(), &actors());
    assert_eq!(
        results[0].outcome,
        Outcome::Unpaired {
            reason: "the container stopped while the trial ran: no write of 268439552 to memory.limit_in_bytes \
                     was seen (Docker accepts an update of a stopping container without applying it)"
                .into()
        }
    );
}

/// A write that entered before the trial's end but returned after it still belongs to it.
#[test]
fn a_write_returning_after_the_trial_ended_is_within_the_slack() {
    let events = decode(&[raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "536879104", 1_900, 2_500, 9)]);
    let results = pair(vec![trial(Route::Raw, "536879104", 1_000, 2_000)], events, &actors());
    assert_eq!(results[0].latency_ns(), Some(1_500));
}

#[test]
fn a_request_read_after_the_target_write_began_is_not_its_request() {
    let raw = [
        raw_write(RUNC_PID, "runc", MEM, "memory.limit_in_bytes", "268439552", 2_000, 2_100, 9),
        raw_request(DOCKERD, &format!("POST /v1.41/containers/{ID}/update HTTP/1.1"), 1_900, 2_050),
    ];
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    assert_eq!(
        results[0].outcome,
        Outcome::Unpaired { reason: "dockerd's read of the update request was not seen".into() }
    );
}

#[test]
fn the_exec_is_the_writers_last_before_its_first_write() {
    let mut raw = docker_update("268439552", 0);
    raw.push(raw_exec(RUNC_PID, 4_000));
    raw.push(raw_exec(RUNC_PID, 9_200));
    let results = pair(vec![trial(Route::DockerCli, "268439552", 0, 20_000)], decode(&raw), &actors());
    let Outcome::Paired(t) = &results[0].outcome else { panic!("{:?}", results[0].outcome) };
    assert_eq!(t.exec_ns, Some(5_000));
}

/// The earliest matching write is the trial's write even when the kernel refused it: the trial
/// is reported failed, never paired from a later write.
#[test]
fn a_refused_first_write_fails_the_trial_even_if_a_later_one_succeeded() {
    let raw = [
        raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "4096", 1_200, 1_300, -16),
        raw_write(ME, "cgbench", MEM, "memory.limit_in_bytes", "4096", 1_500, 1_600, 4),
    ];
    let results = pair(vec![trial(Route::Raw, "4096", 1_000, 2_000)], decode(&raw), &actors());
    let Outcome::Failed { reason } = &results[0].outcome else { panic!("{:?}", results[0].outcome) };
    assert!(reason.contains("busy"), "{reason}");
}

/// A raw trial timed by cgbench's clock needs no event: its span is its latency once the file
/// reads back what was written, and a file that holds something else fails it.
#[test]
fn a_trial_read_back_is_timed_by_its_span_and_needs_no_event() {
    let mut landed = trial(Route::Raw, "268439552", 1_000, 8_300);
    landed.read_back = Some("268439552".into());
    let mut refused = trial(Route::RawKeptOpen, "268439552", 9_000, 10_100);
    refused.read_back = Some("268435456".into());
    let results = pair(vec![landed, refused], Vec::new(), &actors());
    assert_eq!(results[0].outcome, Outcome::Timed { latency_ns: 7_300 });
    assert_eq!(results[0].latency_ns(), Some(7_300));
    let Outcome::Failed { reason } = &results[1].outcome else { panic!("{:?}", results[1].outcome) };
    assert_eq!(reason, "memory.limit_in_bytes reads back 268435456 after 268439552 was written to it");
}
