//! When a new limit is felt by the workload (`compare --load`): attached only then, so that a
//! plain run loads nothing more and needs no more of the kernel's layout.
//!
//! - `sched:sched_switch` fires in `__schedule` before the switch, so `current` is the task
//!   going off the CPU. One of the loaded container's tasks (its tgid in `LOAD_TGIDS`) switched
//!   out while still runnable (no sleep state in `prev_state`) with its group's runqueue throttled is the CPU
//!   limit at work: `EVENT_THROTTLE`. Its tid is kept in `THROTTLED` until it is switched in
//!   again, which is `EVENT_RESUME`: on a limit increase, the moment the workload runs again.
//!   The classic tracepoint is used, not tp_btf, because it loads on every kernel cgbench
//!   targets, whatever the write capture's method.
//! - `vmscan:mm_vmscan_memcg_reclaim_begin/end` in a writer's context: the reclaim a lowered
//!   memory limit makes the write itself do (v1's `mem_cgroup_resize_max`, v2's
//!   `memory_max_write`), joined into one `EVENT_RECLAIM`.
//! - `oom:mark_victim` of one of the container's tasks: `EVENT_OOM_VICTIM`.

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{Array, HashMap, LruHashMap},
    programs::TracePointContext,
};
use probe_common::{EVENT_OOM_VICTIM, EVENT_RECLAIM, EVENT_RESUME, EVENT_THROTTLE, EffectOffsets};

use super::{Res, is_writer, kread, reserve};

#[map]
static LOAD_TGIDS: HashMap<u32, u8> = HashMap::with_max_entries(64, 0);

#[map]
static EFFECT_OFFSETS: Array<EffectOffsets> = Array::with_max_entries(1, 0);

/// Tids switched out throttled and not yet on a CPU again.
#[map]
static THROTTLED: LruHashMap<u32, u8> = LruHashMap::with_max_entries(1024, 0);

/// Reclaim begin time by pid_tgid, until its end.
#[map]
static PENDING_RECLAIMS: LruHashMap<u64, u64> = LruHashMap::with_max_entries(256, 0);

// `sched:sched_switch`'s record (stable since 4.x, checked against 6.18's format file).
const PREV_STATE: usize = 32;
const NEXT_PID: usize = 56;
/// The sleep states `prev_state` reports (`TASK_REPORT`, and `TASK_REPORT_IDLE`): none of them
/// set means the task left the CPU runnable, switched out by `schedule()` (0) or preempted
/// (`TASK_REPORT_MAX`, 0x100) — the way a throttled task mostly goes, measured on 6.18.
const TASK_REPORT_STATES: i64 = 0xff;
// `vmscan:mm_vmscan_memcg_reclaim_end`'s and `oom:mark_victim`'s first field.
const NR_RECLAIMED: usize = 8;
const VICTIM_PID: usize = 8;

/// Emits one effect event; `ts` was taken first thing by the caller.
#[inline(always)]
fn emit(ctx: &TracePointContext, kind: u32, pid_tgid: u64, tid: u32, enter_ns: u64, exit_ns: u64, ret: i64) {
    if let Some(mut entry) = reserve(ctx, kind, pid_tgid, 0) {
        let ev = entry.as_mut_ptr();
        unsafe {
            (*ev).tid = tid;
            (*ev).ts_enter_ns = enter_ns;
            (*ev).ts_exit_ns = exit_ns;
            (*ev).ret = ret;
        }
        entry.submit(BPF_RB_NO_WAKEUP as u64);
    }
}

/// Whether `current`'s group runqueue on this CPU is throttled.
#[inline(always)]
fn current_throttled() -> Res<bool> {
    let o = EFFECT_OFFSETS.get(0).ok_or(-1i64)?;
    let task = unsafe { bpf_get_current_task() };
    let cfs_rq: u64 = kread(task + o.task_se_cfs_rq)?;
    if cfs_rq == 0 {
        return Ok(false);
    }
    Ok(kread::<i32>(cfs_rq + o.cfs_rq_throttled)? != 0)
}

fn sched_switch(ctx: &TracePointContext, ts: u64) -> Res {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    if unsafe { LOAD_TGIDS.get(&tgid) }.is_some() {
        let prev_state: i64 = unsafe { ctx.read_at(PREV_STATE) }.map_err(i64::from)?;
        if prev_state & TASK_REPORT_STATES == 0 && current_throttled()? {
            let tid = pid_tgid as u32;
            THROTTLED.insert(&tid, &1, 0)?;
            emit(ctx, EVENT_THROTTLE, pid_tgid, tid, ts, ts, 0);
        }
    }
    let next: i32 = unsafe { ctx.read_at(NEXT_PID) }.map_err(i64::from)?;
    let next = next as u32;
    if unsafe { THROTTLED.get(&next) }.is_some() {
        THROTTLED.remove(&next)?;
        // Reported as the task coming back; its tgid is not at hand here and not needed.
        emit(ctx, EVENT_RESUME, pid_tgid, next, ts, ts, 0);
    }
    Ok(())
}

#[tracepoint]
pub fn effect_sched_switch(ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let _ = sched_switch(&ctx, ts);
    0
}

#[tracepoint]
pub fn effect_reclaim_begin(_ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_writer(pid_tgid) {
        let _ = PENDING_RECLAIMS.insert(&pid_tgid, &ts, 0);
    }
    0
}

#[tracepoint]
pub fn effect_reclaim_end(ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(&begin) = (unsafe { PENDING_RECLAIMS.get(&pid_tgid) }) else {
        return 0;
    };
    let _ = PENDING_RECLAIMS.remove(&pid_tgid);
    let reclaimed = unsafe { ctx.read_at::<u64>(NR_RECLAIMED) }.unwrap_or(0);
    emit(&ctx, EVENT_RECLAIM, pid_tgid, pid_tgid as u32, begin, ts, reclaimed as i64);
    0
}

#[tracepoint]
pub fn effect_oom_victim(ctx: TracePointContext) -> u32 {
    let ts = unsafe { bpf_ktime_get_ns() };
    let Ok(victim) = (unsafe { ctx.read_at::<i32>(VICTIM_PID) }) else {
        return 0;
    };
    let victim = victim as u32;
    // The victim is a thread group leader or one of its threads; the load runs as one process
    // whose leader's pid is its tgid.
    if unsafe { LOAD_TGIDS.get(&victim) }.is_some() {
        emit(&ctx, EVENT_OOM_VICTIM, bpf_get_current_pid_tgid(), victim, ts, ts, 0);
    }
    0
}
