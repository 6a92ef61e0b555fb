//! One finder per milestone `stages` names, each looking only at the events of one trial and
//! only at those inside the user-space clock around its caller.

use std::ops::RangeInclusive;

use crate::{kernel::events::KernelEvent, trial::Target};

/// The writer docker's routes start (learned from its exec).
const RUNC: &str = "runc";

/// A trial's events, and the span every one of its milestones must fall in.
pub(super) struct Window<'a> {
    pub events: &'a [KernelEvent],
    pub span: RangeInclusive<u64>,
}

/// One write of the trial's value to its file.
pub(super) struct TargetWrite<'a> {
    pub tgid: u32,
    pub comm: &'a str,
    pub ret: i64,
    pub enter_ns: u64,
    pub exit_ns: u64,
}

/// With Docker's systemd cgroup driver, systemd (pid 1) writes the limit on runc's request and
/// runc writes it again: the first write enforces the limit, and runc's own is kept beside it.
pub(super) struct TargetWrites<'a> {
    pub enforcing: TargetWrite<'a>,
    /// runc's write, when someone else's came first.
    pub runc_own: Option<TargetWrite<'a>>,
}

impl TargetWrites<'_> {
    /// The process docker started to write the limit: runc, whoever wrote first.
    pub fn runc_tgid(&self) -> u32 {
        self.runc_own.as_ref().unwrap_or(&self.enforcing).tgid
    }
}

/// dockerd's read of the update request.
pub(super) struct UpdateRequest<'a> {
    pub read_exit_ns: u64,
    pub syscall: &'a str,
}

impl<'a> Window<'a> {
    /// The writes of the target's value to its file by `is_trial_writer`, the earliest enforcing.
    pub fn target_writes(&self, target: &Target, is_trial_writer: impl Fn(u32) -> bool) -> Option<TargetWrites<'a>> {
        let matching = || {
            self.events.iter().filter_map(|e| match e {
                KernelEvent::Write { tgid, comm, cgroup, file, value, ret, enter_ns, exit_ns, .. }
                    if *cgroup == target.cgroup
                        && *file == target.file
                        && *value == target.value
                        && is_trial_writer(*tgid)
                        && self.span.contains(enter_ns) =>
                {
                    Some(TargetWrite { tgid: *tgid, comm, ret: *ret, enter_ns: *enter_ns, exit_ns: *exit_ns })
                }
                _ => None,
            })
        };
        let enforcing = matching().min_by_key(|w| w.enter_ns)?;
        // runc's earliest write, unless it is the enforcing one.
        let runc_own =
            matching().filter(|w| w.comm == RUNC).min_by_key(|w| w.enter_ns).filter(|w| w.tgid != enforcing.tgid);
        Some(TargetWrites { enforcing, runc_own })
    }

    /// The earliest entry of a write by any of `writers` to any of the container's cgroup files;
    /// the target write's own entry at the latest.
    pub fn first_cgroup_write(&self, writers: [u32; 2], target_enter_ns: u64) -> u64 {
        self.events
            .iter()
            .filter_map(|e| match e {
                KernelEvent::Write { tgid, enter_ns, .. } if writers.contains(tgid) && self.span.contains(enter_ns) => {
                    Some(*enter_ns)
                }
                _ => None,
            })
            .fold(target_enter_ns, u64::min)
    }

    /// The earliest read of this container's update request that dockerd finished by `by_ns`.
    pub fn update_request(&self, container_id: &str, by_ns: u64) -> Option<UpdateRequest<'a>> {
        let update_path = format!("/containers/{container_id}/update");
        self.events
            .iter()
            .filter_map(|e| match e {
                KernelEvent::Request { line, read_exit_ns, syscall, .. }
                    if line.contains(&update_path) && self.span.contains(read_exit_ns) && *read_exit_ns <= by_ns =>
                {
                    Some(UpdateRequest { read_exit_ns: *read_exit_ns, syscall })
                }
                _ => None,
            })
            .min_by_key(|r| r.read_exit_ns)
    }

    /// `runc`'s last exec by `by_ns`.
    pub fn runc_exec(&self, runc: u32, by_ns: u64) -> Option<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                KernelEvent::Exec { tgid, ts_ns, .. }
                    if *tgid == runc && self.span.contains(ts_ns) && *ts_ns <= by_ns =>
                {
                    Some(*ts_ns)
                }
                _ => None,
            })
            .max()
    }
}
