//! What `cgbench set` is asked to change: the container's cgroup knobs as the OCI runtime spec's
//! `LinuxResources`, and the scheduling priorities of its tasks, which no cgroup holds.

mod values;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
pub use values::{
    CpuList, parse_class_id, parse_hugetlb, parse_interface_priority, parse_limit, parse_sched, parse_throttle,
    parse_unified,
};

/// Everything one `set` changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub resources: LinuxResources,
    pub priorities: Priorities,
    /// `--cpus` as given, in micro-CPUs: Docker records it as `NanoCpus` and refuses a quota for a
    /// container that has one, so `--sync` must say it the same way.
    pub docker_cpus: Option<u64>,
}

/// Per-task priorities, applied to every thread of the container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Priorities {
    pub nice: Option<i32>,
    pub sched: Option<Sched>,
    pub oom_score_adj: Option<i32>,
}

impl Priorities {
    pub fn any(&self) -> bool {
        self.nice.is_some() || self.sched.is_some() || self.oom_score_adj.is_some()
    }
}

/// A scheduling policy, with its static priority for the real-time ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", content = "priority", rename_all = "lowercase")]
pub enum Sched {
    Fifo(u8),
    Rr(u8),
    Other,
    Batch,
    Idle,
}

impl Sched {
    pub fn is_real_time(self) -> bool {
        matches!(self, Sched::Fifo(_) | Sched::Rr(_))
    }

    /// The policy and priority as `sched_setscheduler(2)` takes them.
    pub fn to_raw(self) -> (i32, i32) {
        match self {
            Sched::Fifo(p) => (libc::SCHED_FIFO, i32::from(p)),
            Sched::Rr(p) => (libc::SCHED_RR, i32::from(p)),
            Sched::Other => (libc::SCHED_OTHER, 0),
            Sched::Batch => (libc::SCHED_BATCH, 0),
            Sched::Idle => (libc::SCHED_IDLE, 0),
        }
    }

    /// The policy `sched_getscheduler(2)` reported, with its priority; `None` for policies
    /// cgbench does not set (deadline).
    pub fn from_raw(policy: i32, priority: i32) -> Option<Sched> {
        let priority = u8::try_from(priority).ok();
        Some(match policy & !libc::SCHED_RESET_ON_FORK {
            libc::SCHED_FIFO => Sched::Fifo(priority?),
            libc::SCHED_RR => Sched::Rr(priority?),
            libc::SCHED_OTHER => Sched::Other,
            libc::SCHED_BATCH => Sched::Batch,
            libc::SCHED_IDLE => Sched::Idle,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Sched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sched::Fifo(p) => write!(f, "fifo:{p}"),
            Sched::Rr(p) => write!(f, "rr:{p}"),
            Sched::Other => f.write_str("other"),
            Sched::Batch => f.write_str("batch"),
            Sched::Idle => f.write_str("idle"),
        }
    }
}
