//! `cgbench bench` (hidden; `cargo xtask bench` runs it): what the instrument itself costs.
//! Figures, not assertions: the machines are shared and noisy, so every number is a median or
//! a ratio of medians, printed and written to `bench.json`.
//!
//! 1. Probe overhead on raw cgroup writes, probes attached versus detached, in interleaved blocks.
//! 2. Kernel filtering under a write storm on an unrelated cgroup, and event loss when the storm
//!    hits the target itself.
//! 3. Start-up: exec to first trial, and probe load + attach.
//! 4. Whole-run efficiency and 5. peak memory, from real `cgbench compare` runs.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use super::storm::VALUES;
use crate::{
    analysis::stats::{median, percentile},
    host::{
        cgroup::{Host, Scratch, dir_key, io},
        system::{cpu_time_ns, ensure_root, kernel_release, monotonic_ns},
    },
    kernel::{AttachMethod, Probes, Watch, attach, events::KernelEvent},
    options::BenchOptions as Options,
    units::format_ns,
};

/// A scratch cgroup for one part of the benchmark.
fn scratch(name: &str) -> anyhow::Result<Scratch> {
    Scratch::new(&Host::detect()?, &format!("cgbench-bench-{}-{name}", std::process::id()))
}

/// Probes watching `target`, with this process as a writer, and — like runc — any program
/// named `cgbench` that execs from now on (the storm process).
fn attach(target: &Path, method: AttachMethod) -> anyhow::Result<Probes> {
    let writers = [std::process::id()];
    Probes::watching(
        method,
        &Watch { writers: &writers, writer_comms: &["cgbench"], cgroups: &[dir_key(target)?], ..Watch::default() },
    )
}

/// Per-write latencies (ns) of `n` writes, alternating two values.
fn time_writes(path: &Path, n: usize, kept_open: Option<&io::KeptOpen>) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let value = VALUES[i % 2];
        let start = monotonic_ns();
        match kept_open {
            Some(open) => open.write(path, value)?,
            None => io::write_value(path, value)?,
        }
        out.push(monotonic_ns() - start);
    }
    Ok(out)
}

fn quantiles(mut v: Vec<u64>) -> (f64, f64, usize) {
    v.sort_unstable();
    let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    (percentile(&f, 50.0), percentile(&f, 99.0), f.len())
}

/// How much of the capture path a block of writes goes through.
#[derive(Clone, Copy)]
enum Side {
    /// No probe attached.
    Detached,
    /// Probes attached, cgbench not a writer: the tracepoint machinery and one map lookup.
    NotWatched,
    /// cgbench a writer, but its cgroup not a target: the fd → file → directory walk too.
    FilteredOut,
    /// The full capture: pending record, event in the ring buffer.
    Captured,
}

const SIDES: [(Side, &str); 4] = [
    (Side::Detached, "detached"),
    (Side::NotWatched, "attached_not_watched"),
    (Side::FilteredOut, "attached_filtered_out"),
    (Side::Captured, "attached_captured"),
];

fn probes_for(side: Side, target: &Path, method: AttachMethod) -> anyhow::Result<Option<Probes>> {
    Ok(match side {
        Side::Detached => None,
        Side::NotWatched => Some(Probes::watching(method, &Watch::default())?),
        Side::FilteredOut => {
            let writers = [std::process::id()];
            let parent = dir_key(target.parent().context("a scratch cgroup has a parent")?)?;
            Some(Probes::watching(method, &Watch { writers: &writers, cgroups: &[parent], ..Watch::default() })?)
        }
        Side::Captured => Some(attach(target, method)?),
    })
}

