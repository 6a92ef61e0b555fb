//! The "in effect" milestone of a trial under `--load`: when the workload felt the limit the
//! kernel had applied, from the effect probes' events on the container's tasks. Timed from the
//! applied write's return; an effect not seen within `BOUND_NS` of it is missing, never
//! estimated.

use serde::Serialize;

use super::{Outcome, TrialResult};
use crate::{
    kernel::events::KernelEvent,
    load::{Load, SETTLE},
    resource::{Limit, Limits, Resource},
    trial::Route,
};

/// How long after the applied write an effect is looked for: the settle each trial waits, two
/// CFS periods and more.
pub const BOUND_NS: u64 = SETTLE.as_nanos() as u64;
/// How far before the write the state of the workload's tasks (throttled or not) is looked for:
/// a task stays throttled at most until the next period, far shorter than this.
const LOOKBACK_NS: u64 = 1_000_000_000;

/// Whether a trial raised or lowered its resource's limit, from the value before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Increase,
    Decrease,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
        })
    }
}

/// What the workload made of a trial's new limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Effect {
    /// Felt at `ns` (CLOCK_MONOTONIC), `after_applied_ns` after the write returned.
    Seen { ns: u64, after_applied_ns: u64, signal: String },
    /// The OOM killer chose a task of the container.
    OomKill { ns: u64, after_applied_ns: u64, pid: u32 },
    /// There was nothing for the workload to feel: an increase that found it running, a lower
    /// memory limit it was already under.
    Nothing { reason: String },
    /// The kernel refused the write (v1 answers EBUSY when it cannot reclaim enough).
    Refused { reason: String },
    /// Not seen: within the bound, or no applied write to time it from.
    Missing { reason: String },
}

/// A trial's direction and effect, as the report carries them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InEffect {
    pub direction: Direction,
    #[serde(flatten)]
    pub effect: Effect,
}

/// Sets the effect of every trial of the loaded resource. `events` are sorted by time; trials
/// are in the order they ran, from `initial` limits. With the effect probes `unavailable` (the
/// reason), every effect is missing for that reason: no event is not the same as nothing felt.
pub fn find(
    results: &mut [TrialResult],
    events: &[KernelEvent],
    load: Load,
    initial: &Limits,
    unavailable: Option<&str>,
) {
    let resource = match load {
        Load::None => return,
        Load::Cpu => Resource::Cpu,
        Load::Memory => Resource::Memory,
    };
    let mut before = match resource {
        Resource::Cpu => initial.cpu,
        Resource::Memory => Limit::Memory { bytes: initial.memory_bytes },
    };
    for result in results.iter_mut().filter(|r| r.trial.planned.limit.resource() == resource) {
        let limit = result.trial.planned.limit;
        let direction = if amount(limit) > amount(before) { Direction::Increase } else { Direction::Decrease };
        before = limit;
        let effect = match unavailable {
            Some(reason) => Effect::Missing { reason: reason.to_owned() },
            None => effect_of(result, direction, events),
        };
        result.effect = Some(InEffect { direction, effect });
    }
}

/// A limit as one number to compare: bytes, or CPUs.
fn amount(limit: Limit) -> f64 {
    match limit {
        Limit::Memory { bytes } => bytes as f64,
        Limit::Cpu { quota_us, period_us } => quota_us as f64 / period_us.max(1) as f64,
    }
}

fn effect_of(result: &TrialResult, direction: Direction, events: &[KernelEvent]) -> Effect {
    let missing = |reason: &str| Effect::Missing { reason: reason.to_owned() };
    // The write's entry and return, and who wrote: cgbench's own raw writes are timed by its
    // clock around the syscalls, any writer's reclaim inside that span is theirs.
    let (enter, applied, writer) = match &result.outcome {
        Outcome::Paired(t) => (t.write_enter_ns, t.write_exit_ns, Some(t.writer_pid)),
        Outcome::Timed { .. } => (result.trial.start_ns, result.trial.end_ns, None),
        Outcome::Failed { reason } => return Effect::Refused { reason: reason.clone() },
        Outcome::Unpaired { .. } => return missing("the applied write was not seen: nothing to time the effect from"),
    };
    if result.trial.planned.route == Route::Cri {
        return missing("the cri route's pod runs no load");
    }
    match (result.trial.planned.limit.resource(), direction) {
        (Resource::Cpu, Direction::Decrease) => cpu_decrease(applied, events),
        (Resource::Cpu, Direction::Increase) => cpu_increase(applied, events),
        (Resource::Memory, _) => {
            if let Some((ns, pid)) = oom_victim(enter, applied, events) {
                return Effect::OomKill { ns, after_applied_ns: ns.saturating_sub(applied), pid };
            }
            match direction {
                Direction::Increase => {
                    Effect::Nothing { reason: "a higher memory limit has nothing to enforce".into() }
                }
                Direction::Decrease => memory_decrease(writer, enter, applied, events),
            }
        }
    }
}

