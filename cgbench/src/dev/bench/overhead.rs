//! Part 1, overhead: raw writes timed with the probes detached, attached and at each depth of
//! the capture path in between, which attributes the cost: tracepoint machinery, in-kernel
//! filter, capture.

use std::path::Path;

use anyhow::{Context as _, ensure};
use serde::Serialize;

use super::{attach, scratch, time_writes};
use crate::{
    analysis::stats::{median, percentile},
    host::cgroup::{Scratch, dir_key, io::KeptOpen},
    kernel::{AttachMethod, Probes, Watch},
    options::BenchOptions as Options,
};

#[derive(Debug, Serialize)]
pub struct ProbeOverhead {
    pub open_write_close: ModeOverhead,
    pub kept_open_pwrite: ModeOverhead,
}

/// One way of writing, timed on every side.
#[derive(Debug, Serialize)]
pub struct ModeOverhead {
    pub writes_per_side: usize,
    pub detached: SideFigures,
    pub attached_not_watched: SideFigures,
    pub attached_filtered_out: SideFigures,
    pub attached_captured: SideFigures,
}

impl ModeOverhead {
    pub fn side(&self, side: Side) -> &SideFigures {
        match side {
            Side::Detached => &self.detached,
            Side::NotWatched => &self.attached_not_watched,
            Side::FilteredOut => &self.attached_filtered_out,
            Side::Captured => &self.attached_captured,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SideFigures {
    pub median_ns: f64,
    pub p99_ns: f64,
    /// This side's median over the detached side's.
    pub median_ratio: f64,
}

/// How much of the capture path a block of writes goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// No probe attached.
    Detached,
    /// Probes attached, cgbench not a writer: the tracepoint machinery and one map lookup.
    NotWatched,
    /// cgbench a writer, but its cgroup not a target: the fd → file → directory walk too.
    FilteredOut,
    /// The full capture: pending record, event in the ring buffer.
    Captured,
}

impl Side {
    /// The order the blocks take turns in, and the table's columns.
    pub const ALL: [Side; 4] = [Side::Detached, Side::NotWatched, Side::FilteredOut, Side::Captured];

    pub fn label(self) -> &'static str {
        match self {
            Side::Detached => "detached",
            Side::NotWatched => "attached not watched",
            Side::FilteredOut => "attached filtered out",
            Side::Captured => "attached captured",
        }
    }

    fn probes(self, target: &Path, method: AttachMethod) -> anyhow::Result<Option<Probes>> {
        Ok(match self {
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
}

pub fn measure(opts: &Options, method: AttachMethod) -> anyhow::Result<ProbeOverhead> {
    let scratch = scratch("overhead")?;
    let kept = KeptOpen::open([scratch.memory_limit_file()])?;
    Ok(ProbeOverhead {
        open_write_close: one_mode(opts, method, &scratch, None)?,
        kept_open_pwrite: one_mode(opts, method, &scratch, Some(&kept))?,
    })
}

/// Blocks of each side in turn (A B C D A B C D …), so that all sides see the same drift.
fn one_mode(
    opts: &Options,
    method: AttachMethod,
    scratch: &Scratch,
    kept_open: Option<&KeptOpen>,
) -> anyhow::Result<ModeOverhead> {
    let file = scratch.memory_limit_file();
    let mut samples: [Vec<f64>; Side::ALL.len()] = Default::default();
    let mut delivered = 0usize;
    while samples[0].len() < opts.writes {
        for (side, samples) in Side::ALL.into_iter().zip(&mut samples) {
            let mut probes = side.probes(&scratch.files.memory.path, method)?;
            samples.extend(time_writes(&file, opts.block, kept_open)?.into_iter().map(|ns| ns as f64));
            if let Some(probes) = probes.as_mut() {
                let events = probes.drain().len();
                ensure!(probes.lost()? == 0, "the ring buffer overflowed during the overhead blocks");
                if side == Side::Captured {
                    delivered += events;
                } else {
                    ensure!(events == 0, "{events} events were delivered although nothing was watched");
                }
            }
        }
    }
    let [detached, not_watched, filtered_out, captured] = samples;
    ensure!(delivered == captured.len(), "the probes reported {delivered} of {} writes", captured.len());
    let detached_median_ns = median(&detached).context("no write was timed")?;
    let figures = |mut sample: Vec<f64>| {
        sample.sort_by(f64::total_cmp);
        let median_ns = percentile(&sample, 50.0);
        SideFigures { median_ns, p99_ns: percentile(&sample, 99.0), median_ratio: median_ns / detached_median_ns }
    };
    Ok(ModeOverhead {
        writes_per_side: captured.len(),
        detached: figures(detached),
        attached_not_watched: figures(not_watched),
        attached_filtered_out: figures(filtered_out),
        attached_captured: figures(captured),
    })
}
