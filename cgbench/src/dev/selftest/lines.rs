//! What the self-test reports: one JSON object a line, which `cargo xtask vm-test` reads.

use serde::Serialize;

use super::Paired;
use crate::{
    analysis::{Outcome, TrialResult, stats::median},
    kernel::AttachMethod,
    options::{SelftestMode as Mode, SelftestOptions},
};

/// One line of the self-test's output. `cargo xtask vm-test` reads it into a mirror of its own
/// (`xtask/src/vm/selftest.rs`, since xtask cannot depend on cgbench): change both together.
#[derive(Debug, Serialize)]
#[serde(tag = "selftest", rename_all = "snake_case")]
pub enum SelftestLine {
    Method(MethodSaw),
    /// Attached together: of the writes to `file`, how many every method placed consistently
    /// in time (see `nesting`).
    Nesting {
        file: String,
        nested: usize,
        writes: usize,
    },
}

/// What one method saw of the writes to one limit file.
#[derive(Debug, Serialize)]
pub struct MethodSaw {
    pub mode: Mode,
    /// As `--attach` names it.
    pub method: &'static str,
    pub file: String,
    /// Writes paired with the method's events, of `writes`.
    pub seen: usize,
    pub writes: usize,
    /// Events the method lost over the whole run, all files together.
    pub lost: u64,
    /// Caller's start → the hook's exit. `None` (`null`) when no write was seen.
    pub median_latency_ns: Option<f64>,
    /// The median of each block's median: a burst of host noise spoils a block or two, not the
    /// figure (blocks of a method are spread over the whole run).
    pub block_median_latency_ns: Option<f64>,
    /// The hook's enter → exit.
    pub median_applied_ns: Option<f64>,
}

/// A line per method and file, then, attached together, a nesting line per file.
pub fn lines(opts: &SelftestOptions, paired: &[Paired], files: &[String]) -> Vec<SelftestLine> {
    let mut lines = Vec::new();
    for (method, results, lost) in paired {
        for file in files {
            lines.push(SelftestLine::Method(saw(opts, *method, results, *lost, file)));
        }
    }
    if opts.mode == Mode::Together {
        for file in files {
            let (nested, writes) = nesting(paired, file);
            lines.push(SelftestLine::Nesting { file: file.clone(), nested, writes });
        }
    }
    lines
}

/// What `method` saw of the writes to `file`.
fn saw(opts: &SelftestOptions, method: AttachMethod, results: &[TrialResult], lost: u64, file: &str) -> MethodSaw {
    let of_file: Vec<_> = results.iter().filter(|r| r.trial.target.file == file).collect();
    let latencies: Vec<f64> = of_file.iter().filter_map(|r| r.latency_ns()).map(|ns| ns as f64).collect();
    let applied: Vec<f64> = of_file
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Paired(t) => Some((t.write_exit_ns - t.write_enter_ns) as f64),
            _ => None,
        })
        .collect();
    let block_medians: Vec<f64> = latencies.chunks(opts.block).filter_map(median).collect();
    MethodSaw {
        mode: opts.mode,
        method: method.flag(),
        file: file.to_owned(),
        seen: latencies.len(),
        writes: of_file.len(),
        lost,
        median_latency_ns: median(&latencies),
        block_median_latency_ns: median(&block_medians),
        median_applied_ns: median(&applied),
    }
}

