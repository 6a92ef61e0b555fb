//! A sample on one screen, and the rates per second of its cumulative counters against the
//! previous sample.

use std::fmt::Write as _;

use serde::Serialize;

use super::sample::{Cpu, DeviceIo, Memory, Sample};
use crate::{
    host::device::block_device_name,
    units::{format_bytes, format_ns},
};

/// Per second, between two samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rates {
    /// CPU time used per second of wall time, in CPUs (1.0 is one CPU busy); `None` where the
    /// time used is not counted (v1 without cpuacct).
    pub cpus: Option<f64>,
    pub user_cpus: Option<f64>,
    pub system_cpus: Option<f64>,
    pub throttled_periods: f64,
    /// Time throttled per second, in ns.
    pub throttled_ns: f64,
    /// Memory events per second, by name.
    #[serde(serialize_with = "super::sample::as_map")]
    pub memory_events: Vec<(String, f64)>,
    pub io: Vec<DeviceRates>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeviceRates {
    pub device: String,
    pub read_bytes: f64,
    pub write_bytes: f64,
    pub read_ops: f64,
    pub write_ops: f64,
}

/// Counters that went down (a reset) give 0, not a wrapped number.
fn per_second(now: u64, before: u64, seconds: f64) -> f64 {
    now.saturating_sub(before) as f64 / seconds
}

pub fn rates(now: &Sample, before: &Sample, seconds: f64) -> Rates {
    let mut r = Rates::default();
    if let (Some(c), Some(b)) = (&now.cpu, &before.cpu) {
        let cpus = |n: Option<u64>, b: Option<u64>| Some(per_second(n?, b?, seconds) / 1e9);
        (r.cpus, r.user_cpus, r.system_cpus) =
            (cpus(c.usage_ns, b.usage_ns), cpus(c.user_ns, b.user_ns), cpus(c.system_ns, b.system_ns));
        r.throttled_periods = per_second(c.throttled_periods, b.throttled_periods, seconds);
        r.throttled_ns = per_second(c.throttled_ns, b.throttled_ns, seconds);
    }
    if let (Some(m), Some(b)) = (&now.memory, &before.memory) {
        r.memory_events = m
            .events
            .iter()
            .map(|(k, v)| {
                let was = b.events.iter().find(|(bk, _)| bk == k).map_or(*v, |(_, bv)| *bv);
                (k.clone(), per_second(*v, was, seconds))
            })
            .collect();
    }
    r.io = now
        .io
        .iter()
        .map(|d| {
            let was = before.io.iter().find(|b| b.device == d.device).cloned().unwrap_or_else(|| d.clone());
            DeviceRates {
                device: d.device.clone(),
                read_bytes: per_second(d.read_bytes, was.read_bytes, seconds),
                write_bytes: per_second(d.write_bytes, was.write_bytes, seconds),
                read_ops: per_second(d.read_ops, was.read_ops, seconds),
                write_ops: per_second(d.write_ops, was.write_ops, seconds),
            }
        })
        .collect();
    r
}

/// `loop0 (7:0)`, or the number alone.
fn device_label(d: &DeviceIo) -> String {
    let name = d.device.split_once(':').and_then(|(a, b)| Some(block_device_name(a.parse().ok()?, b.parse().ok()?)));
    match name {
        Some(name) if name != d.device => format!("{name} ({})", d.device),
        _ => d.device.clone(),
    }
}

/// The screen: totals first, then `now …` with the rates when there is a previous sample.
pub fn screen(title: &str, s: &Sample, rates: Option<&Rates>) -> String {
    let mut out = format!("{title}\n");
    if let Some(c) = &s.cpu {
        cpu(&mut out, c, rates);
    }
    if let Some(m) = &s.memory {
        memory(&mut out, m, rates);
    }
    for d in &s.io {
        device(&mut out, d, rates.and_then(|r| r.io.iter().find(|r| r.device == d.device)));
    }
    if let Some(p) = &s.pids {
        let max = p.max.map_or_else(|| " (no limit)".to_owned(), |m| format!(" of {m}"));
        let _ = writeln!(out, "pids      {}{max}", p.current);
    }
    for p in &s.pressure {
        let _ = writeln!(
            out,
            "pressure  {} {}: {:.2}% over 10 s, {:.2}% over 60 s, {:.2}% over 300 s; {} stalled in all",
            p.resource,
            p.kind,
            p.avg10,
            p.avg60,
            p.avg300,
            format_ns(p.total_us as f64 * 1000.0)
        );
    }
    out
}

/// What the time used is not counted by: said instead of a number.
const NOT_COUNTED: &str = "not counted (no cpuacct controller)";

