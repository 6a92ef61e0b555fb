//! Pairing replayed on event streams the kernel really sent, one file per recording: below
//! dockerd on this host (cgroup v1), Docker on cgroup v2 under each cgroup driver in the VM, and
//! the effect probes under `--load cpu` and `--load memory` on this host.

mod below_dockerd;
mod cgroup_v2;
mod load;

use probe_common::{CgroupKey, EVENT_OOM_VICTIM, EVENT_RECLAIM, EVENT_RESUME, EVENT_THROTTLE};
use serde_json::Value;

use crate::{
    kernel::events::{
        KernelEvent,
        fixtures::{raw_effect, raw_exec, raw_request, raw_write},
    },
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

/// An event of a recording's `--events` lines, rebuilt in the probes' raw format and decoded as a
/// run decodes it.
fn event(e: &Value) -> Option<KernelEvent> {
    let n = |key: &str| number(&e[key]);
    let text = |key: &str| e[key].as_str().unwrap();
    let raw = match text("kind") {
        "exec" => raw_exec(n("tgid") as u32, n("ts_ns")),
        "request" => raw_request(n("tgid") as u32, text("line"), n("read_enter_ns"), n("read_exit_ns")),
        "write" => raw_write(
            n("tgid") as u32,
            text("comm"),
            cgroup(&e["cgroup"]),
            text("file"),
            text("value"),
            n("enter_ns"),
            n("exit_ns"),
            e["ret"].as_i64().unwrap(),
        ),
        "throttle" => raw_effect(EVENT_THROTTLE, 0, n("tid") as u32, n("ts_ns"), n("ts_ns"), 0),
        "resume" => raw_effect(EVENT_RESUME, 0, n("tid") as u32, n("ts_ns"), n("ts_ns"), 0),
        "reclaim" => {
            raw_effect(EVENT_RECLAIM, n("tgid") as u32, n("tid") as u32, n("begin_ns"), n("end_ns"), n("pages") as i64)
        }
        "oom_victim" => raw_effect(EVENT_OOM_VICTIM, 0, n("pid") as u32, n("ts_ns"), n("ts_ns"), 0),
        other => panic!("no {other} event is ever recorded"),
    };
    KernelEvent::from_raw(&raw)
}
