//! One sample of a container's counters, parsed from its cgroup files as each version writes
//! them. Pure: the texts in, the numbers out; `read.rs` fetches the texts.

use serde::Serialize;

/// Everything `stats` shows; a section is absent where the host has no such controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    pub cpu: Option<Cpu>,
    pub memory: Option<Memory>,
    pub io: Vec<DeviceIo>,
    pub pids: Option<Pids>,
    /// Pressure stall information (v2 only).
    pub pressure: Vec<Pressure>,
}

/// CPU time used (ns, cumulative) and CFS throttling. The time used is `None` where nothing
/// counts it: on v1 without the cpuacct controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cpu {
    pub usage_ns: Option<u64>,
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    pub current: u64,
    /// The most ever used (v1 `max_usage_in_bytes`, v2 `memory.peak`, which kernels before 5.19
    /// lack).
    pub peak: Option<u64>,
    /// `None`: no limit.
    pub limit: Option<u64>,
    /// Cumulative counts of the version's memory events: v2 `low`, `high`, `max`, `oom`,
    /// `oom_kill`; v1 `failcnt` (times the limit was hit) and `oom_kill`.
    #[serde(serialize_with = "as_map")]
    pub events: Vec<(String, u64)>,
}

/// Bytes and operations of one device, cumulative.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeviceIo {
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pids {
    pub current: u64,
    pub max: Option<u64>,
}

/// One line of a v2 `*.pressure` file: share of time some (or all) tasks stalled.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pressure {
    pub resource: String,
    /// `some` or `full`.
    pub kind: String,
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// Named counters as a JSON object, in the kernel's order.
pub fn as_map<S: serde::Serializer, V: Serialize>(pairs: &[(String, V)], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// `key value` lines (`cpu.stat`, `memory.oom_control`) or `key=value` fields, as pairs.
pub fn keyed(text: &str) -> Vec<(&str, u64)> {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|pair| Some((pair[0], pair.get(1)?.parse().ok()?)))
        .collect()
}

fn get(pairs: &[(&str, u64)], key: &str) -> u64 {
    find(pairs, key).unwrap_or(0)
}

