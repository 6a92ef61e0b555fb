//! `cgbench selftest` (hidden; `cargo xtask vm-test` runs it inside a VM): raw writes to a scratch
//! cgroup, captured with each attach method and paired like `compare`'s raw route, on kernels this
//! machine cannot run (fentry, kprobes, cgroup v2). One JSON object a line (`SelftestLine`) per
//! method and limit file, which vm-test reads.

mod lines;

use anyhow::ensure;

pub use self::lines::{MethodSaw, SelftestLine};
use crate::{
    analysis::{self, Actors, TrialResult},
    host::{
        cgroup::{CgroupFiles, Host, Scratch},
        system::ensure_root,
    },
    kernel::{AttachMethod, Probes, Watch, events::KernelEvent},
    options::{SelftestMode as Mode, SelftestOptions},
    resource::{CpuGrain, Limit},
    run::routes::raw::write_all as raw_update,
    trial::{ExecutedTrial, PlannedTrial, Route},
};

/// A method, its results and the events it lost.
type Paired = (AttachMethod, Vec<TrialResult>, u64);

/// One method's view of the run.
#[derive(Default)]
struct Seen {
    trials: Vec<ExecutedTrial>,
    events: Vec<KernelEvent>,
    lost: u64,
}

/// Writes `writes` values to each of memory and cpu per method (per run, together), in blocks
/// of `block`, and reports what each method saw, one JSON line each.
pub fn run(opts: &SelftestOptions) -> anyhow::Result<String> {
    ensure_root()?;
    let scratch = Scratch::new(&Host::detect()?, &format!("cgbench-selftest-{}", std::process::id()))?;
    let files = &scratch.files;
    let values = [
        [Limit::Memory { bytes: 64 << 20 }, Limit::Memory { bytes: 128 << 20 }],
        [Limit::cpus(500_000)?, Limit::cpus(1_000_000)?],
    ];
    let seen = capture(opts, files, &values)?;

    let actors = Actors { own_tgid: std::process::id(), container_id: "" };
    let paired: Vec<Paired> = opts
        .methods
        .iter()
        .zip(seen)
        .map(|(&method, Seen { trials, events, lost })| (method, analysis::pair(trials, events, &actors), lost))
        .collect();
    let file_names = [files.trial_target(&values[0][0])?.file, files.trial_target(&values[1][0])?.file];
    let mut out = String::new();
    for line in lines::lines(opts, &paired, &file_names) {
        out.push_str(&serde_json::to_string(&line)?);
        out.push('\n');
    }
    let all_seen = paired.iter().all(|(_, results, _)| results.iter().all(|r| r.latency_ns().is_some()));
    ensure!(all_seen, "{out}some writes were not seen");
    Ok(out)
}

/// The measured writes, in blocks, each method (or all at once) attached in turn.
fn capture(opts: &SelftestOptions, files: &CgroupFiles, values: &[[Limit; 2]; 2]) -> anyhow::Result<Vec<Seen>> {
    let methods = &opts.methods;
    let mut seen: Vec<Seen> = methods.iter().map(|_| Seen::default()).collect();
    let mut step = 0u64;
    let turns: Vec<Vec<usize>> = match opts.mode {
        Mode::Alone => (0..methods.len()).map(|m| vec![m]).collect(),
        Mode::Together => vec![(0..methods.len()).collect()],
    };
    for _ in (0..opts.writes).step_by(opts.block) {
        for turn in &turns {
            let mut attached = Vec::new();
            for &m in turn {
                attached.push((m, watching(methods[m], files)?));
            }
            // Unmeasured writes first: attaching patches kernel text, and the first writes after
            // it run cold (under emulation the patched code is translated again).
            for pair in values {
                for i in 0..opts.block {
                    raw_update(files, &pair[i % 2].nudged(1000 + i as u64, CpuGrain::Microsecond))?;
                }
            }
            for (_, probes) in &mut attached {
                probes.drain();
            }
            for pair in values {
                for _ in 0..opts.block {
                    step += 1;
                    let limit = pair[(step % 2) as usize].nudged(step % 1000 + 1, CpuGrain::Microsecond);
                    measured_write(files, limit, &mut attached, &mut seen)?;
                }
            }
            for (m, probes) in &attached {
                seen[*m].lost += probes.lost()?;
            }
        }
    }
    Ok(seen)
}

/// One write of `limit`, recorded as a trial for each attached method with what it captured.
fn measured_write(
    files: &CgroupFiles,
    limit: Limit,
    attached: &mut [(usize, Probes)],
    seen: &mut [Seen],
) -> anyhow::Result<()> {
    let lost_before: Vec<u64> = attached.iter().map(|(_, p)| p.lost()).collect::<anyhow::Result<_>>()?;
    let span = raw_update(files, &limit)?;
    let target = files.trial_target(&limit)?;
    for ((m, probes), before) in attached.iter_mut().zip(lost_before) {
        let seen = &mut seen[*m];
        seen.events.extend(probes.drain());
        seen.trials.push(ExecutedTrial {
            planned: PlannedTrial { index: seen.trials.len(), route: Route::Raw, limit, warmup: false },
            target: target.clone(),
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            lost_events: probes.lost()? - before,
            container_gone: false,
            read_back: None,
        });
    }
    Ok(())
}

/// Probes of one method that report this process's writes to the scratch cgroups.
fn watching(method: AttachMethod, files: &CgroupFiles) -> anyhow::Result<Probes> {
    let writers = [std::process::id()];
    Probes::watching(method, &Watch { writers: &writers, cgroups: &files.keys()?, ..Watch::default() })
}