/// Attached together, the methods saw the same writes (trial i is the same write for each):
/// how many of the writes to `file` every method placed consistently in time — the syscall
/// tracepoints' span around the function-level hooks' (fentry, kprobe) — out of how many.
fn nesting(paired: &[Paired], file: &str) -> (usize, usize) {
    let timeline = |r: &TrialResult| match &r.outcome {
        Outcome::Paired(t) if r.trial.target.file == file => Some((t.write_enter_ns, t.write_exit_ns)),
        _ => None,
    };
    let Some((_, syscall_level, _)) = paired.iter().find(|(m, ..)| *m == AttachMethod::Tracepoint) else {
        return (0, 0);
    };
    let function_level: Vec<&Vec<TrialResult>> =
        paired.iter().filter(|(m, ..)| *m != AttachMethod::Tracepoint).map(|(_, r, _)| r).collect();
    if function_level.is_empty() {
        return (0, 0);
    }
    let of_file = syscall_level.iter().filter(|r| r.trial.target.file == file).count();
    let nested = syscall_level
        .iter()
        .enumerate()
        .filter(|(i, outer)| {
            timeline(outer).is_some_and(|(enter, exit)| {
                function_level.iter().all(|results| {
                    results.get(*i).and_then(timeline).is_some_and(|(e, x)| enter <= e && e <= x && x <= exit)
                })
            })
        })
        .count();
    (nested, of_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        analysis::Timeline,
        resource::Limit,
        trial::{ExecutedTrial, PlannedTrial, Route, Target},
    };

    /// One write as a method saw it: its hook's enter and exit.
    fn seen(enter: u64, exit: u64) -> TrialResult {
        let limit = Limit::Memory { bytes: 64 << 20 };
        TrialResult {
            trial: ExecutedTrial {
                planned: PlannedTrial { index: 0, route: Route::Raw, limit, warmup: false },
                target: Target { file: "memory.max".into(), value: "67108864".into(), cgroup: Default::default() },
                start_ns: 0,
                end_ns: 1_000,
                lost_events: 0,
                container_gone: false,
                read_back: None,
            },
            outcome: Outcome::Paired(Timeline {
                request_ns: None,
                request_syscall: None,
                exec_ns: None,
                first_write_ns: enter,
                write_enter_ns: enter,
                write_exit_ns: exit,
                writer_pid: 1,
                writer_comm: "cgbench".into(),
                runc_write_exit_ns: None,
                latency_ns: exit,
                daemon_latency_ns: None,
            }),
            effect: None,
        }
    }

    /// The lines `cargo xtask vm-test` reads (its tests parse these very lines).
    #[test]
    fn lines_are_json_objects_tagged_selftest() {
        let saw = SelftestLine::Method(MethodSaw {
            mode: Mode::Together,
            method: AttachMethod::Fentry.flag(),
            file: "memory.max".into(),
            seen: 300,
            writes: 300,
            lost: 0,
            median_latency_ns: Some(41_250.5),
            block_median_latency_ns: Some(40_000.0),
            median_applied_ns: None,
        });
        assert_eq!(
            serde_json::to_string(&saw).unwrap(),
            r#"{"selftest":"method","mode":"together","method":"fentry","file":"memory.max","seen":300,"writes":300,"lost":0,"median_latency_ns":41250.5,"block_median_latency_ns":40000.0,"median_applied_ns":null}"#
        );
        let nesting = SelftestLine::Nesting { file: "cpu.max".into(), nested: 299, writes: 300 };
        assert_eq!(
            serde_json::to_string(&nesting).unwrap(),
            r#"{"selftest":"nesting","file":"cpu.max","nested":299,"writes":300}"#
        );
    }

    #[test]
    fn nesting_counts_writes_whose_function_hooks_lie_inside_the_syscall() {
        let paired = vec![
            (AttachMethod::Fentry, vec![seen(20, 80), seen(20, 80), seen(5, 80)], 0),
            (AttachMethod::Kprobe, vec![seen(25, 85), seen(25, 95), seen(25, 85)], 0),
            (AttachMethod::Tracepoint, vec![seen(10, 90), seen(10, 90), seen(10, 90)], 0),
        ];
        // The second write's kprobe exit is after the syscall's; the third's fentry enter before.
        assert_eq!(nesting(&paired, "memory.max"), (1, 3));
        assert_eq!(nesting(&paired, "cpu.max"), (0, 0));
        assert_eq!(nesting(&paired[2..], "memory.max"), (0, 0), "nothing to nest without a function-level method");
    }
}
