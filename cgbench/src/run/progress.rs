//! Progress on long runs: a bar with ETA on a terminal, a plain line every tenth of the run
//! otherwise (CI logs), nothing with `--quiet`.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    Lines { total: usize, done: usize },
    Quiet,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        if quiet {
            return Progress::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Lines { total, done: 0 };
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} trials · {elapsed} · ETA {eta}")
                .expect("a valid template"),
        );
        Progress::Bar(bar)
    }

    pub fn tick(&mut self) {
        match self {
            Progress::Bar(bar) => bar.inc(1),
            Progress::Lines { total, done } => {
                *done += 1;
                let step = (*total / 10).max(1);
                if *done % step == 0 || *done == *total {
                    eprintln!("cgbench: {done}/{total} trials");
                }
            }
            Progress::Quiet => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