/// Part 1, overhead. Blocks of each side in turn (A B C D A B C D …), so all sides see the
/// same drift. The sides between detached and captured attribute the cost: tracepoint
/// machinery, in-kernel filter, capture.
fn probe_overhead(opts: &Options, method: AttachMethod) -> anyhow::Result<Value> {
    let scratch = scratch("overhead")?;
    let file = scratch.memory_limit_file();
    let kept = io::KeptOpen::open([file.clone()])?;
    let mut results = serde_json::Map::new();
    for (mode, kept_open) in [("open_write_close", None), ("kept_open_pwrite", Some(&kept))] {
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(); SIDES.len()];
        let mut delivered = 0usize;
        while samples[0].len() < opts.writes {
            for (i, (side, _)) in SIDES.iter().enumerate() {
                let mut probes = probes_for(*side, &scratch.files.memory.path, method)?;
                samples[i].extend(time_writes(&file, opts.block, kept_open)?);
                if let Some(probes) = probes.as_mut() {
                    let events = probes.drain().len();
                    ensure!(probes.lost()? == 0, "the ring buffer overflowed during the overhead blocks");
                    if matches!(side, Side::Captured) {
                        delivered += events;
                    } else {
                        ensure!(events == 0, "{events} events were delivered although nothing was watched");
                    }
                }
            }
        }
        let captured = samples[3].len();
        ensure!(delivered == captured, "the probes reported {delivered} of {captured} writes");
        let mut m = serde_json::Map::new();
        m.insert("writes_per_side".into(), json!(captured));
        let mut detached_median = f64::NAN;
        for ((_, name), v) in SIDES.iter().zip(samples) {
            let (median, p99, _) = quantiles(v);
            if detached_median.is_nan() {
                detached_median = median;
            }
            m.insert(
                (*name).into(),
                json!({"median_ns": median, "p99_ns": p99, "median_ratio": median / detached_median}),
            );
        }
        results.insert(mode.into(), Value::Object(m));
    }
    Ok(Value::Object(results))
}

/// The storm: a child process (`cgbench storm`) writing as fast as it can. It becomes a writer
/// when it execs, as runc would, so only the cgroup filter stands between it and the ring buffer.
fn storm(cgroup_file: &Path, plain_file: &Path, duration: Duration) -> anyhow::Result<std::process::Child> {
    Command::new(std::env::current_exe()?)
        .arg("storm")
        .arg(cgroup_file)
        .arg(plain_file)
        .arg(duration.as_millis().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the storm process")
}

fn storm_writes(child: std::process::Child) -> anyhow::Result<u64> {
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "the storm process failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Part 2, filtering: the storm hits an unrelated cgroup and a plain file while cgbench writes
/// to its target once a millisecond. Loss: the storm hits the target itself.
fn filtering(opts: &Options, method: AttachMethod) -> anyhow::Result<Value> {
    let target = scratch("target")?;
    let unrelated = scratch("unrelated")?;
    let plain = std::env::temp_dir().join(format!("cgbench-bench-{}.txt", std::process::id()));

    let mut probes = attach(&target.files.memory.path, method)?;
    let child = storm(&unrelated.memory_limit_file(), &plain, opts.storm)?;
    let (wall0, cpu0) = (Instant::now(), cpu_time_ns());
    let mut own = 0u64;
    let mut delivered: Vec<KernelEvent> = Vec::new();
    while wall0.elapsed() < opts.storm {
        time_writes(&target.memory_limit_file(), 1, None)?;
        own += 1;
        delivered.extend(probes.drain());
        std::thread::sleep(Duration::from_millis(1));
    }
    let (wall, cpu) = (wall0.elapsed(), cpu_time_ns() - cpu0);
    let storm_count = storm_writes(child)?;
    delivered.extend(probes.drain());
    let foreign = delivered
        .iter()
        .filter(|e| match e {
            KernelEvent::Write { tgid, .. } => *tgid != std::process::id(),
            // The storm's exec is expected: it is what makes the storm a writer.
            KernelEvent::Exec { .. } => false,
            KernelEvent::Request { .. } => true,
        })
        .count();
    let own_writes =
        delivered.len() - foreign - delivered.iter().filter(|e| matches!(e, KernelEvent::Exec { .. })).count();
    let filtered = json!({
        "target_events_delivered": own_writes,
        "storm_writes": storm_count, "storm_writes_per_s": storm_count as f64 / wall.as_secs_f64(),
        "target_writes": own, "events_delivered": delivered.len(), "foreign_events_delivered": foreign,
        "lost_events": probes.lost()?, "cgbench_cpu_percent": cpu as f64 / wall.as_nanos() as f64 * 100.0,
    });
    drop(probes);

    let mut probes = attach(&target.files.memory.path, method)?;
    let child = storm(&target.memory_limit_file(), &plain, opts.storm)?;
    let (wall0, cpu0) = (Instant::now(), cpu_time_ns());
    let mut drained = 0usize;
    let writes = |events: Vec<KernelEvent>| events.iter().filter(|e| matches!(e, KernelEvent::Write { .. })).count();
    while wall0.elapsed() < opts.storm {
        drained += writes(probes.drain());
        std::thread::sleep(Duration::from_millis(10));
    }
    let storm_count = storm_writes(child)?;
    let (wall, cpu) = (wall0.elapsed(), cpu_time_ns() - cpu0);
    drained += writes(probes.drain());
    let lost = probes.lost()?;
    let _ = std::fs::remove_file(&plain);
    Ok(json!({
        "unrelated_storm": filtered,
        "target_storm": {
            "storm_writes": storm_count, "storm_writes_per_s": storm_count as f64 / wall.as_secs_f64(),
            "events_delivered": drained, "lost_events": lost,
            "accounted_for": drained as u64 + lost,
            "cgbench_cpu_percent": cpu as f64 / wall.as_nanos() as f64 * 100.0,
        }
    }))
}

/// Runs `cgbench compare ARGS --json` and returns its report, the wall time, the spawn time
/// (CLOCK_MONOTONIC) and the child's peak RSS in KiB.
fn compare_run(args: &[&str]) -> anyhow::Result<(Value, Duration, u64, i64)> {
    let json = std::env::temp_dir().join(format!("cgbench-bench-run-{}.json", std::process::id()));
    let spawn_ns = monotonic_ns();
    let wall0 = Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .arg("compare")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&json)
        .stdout(Stdio::null())
        .spawn()?;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = wall0.elapsed();
    ensure!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "cgbench compare {args:?} failed");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    std::fs::remove_file(&json)?;
    Ok((report, wall, spawn_ns, usage.ru_maxrss))
}