fn find(pairs: &[(&str, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A file that holds one number: anything else is an error that names the file, never a 0.
fn number(file: &str, text: &str) -> anyhow::Result<u64> {
    text.trim().parse().map_err(|_| anyhow::anyhow!("{file} holds {:?}, not a number", text.trim()))
}

/// A single number, or `max`/v1's page-rounded 2^63 for no limit.
pub fn limit(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|&v: &u64| v < 1 << 62)
}

/// v1: `cpuacct.usage`, `cpuacct.usage_user`, `cpuacct.usage_sys` (ns) when the host has the
/// cpuacct controller, and `cpu.stat`.
pub fn cpu_v1(cpuacct: Option<[&str; 3]>, stat: &str) -> anyhow::Result<Cpu> {
    let stat = keyed(stat);
    let [usage, user, system] = match cpuacct {
        Some([usage, user, system]) => [
            Some(number("cpuacct.usage", usage)?),
            Some(number("cpuacct.usage_user", user)?),
            Some(number("cpuacct.usage_sys", system)?),
        ],
        None => [None; 3],
    };
    Ok(Cpu {
        usage_ns: usage,
        user_ns: user,
        system_ns: system,
        periods: get(&stat, "nr_periods"),
        throttled_periods: get(&stat, "nr_throttled"),
        throttled_ns: get(&stat, "throttled_time"),
    })
}

/// v2: `cpu.stat`, in µs.
pub fn cpu_v2(stat: &str) -> Cpu {
    let stat = keyed(stat);
    Cpu {
        usage_ns: find(&stat, "usage_usec").map(|us| us * 1000),
        user_ns: find(&stat, "user_usec").map(|us| us * 1000),
        system_ns: find(&stat, "system_usec").map(|us| us * 1000),
        periods: get(&stat, "nr_periods"),
        throttled_periods: get(&stat, "nr_throttled"),
        throttled_ns: get(&stat, "throttled_usec") * 1000,
    }
}

/// v1: usage, max usage, limit, `memory.failcnt` and `memory.oom_control`.
pub fn memory_v1(
    usage: &str,
    max_usage: &str,
    limit_text: &str,
    failcnt: &str,
    oom_control: &str,
) -> anyhow::Result<Memory> {
    Ok(Memory {
        current: number("memory.usage_in_bytes", usage)?,
        peak: Some(number("memory.max_usage_in_bytes", max_usage)?),
        limit: limit(limit_text),
        events: vec![
            ("failcnt".into(), number("memory.failcnt", failcnt)?),
            ("oom_kill".into(), get(&keyed(oom_control), "oom_kill")),
        ],
    })
}

/// v2: `memory.current`, `memory.peak` (if the kernel has it), `memory.max`, `memory.events`.
pub fn memory_v2(current: &str, peak: Option<&str>, max: &str, events: &str) -> anyhow::Result<Memory> {
    let events = keyed(events);
    Ok(Memory {
        current: number("memory.current", current)?,
        peak: peak.map(|p| number("memory.peak", p)).transpose()?,
        limit: limit(max),
        events: ["low", "high", "max", "oom", "oom_kill"].iter().map(|k| ((*k).to_owned(), get(&events, k))).collect(),
    })
}

/// v1: `blkio.throttle.io_service_bytes_recursive` and `…io_serviced_recursive`
/// (`MAJ:MIN Read N` lines, then a grand `Total`).
pub fn io_v1(bytes: &str, ops: &str) -> anyhow::Result<Vec<DeviceIo>> {
    let mut devices: Vec<DeviceIo> = Vec::new();
    for (text, is_bytes, file) in [
        (bytes, true, "blkio.throttle.io_service_bytes_recursive"),
        (ops, false, "blkio.throttle.io_serviced_recursive"),
    ] {
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [device, op @ ("Read" | "Write"), value] = fields[..] else { continue };
            let value = number(file, value)?;
            let entry = match devices.iter().position(|d| d.device == device) {
                Some(i) => &mut devices[i],
                None => {
                    devices.push(DeviceIo { device: device.to_owned(), ..DeviceIo::default() });
                    devices.last_mut().expect("just pushed")
                }
            };
            match (op, is_bytes) {
                ("Read", true) => entry.read_bytes = value,
                ("Write", true) => entry.write_bytes = value,
                ("Read", false) => entry.read_ops = value,
                _ => entry.write_ops = value,
            }
        }
    }
    Ok(devices)
}

/// v2: `io.stat`, one line per device: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… …`.
pub fn io_v2(stat: &str) -> Vec<DeviceIo> {
    stat.lines()
        .filter_map(|line| {
            let (device, fields) = line.split_once(' ')?;
            let fields: Vec<(&str, u64)> = fields
                .split(' ')
                .filter_map(|f| f.split_once('='))
                .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                .collect();
            Some(DeviceIo {
                device: device.to_owned(),
                read_bytes: get(&fields, "rbytes"),
                write_bytes: get(&fields, "wbytes"),
                read_ops: get(&fields, "rios"),
                write_ops: get(&fields, "wios"),
            })
        })
        .collect()
}

pub fn pids(current: &str, max: &str) -> anyhow::Result<Pids> {
    Ok(Pids { current: number("pids.current", current)?, max: limit(max) })
}

/// A v2 `cpu.pressure`/`memory.pressure`/`io.pressure` file.
pub fn pressure(resource: &str, text: &str) -> Vec<Pressure> {
    text.lines()
        .filter_map(|line| {
            let (kind, fields) = line.split_once(' ')?;
            let field = |name: &str| fields.split(' ').find_map(|f| f.strip_prefix(name)?.strip_prefix('='));
            Some(Pressure {
                resource: resource.to_owned(),
                kind: kind.to_owned(),
                avg10: field("avg10")?.parse().ok()?,
                avg60: field("avg60")?.parse().ok()?,
                avg300: field("avg300")?.parse().ok()?,
                total_us: field("total")?.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "fixtures.rs"]
mod tests;
