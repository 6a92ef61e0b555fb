//! `cgbench diff BASE NEW`: did a change make limit changes slower? Two `compare --json` reports,
//! each route and resource they share compared by its median latency, with a bootstrap
//! confidence interval of the change, so that noise is not taken for a regression.

mod compare;
mod read;
mod render;

#[cfg(test)]
mod tests;

use anyhow::Context as _;

pub use compare::Diff;

use crate::options::DiffOptions;

/// Reads and compares both reports, prints the comparison and writes it as Markdown when asked.
pub fn run(options: &DiffOptions) -> anyhow::Result<Diff> {
    let (base, new) = (read::run(&options.base)?, read::run(&options.new)?);
    let diff = compare::compare(base, new, options.threshold_percent, options.force)?;
    print!("{}", render::table(&diff));
    if let Some(path) = &options.markdown {
        std::fs::write(path, render::markdown(&diff)).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(diff)
}
