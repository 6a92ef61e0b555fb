//! `cgbench selftest` (hidden; `cargo xtask vm-test` runs it inside a VM): raw writes to a scratch
//! cgroup, captured with one attach method and paired like `compare`'s raw route, on kernels this
//! machine cannot run (fentry, kprobes, cgroup v2). One result line per limit file.

use std::fmt::Write as _;

use anyhow::{Context as _, ensure};

use crate::{
    cgroup::{self, Host, Scratch},
    compare::{ensure_root, raw_update},
    events::KernelEvent,
    pairing::{self, Actors, ExecutedTrial, Outcome, Target},
    plan::{PlannedTrial, Route},
    probes::{self, AttachMethod, Probes},
    resource::Limit,
    stats::summarize,
};

/// Writes `writes` values to each of memory and cpu per method, in blocks of `block` that rotate
/// through the methods (A B C A B C …), so that a drifting machine — an emulated one drifts a
/// lot — weighs on every method alike. Probes are loaded for a block and detached after it.
pub fn run(methods: &[AttachMethod], writes: usize, block: usize) -> anyhow::Result<String> {
    ensure_root()?;
    for &method in methods {
        probes::choose(Some(method))?;
    }
    let scratch = Scratch::new(&Host::detect()?, &format!("cgbench-selftest-{}", std::process::id()))?;
    let files = &scratch.files;

    let values = [
        [Limit::Memory { bytes: 64 << 20 }, Limit::Memory { bytes: 128 << 20 }],
        [Limit::cpus(500_000)?, Limit::cpus(1_000_000)?],
    ];
    let mut out = String::new();
    let mut per_method: Vec<(Vec<ExecutedTrial>, Vec<KernelEvent>, u64)> =
        methods.iter().map(|_| Default::default()).collect();
    let mut step = 0u64;
    for _ in (0..writes).step_by(block.max(1)) {
        for (m, &method) in methods.iter().enumerate() {
            let mut probes = Probes::load(method)?;
            probes.watch_writer(std::process::id())?;
            for key in files.keys()? {
                probes.watch_cgroup(key)?;
            }
            // Unmeasured writes first: attaching patches kernel text, and the first writes after
            // it run cold (under emulation the patched code is translated again).
            for pair in &values {
                for i in 0..block.max(1) {
                    raw_update(files, &pair[i % 2].nudged(1000 + i as u64))?;
                }
            }
            probes.drain();
            let (trials, events, lost) = &mut per_method[m];
            for pair in &values {
                for _ in 0..block.max(1) {
                    step += 1;
                    let limit = pair[(step % 2) as usize].nudged(step % 1000 + 1);
                    let target = files.target(&limit);
                    let lost_before = probes.lost()?;
                    let (start_ns, end_ns) = raw_update(files, &limit)?;
                    events.extend(probes.drain());
                    let lost_events = probes.lost()? - lost_before;
                    let planned = PlannedTrial { index: trials.len(), route: Route::Raw, limit, warmup: false };
                    let cgroup = cgroup::dir_key(target.path.parent().context("a cgroup file has a directory")?)?;
                    let target = Target { file: target.file_name().to_owned(), value: target.value, cgroup };
                    trials.push(ExecutedTrial { planned, target, start_ns, end_ns, lost_events });
                }
            }
            *lost += probes.lost()?;
        }
    }

    let mut all_seen = true;
    for (&method, (trials, events, lost)) in methods.iter().zip(per_method) {
        let actors = Actors { own_tgid: std::process::id(), container_id: "" };
        let results = pairing::pair(trials, events, &actors);
        all_seen &= results.iter().all(|r| r.latency_ns().is_some());
        for file in
            [files.target(&values[0][0]).file_name().to_owned(), files.target(&values[1][0]).file_name().to_owned()]
        {
            let of_file: Vec<_> = results.iter().filter(|r| r.trial.target.file == file).collect();
            let latencies: Vec<f64> = of_file.iter().filter_map(|r| r.latency_ns()).map(|ns| ns as f64).collect();
            let applied: Vec<f64> = of_file
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Paired(t) => Some((t.write_exit_ns - t.write_enter_ns) as f64),
                    _ => None,
                })
                .collect();
            let median = |v: &[f64]| summarize(v).map_or(f64::NAN, |s| s.median_ns);
            // The median of each block's median: a burst of host noise spoils a block or two,
            // not the figure (blocks of a method are spread over the whole run).
            let block_medians: Vec<f64> = latencies.chunks(block.max(1)).map(median).collect();
            let _ = writeln!(
                out,
                "selftest method={} file={file} seen={}/{} lost={lost} median_latency_ns={:.0} block_median_latency_ns={:.0} median_applied_ns={:.0}",
                method.flag(),
                latencies.len(),
                of_file.len(),
                median(&latencies),
                median(&block_medians),
                median(&applied)
            );
        }
    }
    ensure!(all_seen, "{out}some writes were not seen");
    Ok(out)
}
