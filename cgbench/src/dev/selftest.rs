//! `cgbench selftest` (hidden; `cargo xtask vm-test` runs it inside a VM): raw writes to a scratch
//! cgroup, captured with each attach method and paired like `compare`'s raw route, on kernels this
//! machine cannot run (fentry, kprobes, cgroup v2). One result line per method and limit file.

use std::fmt::Write as _;

use anyhow::ensure;

use crate::{
    analysis::{self, Actors, Outcome, TrialResult, stats::median},
    host::{
        cgroup::{CgroupFiles, Host, Scratch},
        system::ensure_root,
    },
    kernel::{AttachMethod, Probes, Watch, attach, events::KernelEvent},
    options::{SelftestMode as Mode, SelftestOptions},
    resource::Limit,
    run::routes::raw::write_all as raw_update,
    trial::{ExecutedTrial, PlannedTrial, Route},
};

fn label(mode: Mode) -> &'static str {
    match mode {
        Mode::Alone => "selftest",
        Mode::Together => "selftest-together",
    }
}

/// One method's view of the run.
#[derive(Default)]
struct Seen {
    trials: Vec<ExecutedTrial>,
    events: Vec<KernelEvent>,
    lost: u64,
}

/// Writes `writes` values to each of memory and cpu per method (per run, together), in blocks
/// of `block`, and reports what each method saw.
pub fn run(opts: &SelftestOptions) -> anyhow::Result<String> {
    let SelftestOptions { methods, writes, block, mode } = opts;
    let (methods, writes, block, mode) = (methods.as_slice(), *writes, *block, *mode);
    ensure_root()?;
    for &method in methods {
        attach::choose(Some(method))?;
    }
    let scratch = Scratch::new(&Host::detect()?, &format!("cgbench-selftest-{}", std::process::id()))?;
    let files = &scratch.files;
    let values = [
        [Limit::Memory { bytes: 64 << 20 }, Limit::Memory { bytes: 128 << 20 }],
        [Limit::cpus(500_000)?, Limit::cpus(1_000_000)?],
    ];
    let mut seen: Vec<Seen> = methods.iter().map(|_| Seen::default()).collect();
    let mut step = 0u64;
    let turns: Vec<Vec<usize>> = match mode {
        Mode::Alone => (0..methods.len()).map(|m| vec![m]).collect(),
        Mode::Together => vec![(0..methods.len()).collect()],
    };
    for _ in (0..writes).step_by(block) {
        for turn in &turns {
            let mut attached = Vec::new();
            for &m in turn {
                attached.push((m, watching(methods[m], files)?));
            }
            // Unmeasured writes first: attaching patches kernel text, and the first writes after
            // it run cold (under emulation the patched code is translated again).
            for pair in &values {
                for i in 0..block {
                    raw_update(files, &pair[i % 2].nudged(1000 + i as u64))?;
                }
            }
            for (_, probes) in &mut attached {
                probes.drain();
            }
            for pair in &values {
                for _ in 0..block {
                    step += 1;
                    let limit = pair[(step % 2) as usize].nudged(step % 1000 + 1);
                    let lost_before: Vec<u64> =
                        attached.iter().map(|(_, p)| p.lost()).collect::<anyhow::Result<_>>()?;
                    let span = raw_update(files, &limit)?;
                    let (start_ns, end_ns) = (span.start_ns, span.end_ns);
                    let target = files.trial_target(&limit)?;
                    for ((m, probes), before) in attached.iter_mut().zip(lost_before) {
                        let seen = &mut seen[*m];
                        seen.events.extend(probes.drain());
                        let planned =
                            PlannedTrial { index: seen.trials.len(), route: Route::Raw, limit, warmup: false };
                        let lost_events = probes.lost()? - before;
                        let target = target.clone();
                        let container_gone = false;
                        seen.trials.push(ExecutedTrial {
                            planned,
                            target,
                            start_ns,
                            end_ns,
                            lost_events,
                            container_gone,
                        });
                    }
                }
            }
            for (m, probes) in &attached {
                seen[*m].lost += probes.lost()?;
            }
        }
    }

    let actors = Actors { own_tgid: std::process::id(), container_id: "" };
    let paired: Vec<(AttachMethod, Vec<TrialResult>, u64)> = methods
        .iter()
        .zip(seen)
        .map(|(&method, Seen { trials, events, lost })| (method, analysis::pair(trials, events, &actors), lost))
        .collect();
    let file_names = [files.trial_target(&values[0][0])?.file, files.trial_target(&values[1][0])?.file];
    let mut out = String::new();
    let mut all_seen = true;
    for (method, results, lost) in &paired {
        all_seen &= results.iter().all(|r| r.latency_ns().is_some());
        for file in &file_names {
            let of_file: Vec<_> = results.iter().filter(|r| r.trial.target.file == *file).collect();
            let latencies: Vec<f64> = of_file.iter().filter_map(|r| r.latency_ns()).map(|ns| ns as f64).collect();
            let applied: Vec<f64> = of_file
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Paired(t) => Some((t.write_exit_ns - t.write_enter_ns) as f64),
                    _ => None,
                })
                .collect();
            // The median of each block's median: a burst of host noise spoils a block or two,
            // not the figure (blocks of a method are spread over the whole run).
            let block_medians: Vec<f64> = latencies.chunks(block).filter_map(median).collect();
            let median = |v: &[f64]| median(v).unwrap_or(f64::NAN);
            let _ = writeln!(
                out,
                "{} method={} file={file} seen={}/{} lost={lost} median_latency_ns={:.0} block_median_latency_ns={:.0} median_applied_ns={:.0}",
                label(mode),
                method.flag(),
                latencies.len(),
                of_file.len(),
                median(&latencies),
                median(&block_medians),
                median(&applied)
            );
        }
    }
    if mode == Mode::Together {
        for file in &file_names {
            let (nested, of) = nesting(&paired, file);
            let _ = writeln!(out, "selftest-together nesting file={file} nested={nested}/{of}");
        }
    }
    ensure!(all_seen, "{out}some writes were not seen");
    Ok(out)
}

/// Attached together, the methods saw the same writes (trial i is the same write for each):
/// how many of the writes to `file` every method placed consistently in time — the syscall
/// tracepoints' span around the function-level hooks' (fentry, kprobe) — out of how many.
fn nesting(paired: &[(AttachMethod, Vec<TrialResult>, u64)], file: &str) -> (usize, usize) {
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

/// Probes of one method that report this process's writes to the scratch cgroups.
fn watching(method: AttachMethod, files: &CgroupFiles) -> anyhow::Result<Probes> {
    let writers = [std::process::id()];
    Probes::watching(method, &Watch { writers: &writers, cgroups: &files.keys()?, ..Watch::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analysis::Timeline, trial::Target};

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
        }
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
