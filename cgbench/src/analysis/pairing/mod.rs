//! Turns the kernel event stream and the trials that were run into per-trial timelines.
//!
//! A trial is paired only from events that really happened: the target write is recognised by
//! its cgroup, file name, exact value and writer, inside the trial's time window. Anything
//! missing leaves the trial unpaired with the reason; nothing is estimated.

pub mod effect;
mod finders;
#[cfg(test)]
mod recorded;
#[cfg(test)]
mod tests;

use serde::Serialize;

use self::finders::Window;
use crate::{kernel::events::KernelEvent, trial::ExecutedTrial};

/// The kernel's timeline of one paired trial (all CLOCK_MONOTONIC ns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// dockerd finished reading the update request (routes through dockerd only).
    pub request_ns: Option<u64>,
    /// The syscall dockerd read it with (`read` for Go's net/http).
    pub request_syscall: Option<String>,
    /// The writer (runc) was executed (routes runc writes on only).
    pub exec_ns: Option<u64>,
    /// The writer's first write to any of the container's cgroup files.
    pub first_write_ns: u64,
    pub write_enter_ns: u64,
    /// The target write returned: the kernel has applied the limit.
    pub write_exit_ns: u64,
    pub writer_pid: u32,
    pub writer_comm: String,
    /// When another process (systemd) wrote the limit first, the exit of runc's own write of it.
    pub runc_write_exit_ns: Option<u64>,
    /// The caller starts (CLI or runc spawned, API call made, cgbench writes) → the limit is
    /// applied.
    pub latency_ns: u64,
    /// Docker routes: dockerd has the request → the limit is applied (the original script's span).
    pub daemon_latency_ns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Paired(Timeline),
    /// An event the latency needs was not seen.
    Unpaired {
        reason: String,
    },
    /// The kernel refused the target write.
    Failed {
        reason: String,
    },
    /// A write of cgbench's own, timed by its clock around the syscall(s) with no probe attached:
    /// their return is the kernel's word that the limit is set, and the file read back holds it.
    Timed {
        latency_ns: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrialResult {
    #[serde(flatten)]
    pub trial: ExecutedTrial,
    pub outcome: Outcome,
    /// Under `--load`, for trials of the loaded resource: when the workload felt the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<effect::InEffect>,
}

impl TrialResult {
    pub fn timeline(&self) -> Option<&Timeline> {
        match &self.outcome {
            Outcome::Paired(t) => Some(t),
            _ => None,
        }
    }

    pub fn latency_ns(&self) -> Option<u64> {
        match &self.outcome {
            Outcome::Timed { latency_ns } => Some(*latency_ns),
            _ => self.timeline().map(|t| t.latency_ns),
        }
    }
}

/// Who is who on this host.
pub struct Actors<'a> {
    /// cgbench's own tgid: the writer of raw trials, and never of those runc writes on.
    pub own_tgid: u32,
    pub container_id: &'a str,
}

/// Events of a trial can end a little after its caller is done (runc exits before dockerd
/// replies, but nothing is assumed): the slice handed to a trial reaches this far past its end.
const WINDOW_SLACK_NS: u64 = 1_000_000_000;

/// Pairs every trial with the events of its time window. Events are sorted once and each trial
/// looks only at its own slice, so a long run pairs in O((trials + events) log events).
pub fn pair(trials: Vec<ExecutedTrial>, mut events: Vec<KernelEvent>, actors: &Actors) -> Vec<TrialResult> {
    events.sort_by_key(KernelEvent::time_ns);
    trials
        .into_iter()
        .map(|trial| {
            let from = events.partition_point(|e| e.time_ns() < trial.start_ns);
            let to = events.partition_point(|e| e.time_ns() <= trial.end_ns.saturating_add(WINDOW_SLACK_NS));
            let trial_events = &events[from..to.max(from)];
            let (index, route) = (trial.planned.index, trial.planned.route.flag());
            tracing::trace!(trial = index, route, events = trial_events.len(), "events in the trial's window");
            let outcome = pair_one(&trial, trial_events, actors);
            match &outcome {
                Outcome::Paired(_) | Outcome::Timed { .. } => {}
                Outcome::Unpaired { reason } => tracing::debug!(trial = index, route, reason, "trial unpaired"),
                Outcome::Failed { reason } => tracing::debug!(trial = index, route, reason, "trial failed"),
            }
            TrialResult { trial, outcome, effect: None }
        })
        .collect()
}

