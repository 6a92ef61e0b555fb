//! The OCI runtime spec's `LinuxResources` — what `runc update` takes, what CRI's
//! `UpdateContainerResources` becomes — as control-file writes. Each version spells it in its
//! `Mapping::knobs` (`v1.rs`, `v2.rs`, in runc's orders); what both share is here: the
//! controllers, the write, and the order of two files the kernel checks against each other.

pub(super) mod v1;
pub(super) mod v2;

use anyhow::bail;
use oci_spec::runtime::{LinuxBlockIo, LinuxResources, LinuxThrottleDevice};
use serde::Serialize;

pub use crate::resource::Controller;
use crate::settings::CpuList;

/// The controllers a change touches, each once, in no particular order: the version's `order`
/// sorts them.
pub fn touched(r: &LinuxResources) -> Vec<Controller> {
    let cpu = r.cpu().as_ref();
    let pairs = [
        (Controller::Cpuset, cpu.is_some_and(|c| c.cpus().is_some() || c.mems().is_some())),
        (Controller::Memory, r.memory().is_some()),
        (
            Controller::Cpu,
            cpu.is_some_and(|c| {
                c.shares().is_some()
                    || c.quota().is_some()
                    || c.period().is_some()
                    || c.realtime_runtime().is_some()
                    || c.realtime_period().is_some()
            }),
        ),
        (Controller::Pids, r.pids().is_some()),
        (Controller::Io, r.block_io().is_some()),
        (Controller::Hugetlb, r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())),
        (Controller::NetCls, r.network().as_ref().is_some_and(|n| n.class_id().is_some())),
        (
            Controller::NetPrio,
            r.network().as_ref().is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
        ),
    ];
    let mut touched: Vec<Controller> = pairs.into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect();
    for (file, _) in unified(r) {
        if let Some(c) = Controller::of_v2_file(file).filter(|c| !touched.contains(c)) {
            touched.push(c);
        }
    }
    touched
}

/// The `unified` entries, sorted so that the writes come in a stable order.
pub(super) fn unified(r: &LinuxResources) -> Vec<(&str, &str)> {
    let mut entries: Vec<(&str, &str)> = r.unified().iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    entries.sort();
    entries
}

/// The spec's fields cgbench does not map, refused by name rather than ignored.
pub(super) fn refuse_unmapped(r: &LinuxResources) -> anyhow::Result<()> {
    let memory = r.memory().as_ref();
    let io = r.block_io().as_ref();
    #[allow(deprecated)] // refusing the deprecated kernel-memory limit is the point
    let unmapped = [
        ("devices", r.devices().as_ref().is_some_and(|d| !d.is_empty())),
        ("rdma", r.rdma().as_ref().is_some_and(|d| !d.is_empty())),
        ("memory.kernel", memory.is_some_and(|m| m.kernel().is_some())),
        ("memory.kernelTCP", memory.is_some_and(|m| m.kernel_tcp().is_some())),
        ("memory.useHierarchy", memory.is_some_and(|m| m.use_hierarchy().is_some())),
        // v1 only, and memory.oom_control reads back as three counters, not the value written.
        ("memory.disableOOMKiller", memory.is_some_and(|m| m.disable_oom_killer().is_some())),
        ("blockIO.leafWeight", io.is_some_and(|b| b.leaf_weight().is_some())),
        ("blockIO.weightDevice", io.is_some_and(|b| b.weight_device().is_some())),
        ("cpu.burst", r.cpu().as_ref().is_some_and(|c| c.burst().is_some())),
        ("cpu.idle", r.cpu().as_ref().is_some_and(|c| c.idle().is_some())),
    ];
    if let Some((field, _)) = unmapped.iter().find(|(_, set)| *set) {
        bail!("the resource field {field} is not something cgbench set can change");
    }
    Ok(())
}

/// One write of a knob: a file of one controller's directory and the exact value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KnobWrite {
    pub controller: Controller,
    pub file: String,
    /// Set for files that hold one entry per device or interface.
    pub entry: Option<Entry>,
    pub value: String,
}

/// Files such as `blkio.throttle.read_bps_device`, `io.max` and `net_prio.ifpriomap` take one
/// entry per write (`key value`) and show every entry: a write changes only its key's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub key: String,
    /// What the file means for a key it shows no entry for.
    pub unset: &'static str,
}

impl KnobWrite {
    pub fn plain(controller: Controller, file: impl Into<String>, value: impl ToString) -> KnobWrite {
        KnobWrite { controller, file: file.into(), entry: None, value: value.to_string() }
    }

    pub(super) fn keyed(
        controller: Controller,
        file: &str,
        key: String,
        unset: &'static str,
        value: String,
    ) -> KnobWrite {
        KnobWrite { controller, file: file.to_owned(), entry: Some(Entry { key, unset }), value }
    }

    /// The bytes that set `value` (this write's own, or an old one to put back).
    pub fn bytes(&self, value: &str) -> String {
        match &self.entry {
            Some(entry) => format!("{} {value}", entry.key),
            None => value.to_owned(),
        }
    }