fn cpu(out: &mut String, c: &Cpu, rates: Option<&Rates>) {
    let used = match (c.usage_ns, c.user_ns, c.system_ns) {
        (Some(usage), Some(user), Some(system)) => format!(
            "{} (user {}, system {})",
            format_ns(usage as f64),
            format_ns(user as f64),
            format_ns(system as f64)
        ),
        _ => NOT_COUNTED.to_owned(),
    };
    let _ = writeln!(
        out,
        "cpu       used {used}; throttled in {} of {} periods, {} in all",
        c.throttled_periods,
        c.periods,
        format_ns(c.throttled_ns as f64)
    );
    if let Some(r) = rates {
        let now = match (r.cpus, r.user_cpus, r.system_cpus) {
            (Some(cpus), Some(user), Some(system)) => {
                let pct = |cpus: f64| format!("{:.1}%", cpus * 100.0);
                format!("{} of a CPU (user {}, system {})", pct(cpus), pct(user), pct(system))
            }
            _ => format!("CPU {NOT_COUNTED}"),
        };
        let _ = writeln!(
            out,
            "          now {now}, throttled {:.1} periods/s, {}/s",
            r.throttled_periods,
            format_ns(r.throttled_ns)
        );
    }
}

fn memory(out: &mut String, m: &Memory, rates: Option<&Rates>) {
    let limit = m.limit.map_or_else(|| "no limit".to_owned(), |l| format!("limit {}", format_bytes(l)));
    let peak = m.peak.map_or_else(String::new, |p| format!(", peak {}", format_bytes(p)));
    let events: Vec<String> = m.events.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(out, "memory    {} ({limit}{peak}); events: {}", format_bytes(m.current), events.join(", "));
    if let Some(r) = rates.filter(|r| r.memory_events.iter().any(|(_, v)| *v > 0.0)) {
        let events: Vec<String> = r.memory_events.iter().map(|(k, v)| format!("{k} {v:.1}/s")).collect();
        let _ = writeln!(out, "          now {}", events.join(", "));
    }
}

fn device(out: &mut String, d: &DeviceIo, rates: Option<&DeviceRates>) {
    let _ = writeln!(
        out,
        "io        {}: read {} in {} ops, written {} in {} ops",
        device_label(d),
        format_bytes(d.read_bytes),
        d.read_ops,
        format_bytes(d.write_bytes),
        d.write_ops
    );
    if let Some(r) = rates {
        let _ = writeln!(
            out,
            "          now read {}/s ({:.0} ops/s), write {}/s ({:.0} ops/s)",
            format_bytes(r.read_bytes as u64),
            r.read_ops,
            format_bytes(r.write_bytes as u64),
            r.write_ops
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(usage_ns: u64, user_ns: u64, throttled_periods: u64) -> Cpu {
        Cpu {
            usage_ns: Some(usage_ns),
            user_ns: Some(user_ns),
            system_ns: Some(0),
            throttled_periods,
            ..Cpu::default()
        }
    }

    #[test]
    fn rates_are_per_second_and_a_reset_counter_gives_zero() {
        let before = Sample {
            cpu: Some(cpu(1_000_000_000, 800_000_000, 2)),
            memory: Some(Memory { events: vec![("failcnt".into(), 5)], ..Memory::default() }),
            io: vec![DeviceIo { device: "7:0".into(), read_bytes: 1 << 20, ..DeviceIo::default() }],
            ..Sample::default()
        };
        let mut now = before.clone();
        now.cpu = Some(cpu(2_000_000_000, 1_800_000_000, 6));
        now.memory = Some(Memory { events: vec![("failcnt".into(), 1)], ..Memory::default() });
        now.io[0].read_bytes = 5 << 20;
        let r = rates(&now, &before, 2.0);
        assert_eq!((r.cpus, r.user_cpus, r.throttled_periods), (Some(0.5), Some(0.5), 2.0));
        assert_eq!(r.memory_events, [("failcnt".to_owned(), 0.0)]);
        assert_eq!(r.io[0].read_bytes, f64::from(2 << 20));
        let screen = screen("t", &now, Some(&r));
        assert!(screen.contains("now 50.0% of a CPU (user 50.0%, system 0.0%), throttled 2.0 periods/s"), "{screen}");
        assert!(screen.contains("now read 2 MiB/s (0 ops/s)"), "{screen}");
    }

    /// On v1 without cpuacct nothing counts the time used: it is said so, never shown as 0.
    #[test]
    fn cpu_time_not_counted_is_said_so() {
        let uncounted = Sample { cpu: Some(Cpu { throttled_periods: 3, ..Cpu::default() }), ..Sample::default() };
        let r = rates(&uncounted, &uncounted, 1.0);
        assert_eq!((r.cpus, r.user_cpus, r.system_cpus), (None, None, None));
        let screen = screen("t", &uncounted, Some(&r));
        assert!(
            screen.contains("cpu       used not counted (no cpuacct controller); throttled in 3 of 0 periods"),
            "{screen}"
        );
        assert!(screen.contains("now CPU not counted (no cpuacct controller), throttled 0.0 periods/s"), "{screen}");
    }
}