/// Parts 3–5: real runs of `cgbench compare`.
fn runs() -> anyhow::Result<Value> {
    let (mut to_first_trial, mut probe_load) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (report, _, spawn_ns, _) = compare_run(&["--iterations", "1", "--warmup", "0", "--routes", "raw"])?;
        let first = report["trials"][0]["start_ns"].as_u64().context("no trial in the start-up run")?;
        to_first_trial.push((first - spawn_ns) as f64);
        probe_load.push(report["environment"]["probe_load_ns"].as_f64().unwrap_or(f64::NAN));
    }

    let (full, wall, _, full_rss) = compare_run(&["--iterations", "1000"])?;
    let trials = full["trials"].as_array().context("no trials")?;
    let in_trials: u64 =
        trials.iter().map(|t| t["end_ns"].as_u64().unwrap_or(0) - t["start_ns"].as_u64().unwrap_or(0)).sum();
    let latencies: u64 = trials.iter().filter_map(|t| t["outcome"]["latency_ns"].as_u64()).sum();

    let (_, _, _, rss_1k) = compare_run(&["--iterations", "1000", "--routes", "raw,raw-open"])?;
    let (_, _, _, rss_10k) = compare_run(&["--iterations", "10000", "--routes", "raw,raw-open"])?;
    Ok(json!({
        "startup": {"runs": 5, "exec_to_first_trial_median_ns": median(&to_first_trial), "probe_load_attach_median_ns": median(&probe_load)},
        "efficiency_1000_iterations": {
            "wall_ns": wall.as_nanos() as u64, "sum_of_trial_spans_ns": in_trials, "sum_of_latencies_ns": latencies,
            "wall_over_trial_spans": wall.as_nanos() as f64 / in_trials as f64,
            "wall_over_latencies": wall.as_nanos() as f64 / latencies as f64,
        },
        "memory": {
            "peak_rss_kib_1000_all_routes": full_rss,
            "peak_rss_kib_1000_raw_routes": rss_1k, "peak_rss_kib_10000_raw_routes": rss_10k,
        }
    }))
}