    /// What this write's file, or its entry, holds in the file's `content`. A `name=value`
    /// entry (`io.max`: `8:0 rbps=1 wbps=max riops=max wiops=max`) is read field by field.
    pub fn current_in(&self, content: &str) -> String {
        let Some(entry) = &self.entry else { return content.trim_end().to_owned() };
        let rest = content.lines().find_map(|l| l.strip_prefix(entry.key.as_str())?.strip_prefix(' '));
        match self.value.split_once('=') {
            Some((name, _)) => {
                let field = rest.and_then(|r| r.split(' ').find_map(|f| f.strip_prefix(name)?.strip_prefix('=')));
                format!("{name}={}", field.unwrap_or(entry.unset))
            }
            None => rest.unwrap_or(entry.unset).trim().to_owned(),
        }
    }

    /// The label people read: the file, and the device or interface of an entry.
    pub fn label(&self) -> String {
        match &self.entry {
            Some(entry) => format!("{} [{}]", self.file, entry.key),
            None => self.file.clone(),
        }
    }
}

/// A value as the kernel shows it, for comparing: unlimited in any spelling (`max`, `-1`, v1's
/// page-rounded `9223372036854771712`) is `None`.
pub fn limit_of(text: &str) -> Option<i128> {
    match text.trim() {
        "max" | "-1" => None,
        t => t.parse::<i128>().ok().filter(|&v| v < 1 << 62),
    }
}

/// Whether a file shows the value written, as the kernel spells values back: unlimited in any
/// spelling, a size rounded down to a page, a list of CPUs or nodes as ranges.
pub fn shows(written: &str, shown: &str) -> bool {
    if written == shown {
        return true;
    }
    let numbers = (written.trim().parse::<i128>(), shown.trim().parse::<i128>());
    if let (Ok(w), Ok(s)) = numbers
        && w >= 0
    {
        return (w >= 4096 && s == w - w % 4096) || (limit_of(written).is_none() && limit_of(shown).is_none());
    }
    if written.trim() == "-1" || written.trim() == "max" {
        return limit_of(shown).is_none();
    }
    match (written.parse::<CpuList>(), shown.parse::<CpuList>()) {
        (Ok(w), Ok(s)) => w == s,
        _ => false,
    }
}

/// `a <= b` for limits where `None` is unlimited.
pub fn at_most(a: Option<i128>, b: Option<i128>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

/// cpuset and pids are spelled alike in both versions.
pub(super) fn cpuset(r: &LinuxResources) -> Vec<KnobWrite> {
    let Some(cpu) = r.cpu() else { return Vec::new() };
    let cpus = cpu.cpus().as_ref().map(|v| KnobWrite::plain(Controller::Cpuset, "cpuset.cpus", v));
    let mems = cpu.mems().as_ref().map(|v| KnobWrite::plain(Controller::Cpuset, "cpuset.mems", v));
    cpus.into_iter().chain(mems).collect()
}

/// A limit of 0 or below is no limit, as the spec says.
pub(super) fn pids(r: &LinuxResources) -> Vec<KnobWrite> {
    let Some(pids) = r.pids() else { return Vec::new() };
    let limit = pids.limit();
    vec![KnobWrite::plain(Controller::Pids, "pids.max", if limit > 0 { limit.to_string() } else { "max".to_owned() })]
}

/// `blockIO`'s four throttles, in runc's order (read bps, write bps, read iops, write iops):
/// each device with the index of its kind.
pub(super) fn throttles(b: &LinuxBlockIo) -> impl Iterator<Item = (usize, &LinuxThrottleDevice)> {
    [
        b.throttle_read_bps_device(),
        b.throttle_write_bps_device(),
        b.throttle_read_iops_device(),
        b.throttle_write_iops_device(),
    ]
    .into_iter()
    .enumerate()
    .flat_map(|(kind, devices)| devices.iter().flatten().map(move |d| (kind, d)))
}

/// What a controller's files hold now, by file name; `None` for a file that is not there (or,
/// for the fixed writes of `compare`, not looked at).
pub type Current<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The order of two files the kernel checks against each other: a budget and the period it is
/// spent over (`cfs_quota_us`/`cfs_period_us`, `rt_runtime_us`/`rt_period_us`). Whichever goes
/// first, the kernel sees one new value with one old one; the order that gives the smaller ratio
/// in between is never above both the old and the new ratio, so the kernel, which accepts both
/// ends, accepts the middle too. With the current values unknown, runc's order: period first.
pub(super) fn budget_and_period(
    budget: Option<KnobWrite>,
    period: Option<KnobWrite>,
    current: Current,
) -> Vec<KnobWrite> {
    let (budget, period) = match (budget, period) {
        (Some(budget), Some(period)) => (budget, period),
        (budget, period) => return budget.into_iter().chain(period).collect(),
    };
    let (Some(old_budget), Some(old_period)) = (current(&budget.file), current(&period.file)) else {
        return vec![period, budget];
    };
    let (Some(new_period), Some(old_period)) = (limit_of(&period.value), limit_of(&old_period)) else {
        return vec![period, budget];
    };
    // b1/p1 <= b2/p2 as b1*p2 <= b2*p1, so no rounding decides.
    let (old_budget, new_budget) = (limit_of(&old_budget), limit_of(&budget.value));
    if at_most(old_budget.map(|b| b * old_period), new_budget.map(|b| b * new_period)) {
        vec![period, budget]
    } else {
        vec![budget, period]
    }
}

#[cfg(test)]
mod tests;
