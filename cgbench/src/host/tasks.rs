//! The priorities of a container's tasks — nice value, scheduling policy, OOM score adjustment —
//! which no cgroup file holds: each thread carries its own (the OOM score, each process).

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::{
    cgroup::{ResourceDir, Version, io},
    journal::start_ticks,
    system::monotonic_ns,
};
use crate::settings::{Priorities, Sched};

/// A task's priorities, and its start time, which tells it apart from a later task given its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPriority {
    pub tid: u32,
    pub start_ticks: u64,
    pub nice: i32,
    pub sched: Sched,
    pub oom_score_adj: i32,
}

/// The threads of a cgroup: v1 lists them in `tasks`, v2 in `cgroup.threads`.
pub fn threads_of(dir: &ResourceDir) -> anyhow::Result<Vec<u32>> {
    let file = match dir.version {
        Version::V1 => "tasks",
        Version::V2 => "cgroup.threads",
    };
    let text = io::read_value(&io::control_file(&dir.path, file)?)?;
    text.lines().map(|l| l.parse().with_context(|| format!("{file} lists `{l}`, not a thread id"))).collect()
}

impl TaskPriority {
    pub fn read(tid: u32) -> anyhow::Result<TaskPriority> {
        let start_ticks = start_ticks(tid).with_context(|| format!("task {tid} is gone"))?;
        // getpriority returns the nice value, which may be -1: errno tells an error apart.
        // SAFETY: errno is thread-local; getpriority and the sched_get* calls only read.
        let nice = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        };
        let errno = std::io::Error::last_os_error();
        if nice == -1 && errno.raw_os_error() != Some(0) {
            bail!("reading the nice value of task {tid}: {errno}");
        }
        let policy = unsafe { libc::sched_getscheduler(tid as i32) };
        let mut param = libc::sched_param { sched_priority: 0 };
        if policy < 0 || unsafe { libc::sched_getparam(tid as i32, &mut param) } != 0 {
            bail!("reading the scheduling policy of task {tid}: {}", std::io::Error::last_os_error());
        }
        let sched = Sched::from_raw(policy, param.sched_priority)
            .with_context(|| format!("task {tid} runs under a policy cgbench does not set ({policy}): left alone"))?;
        let oom = io::read_value(std::path::Path::new(&format!("/proc/{tid}/oom_score_adj")))?;
        let oom_score_adj = oom.parse().with_context(|| format!("oom_score_adj of task {tid} is `{oom}`"))?;
        Ok(TaskPriority { tid, start_ticks, nice, sched, oom_score_adj })
    }

    /// Whether the task still runs: same id, same start.
    pub fn alive(&self) -> bool {
        start_ticks(self.tid) == Some(self.start_ticks)
    }
}

/// One priority of one task changed, old → new, and how long its syscall took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskChange {
    pub tid: u32,
    pub what: &'static str,
    pub old: String,
    pub new: String,
    pub write_ns: u64,
}

/// Sets the priorities asked for on one task, each syscall timed by the caller's clock; the first
/// one the kernel refuses ends it.
pub fn apply(task: &TaskPriority, wanted: &Priorities) -> anyhow::Result<Vec<TaskChange>> {
    let mut changes = Vec::new();
    let tid = task.tid;
    if let Some(sched) = wanted.sched {
        let write_ns = set_sched(tid, sched)?;
        changes.push(TaskChange { tid, what: "sched", old: task.sched.to_string(), new: sched.to_string(), write_ns });
    }
    if let Some(nice) = wanted.nice {
        let write_ns = set_nice(tid, nice)?;
        changes.push(TaskChange { tid, what: "nice", old: task.nice.to_string(), new: nice.to_string(), write_ns });
    }
    if let Some(adj) = wanted.oom_score_adj {
        let write_ns = io::write_timed(std::path::Path::new(&format!("/proc/{tid}/oom_score_adj")), &adj.to_string())
            .with_context(|| format!("setting the OOM score adjustment of task {tid}"))?;
        changes.push(TaskChange {
            tid,
            what: "oom_score_adj",
            old: task.oom_score_adj.to_string(),
            new: adj.to_string(),
            write_ns,
        });
    }
    Ok(changes)
}

/// Puts a task's recorded priorities back; a task that is gone needs nothing.
pub fn restore(task: &TaskPriority) -> anyhow::Result<()> {
    if !task.alive() {
        return Ok(());
    }
    set_sched(task.tid, task.sched)?;
    set_nice(task.tid, task.nice)?;
    io::write_value(std::path::Path::new(&format!("/proc/{}/oom_score_adj", task.tid)), &task.oom_score_adj.to_string())
}

fn set_sched(tid: u32, sched: Sched) -> anyhow::Result<u64> {
    let (policy, priority) = sched.to_raw();
    let param = libc::sched_param { sched_priority: priority };
    let start = monotonic_ns();
    // SAFETY: a valid sched_param; the kernel checks the thread id and the rights.
    let rc = unsafe { libc::sched_setscheduler(tid as i32, policy, &param) };
    let took = monotonic_ns() - start;
    if rc != 0 {
        bail!("setting the policy of task {tid} to {sched}: {}", std::io::Error::last_os_error());
    }
    Ok(took)
}

fn set_nice(tid: u32, nice: i32) -> anyhow::Result<u64> {
    let start = monotonic_ns();
    // SAFETY: setpriority takes plain integers.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
    let took = monotonic_ns() - start;
    if rc != 0 {
        bail!("setting the nice value of task {tid} to {nice}: {}", std::io::Error::last_os_error());
    }
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_reads_back_and_a_gone_task_needs_no_restoring() {
        // SAFETY: gettid has no preconditions.
        let me = TaskPriority::read(unsafe { libc::gettid() } as u32).unwrap();
        assert!(me.alive());
        assert_eq!(me.sched, Sched::Other);
        let gone = TaskPriority { start_ticks: me.start_ticks + 1, ..me };
        assert!(!gone.alive());
        restore(&gone).unwrap();
    }
}
