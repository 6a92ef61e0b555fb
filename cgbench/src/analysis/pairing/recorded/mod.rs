//! Pairing replayed on event streams the kernel really sent, one file per recording: below
//! dockerd on this host (cgroup v1), Docker on cgroup v2 under each cgroup driver in the VM, and
//! the effect probes under `--load cpu` and `--load memory` on this host.

mod below_dockerd;
mod cgroup_v2;
mod load;

use probe_common::CgroupKey;
use serde_json::Value;

use crate::{
    resource::Limit,
    trial::{ExecutedTrial, PlannedTrial, Route, Target},
};

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `dev:ino`, as the report writes a cgroup.
fn cgroup(text: &Value) -> CgroupKey {
    let (dev, ino) = text.as_str().unwrap().split_once(':').unwrap();
    CgroupKey { dev: dev.parse().unwrap(), _pad: 0, ino: ino.parse().unwrap() }
}

/// A trial of a recorded run's report, v1 or v2. The v1 runs predate caller timing: their raw
/// trials have nothing read back and are paired from their kernel write events, as they were
/// then; a raw trial with its file's value read back is timed by the caller's clock, as now.
fn trial(t: &Value) -> ExecutedTrial {
    let value = t["value"].as_str().unwrap();
    let parse = |text: &str| -> u64 { text.parse().unwrap() };
    let limit = match t["file"].as_str().unwrap() {
        "memory.limit_in_bytes" | "memory.max" => Limit::Memory { bytes: parse(value) },
        "cpu.max" => {
            let (quota, period) = value.split_once(' ').unwrap();
            Limit::Cpu { quota_us: parse(quota), period_us: parse(period) }
        }
        _ => Limit::Cpu { quota_us: parse(value), period_us: 100_000 },
    };
    let route = Route::ALL.into_iter().find(|r| t["route"] == r.flag()).unwrap();
    ExecutedTrial {
        planned: PlannedTrial { index: number(&t["index"]) as usize, route, limit, warmup: false },
        target: Target { file: t["file"].as_str().unwrap().into(), value: value.into(), cgroup: cgroup(&t["cgroup"]) },
        start_ns: number(&t["start_ns"]),
        end_ns: number(&t["end_ns"]),
        lost_events: 0,
        container_gone: false,
        read_back: t["read_back"].as_str().map(str::to_owned),
    }
}