/// Composes the finders in the order their milestones depend on one another: the target write
/// first, since the request must have been read before its entry and runc is known from it. A
/// route is paired from the milestones it has: dockerd's request only where dockerd is on the
/// way, runc's exec only where runc writes.
fn pair_one(trial: &ExecutedTrial, events: &[KernelEvent], actors: &Actors) -> Outcome {
    if let Some(read_back) = &trial.read_back {
        return by_caller_clock(trial, read_back);
    }
    if trial.lost_events > 0 {
        return Outcome::Unpaired {
            reason: format!(
                "{} events were lost while it ran (ring buffer full): any of its milestones may be among them",
                trial.lost_events
            ),
        };
    }
    let window = Window { events, span: trial.start_ns..=trial.end_ns };
    let route = trial.planned.route;
    let by_runc = route.runc_writes();
    let Some(writes) = window.target_writes(&trial.target, |tgid| (tgid == actors.own_tgid) != by_runc) else {
        return Outcome::Unpaired { reason: unseen_target_write(trial) };
    };
    let (target, runc) = (&writes.enforcing, writes.runc_tgid());
    if target.ret < 0 {
        return Outcome::Failed {
            reason: format!(
                "writing {} to {} failed: {}",
                trial.target.value,
                trial.target.file,
                std::io::Error::from_raw_os_error(-target.ret as i32)
            ),
        };
    }
    let first_write_ns = window.first_cgroup_write([target.tgid, runc], target.enter_ns);
    let request = if route.through_dockerd() {
        let Some(request) = window.update_request(actors.container_id, target.enter_ns) else {
            return Outcome::Unpaired { reason: "dockerd's read of the update request was not seen".into() };
        };
        Some(request)
    } else {
        None
    };
    let exec_ns = if by_runc { window.runc_exec(runc, first_write_ns) } else { None };
    let request_ns = request.as_ref().map(|r| r.read_exit_ns);
    Outcome::Paired(Timeline {
        request_ns,
        request_syscall: request.map(|r| r.syscall.to_owned()),
        exec_ns,
        first_write_ns,
        write_enter_ns: target.enter_ns,
        write_exit_ns: target.exit_ns,
        writer_pid: target.tgid,
        writer_comm: target.comm.to_owned(),
        runc_write_exit_ns: writes.runc_own.as_ref().map(|w| w.exit_ns),
        latency_ns: target.exit_ns.saturating_sub(trial.start_ns),
        daemon_latency_ns: request_ns.map(|r| target.exit_ns - r),
    })
}

/// A trial cgbench timed itself: its span, once the file is seen to hold the value.
fn by_caller_clock(trial: &ExecutedTrial, read_back: &str) -> Outcome {
    let target = &trial.target;
    if read_back == target.value {
        Outcome::Timed { latency_ns: trial.end_ns - trial.start_ns }
    } else {
        Outcome::Failed {
            reason: format!("{} reads back {read_back} after {} was written to it", target.file, target.value),
        }
    }
}

fn unseen_target_write(trial: &ExecutedTrial) -> String {
    let unseen = format!("no write of {} to {} was seen", trial.target.value, trial.target.file);
    if trial.container_gone {
        format!(
            "the container stopped while the trial ran: {unseen} (Docker accepts an update of a stopping container without applying it)"
        )
    } else {
        unseen
    }
}