/// Events from `from` on, up to the bound after `applied`.
fn after(events: &[KernelEvent], from: u64, applied: u64) -> impl Iterator<Item = &KernelEvent> {
    let start = events.partition_point(|e| e.time_ns() < from);
    events[start..].iter().take_while(move |e| e.time_ns() <= applied + BOUND_NS)
}

/// Tids throttled when the write returned: those whose last throttle or resume before it was a
/// throttle.
fn throttled_at(applied: u64, events: &[KernelEvent]) -> Vec<u32> {
    let end = events.partition_point(|e| e.time_ns() < applied);
    let mut decided = Vec::new();
    let mut throttled = Vec::new();
    for e in events[..end].iter().rev().take_while(|e| e.time_ns() + LOOKBACK_NS >= applied) {
        let (tid, is_throttle) = match e {
            KernelEvent::Throttle { tid, .. } => (*tid, true),
            KernelEvent::Resume { tid, .. } => (*tid, false),
            _ => continue,
        };
        if !decided.contains(&tid) {
            decided.push(tid);
            if is_throttle {
                throttled.push(tid);
            }
        }
    }
    throttled
}

/// A lower quota is felt when a task of the group is first switched out throttled after it.
fn cpu_decrease(applied: u64, events: &[KernelEvent]) -> Effect {
    let already = !throttled_at(applied, events).is_empty();
    match after(events, applied, applied).find(|e| matches!(e, KernelEvent::Throttle { .. })) {
        Some(e) => Effect::Seen {
            ns: e.time_ns(),
            after_applied_ns: e.time_ns() - applied,
            signal: if already {
                "first throttle after the write (the group was throttled at the write)".into()
            } else {
                "first throttle after the write".into()
            },
        },
        None => Effect::Missing {
            reason: format!("no task of the container was throttled within {} ms of the write", BOUND_NS / 1_000_000),
        },
    }
}

/// A higher quota is felt when a task the old one had throttled runs again.
fn cpu_increase(applied: u64, events: &[KernelEvent]) -> Effect {
    let throttled = throttled_at(applied, events);
    if throttled.is_empty() {
        return Effect::Nothing { reason: "no task was throttled when the limit rose: nothing to lift".into() };
    }
    let resumed = after(events, applied, applied)
        .find(|e| matches!(e, KernelEvent::Resume { tid, .. } if throttled.contains(tid)));
    match resumed {
        Some(e) => Effect::Seen {
            ns: e.time_ns(),
            after_applied_ns: e.time_ns() - applied,
            signal: "a throttled task runs again".into(),
        },
        None => Effect::Missing {
            reason: format!("no throttled task ran again within {} ms of the write", BOUND_NS / 1_000_000),
        },
    }
}

/// A lower memory limit is in effect when the write returns: the kernel reclaims inside it
/// until usage is at or below the new limit (or refuses). The reclaim is what the workload
/// felt; none means its usage was under the new limit already.
fn memory_decrease(writer: Option<u32>, enter: u64, applied: u64, events: &[KernelEvent]) -> Effect {
    let (mut passes, mut pages, mut reclaim_ns) = (0, 0, 0);
    for e in after(events, enter, applied).take_while(|e| e.time_ns() <= applied) {
        if let KernelEvent::Reclaim { tgid, begin_ns, end_ns, pages: p, .. } = e
            && writer.is_none_or(|w| *tgid == w)
            && *begin_ns >= enter
        {
            passes += 1;
            pages += p;
            reclaim_ns += end_ns - begin_ns;
        }
    }
    if passes == 0 {
        return Effect::Nothing { reason: "usage was at or below the new limit already: nothing reclaimed".into() };
    }
    Effect::Seen {
        ns: applied,
        after_applied_ns: 0,
        signal: format!(
            "reclaimed inside the write: {pages} pages in {passes} passes over {}",
            crate::units::format_ns(reclaim_ns as f64)
        ),
    }
}

fn oom_victim(enter: u64, applied: u64, events: &[KernelEvent]) -> Option<(u64, u32)> {
    after(events, enter, applied).find_map(|e| match e {
        KernelEvent::OomVictim { pid, ts_ns } => Some((*ts_ns, *pid)),
        _ => None,
    })
}