pub fn run(opts: &Options) -> anyhow::Result<String> {
    ensure_root()?;
    let method = attach::choose(None)?;
    let overhead = probe_overhead(opts, method)?;
    let filtering = filtering(opts, method)?;
    let runs = if opts.skip_runs { Value::Null } else { runs()? };
    let doc = json!({
        "schema_version": 1,
        "kernel": kernel_release(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "probe_method": method.name(),
        "probe_overhead": overhead, "filtering": filtering, "runs": runs,
    });
    std::fs::write(&opts.out, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", opts.out.display()))?;
    Ok(table(&doc))
}

fn table(doc: &Value) -> String {
    let ns = |v: &Value| v.as_f64().map_or("n/a".to_owned(), format_ns);
    let mut out = format!(
        "cgbench bench · kernel {} · {} CPUs · probes: {}\n\n",
        doc["kernel"].as_str().unwrap_or("?"),
        doc["cpus"],
        doc["probe_method"].as_str().unwrap_or("?")
    );
    out.push_str("probe overhead on raw writes, interleaved blocks: median / p99 (ratio of medians to detached; target for captured ≤ 1.05)\n");
    out.push_str(&format!("  {:<18}{:>8}", "", "writes"));
    for (_, name) in SIDES {
        out.push_str(&format!("  {:>30}", name.replace('_', " ")));
    }
    out.push('\n');
    for mode in ["open_write_close", "kept_open_pwrite"] {
        let m = &doc["probe_overhead"][mode];
        out.push_str(&format!("  {:<18}{:>8}", mode.replace('_', " "), m["writes_per_side"]));
        for (_, name) in SIDES {
            let side = &m[name];
            let cell = format!(
                "{} / {} ({:.2})",
                ns(&side["median_ns"]),
                ns(&side["p99_ns"]),
                side["median_ratio"].as_f64().unwrap_or(f64::NAN)
            );
            out.push_str(&format!("  {cell:>30}"));
        }
        out.push('\n');
    }
    let u = &doc["filtering"]["unrelated_storm"];
    out.push_str(&format!(
        "\nstorm on an unrelated cgroup + a plain file: {:.0} writes/s · foreign events delivered {} (target 0) · lost {} (target 0) · cgbench CPU {:.1} %\n",
        u["storm_writes_per_s"].as_f64().unwrap_or(0.0),
        u["foreign_events_delivered"],
        u["lost_events"],
        u["cgbench_cpu_percent"].as_f64().unwrap_or(0.0)
    ));
    let t = &doc["filtering"]["target_storm"];
    out.push_str(&format!(
        "storm on the target itself: {:.0} writes/s · delivered {} + lost {} = {} of {} writes · cgbench CPU {:.1} %\n",
        t["storm_writes_per_s"].as_f64().unwrap_or(0.0),
        t["events_delivered"],
        t["lost_events"],
        t["accounted_for"],
        t["storm_writes"],
        t["cgbench_cpu_percent"].as_f64().unwrap_or(0.0)
    ));
    let r = &doc["runs"];
    if !r.is_null() {
        out.push_str(&format!(
            "\nstart-up (median of 5): exec → first trial {} (target ≤ 1 s) · probe load + attach {}\n",
            ns(&r["startup"]["exec_to_first_trial_median_ns"]),
            ns(&r["startup"]["probe_load_attach_median_ns"])
        ));
        let e = &r["efficiency_1000_iterations"];
        out.push_str(&format!(
            "1000-iteration run (all routes): wall {} · Σ trial spans {} · wall/Σ spans {:.3} (target ≤ 1.15) · wall/Σ latencies {:.3}\n",
            ns(&e["wall_ns"]),
            ns(&e["sum_of_trial_spans_ns"]),
            e["wall_over_trial_spans"].as_f64().unwrap_or(f64::NAN),
            e["wall_over_latencies"].as_f64().unwrap_or(f64::NAN)
        ));
        let m = &r["memory"];
        out.push_str(&format!(
            "peak RSS: 1000 iterations all routes {:.1} MiB (target ≤ 50) · raw routes 1000 → 10000 iterations: {:.1} → {:.1} MiB\n",
            m["peak_rss_kib_1000_all_routes"].as_f64().unwrap_or(0.0) / 1024.0,
            m["peak_rss_kib_1000_raw_routes"].as_f64().unwrap_or(0.0) / 1024.0,
            m["peak_rss_kib_10000_raw_routes"].as_f64().unwrap_or(0.0) / 1024.0
        ));
    }
    out
}
