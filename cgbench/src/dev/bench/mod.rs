//! `cgbench bench` (hidden; `cargo xtask bench` runs it): what the instrument itself costs.
//! Figures, not assertions: the machines are shared and noisy, so every number is a median or
//! a ratio of medians, printed and written to `bench.json`.
//!
//! 1. Probe overhead on raw cgroup writes, probes attached versus detached, in interleaved blocks.
//! 2. Kernel filtering under a write storm on an unrelated cgroup, and event loss when the storm
//!    hits the target itself.
//! 3. Start-up: exec to first trial, and probe load + attach.
//! 4. Whole-run efficiency and 5. peak memory, from real `cgbench compare` runs, with the share
//!    of a run during which the host pays the syscall tax.
//! 6. The syscall tax itself, per syscall of a process cgbench does not watch, and the cost of
//!    attaching and detaching the syscall tracepoints.

mod filtering;
#[cfg(test)]
mod fixture;
mod overhead;
mod runs;
mod table;
mod tax;

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::storm::VALUES;
use crate::{
    host::{
        cgroup::{Host, Scratch, dir_key, io},
        system::{ensure_root, kernel_release, monotonic_ns},
    },
    kernel::{AttachMethod, Probes, Watch, attach},
    options::BenchOptions as Options,
};

/// Bumped on any change that could break a reader of `bench.json`.
const SCHEMA_VERSION: u32 = 1;

/// `bench.json`: what was measured, on what.
#[derive(Debug, Serialize)]
struct BenchReport {
    schema_version: u32,
    kernel: String,
    cpus: usize,
    probe_method: String,
    probe_overhead: overhead::ProbeOverhead,
    filtering: filtering::Filtering,
    /// Absent from reports before it existed.
    syscall_tax: tax::SyscallTax,
    /// `None` with `--skip-runs`: those runs need Docker.
    runs: Option<runs::Runs>,
}

pub fn run(opts: &Options) -> anyhow::Result<String> {
    ensure_root()?;
    let method = attach::choose(None)?;
    let report = BenchReport {
        schema_version: SCHEMA_VERSION,
        kernel: kernel_release(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        probe_method: method.name().to_owned(),
        probe_overhead: overhead::measure(opts, method)?,
        filtering: filtering::measure(opts, method)?,
        syscall_tax: tax::measure(method)?,
        runs: if opts.skip_runs { None } else { Some(runs::measure()?) },
    };
    std::fs::write(&opts.out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", opts.out.display()))?;
    Ok(table::render(&report))
}

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

#[cfg(test)]
mod tests {
    /// The field names are schema version 1's: a reader of older bench.json files still reads
    /// these, and skipped runs are `null`.
    #[test]
    fn json_from_fixture() {
        let mut report = super::fixture::report();
        insta::assert_snapshot!(serde_json::to_string_pretty(&report).unwrap());
        report.runs = None;
        let v = serde_json::to_value(&report).unwrap();
        assert!(v["runs"].is_null());
        assert_eq!(v["probe_overhead"]["kept_open_pwrite"]["attached_captured"]["median_ns"], 3_300.0);
        assert_eq!(v["filtering"]["target_storm"]["storm_writes"], 490_496);
    }
}
