//! Raw events as the probes emit them, for decoding and pairing tests.

use super::*;

fn fill<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

#[allow(clippy::too_many_arguments)] // one per field of the event, as the probe fills them
pub fn raw_write(
    tgid: u32,
    comm: &str,
    cgroup: CgroupKey,
    file: &str,
    value: &str,
    enter: u64,
    exit: u64,
    ret: i64,
) -> Event {
    Event {
        kind: EVENT_WRITE,
        syscall_nr: 1,
        tgid,
        tid: tgid + 1,
        ts_enter_ns: enter,
        ts_exit_ns: exit,
        ret,
        cgroup,
        count: value.len() as u64,
        fd: 3,
        _pad: 0,
        comm: fill(comm),
        name: fill(file),
        data: fill(value),
    }
}

pub fn raw_request(tgid: u32, line: &str, enter: u64, exit: u64) -> Event {
    let data = if line.len() == 1 { line.to_owned() } else { format!("{line}\r\nHost: api.moby.localhost\r\n") };
    let data = &data[..data.len().min(probe_common::DATA_LEN)];
    Event {
        kind: EVENT_REQUEST,
        syscall_nr: 0,
        tgid,
        tid: tgid + 7,
        ts_enter_ns: enter,
        ts_exit_ns: exit,
        ret: data.len() as i64,
        cgroup: CgroupKey::default(),
        count: data.len() as u64,
        fd: 9,
        _pad: 0,
        comm: fill("dockerd"),
        name: [0; probe_common::NAME_LEN],
        data: fill(data),
    }
}

pub fn raw_exec(tgid: u32, ts: u64) -> Event {
    Event {
        kind: EVENT_EXEC,
        syscall_nr: 0,
        tgid,
        tid: tgid,
        ts_enter_ns: ts,
        ts_exit_ns: ts,
        ret: 0,
        cgroup: CgroupKey::default(),
        count: 0,
        fd: 0,
        _pad: 0,
        comm: fill("runc"),
        name: [0; probe_common::NAME_LEN],
        data: [0; probe_common::DATA_LEN],
    }
}

pub fn bytes(ev: &Event) -> Vec<u8> {
    // SAFETY: `Event` is `#[repr(C)]` plain old data.
    unsafe { std::slice::from_raw_parts((ev as *const Event).cast::<u8>(), size_of::<Event>()) }.to_vec()
}

/// An effect probe's event (`EVENT_THROTTLE`, `EVENT_RESUME`, `EVENT_RECLAIM`,
/// `EVENT_OOM_VICTIM`) with the fields its kind uses.
pub fn raw_effect(kind: u32, tgid: u32, tid: u32, enter: u64, exit: u64, ret: i64) -> Event {
    Event { kind, tgid, tid, ts_enter_ns: enter, ts_exit_ns: exit, ret, ..raw_exec(tgid, enter) }
}
