//! Real-time group scheduling (cgroup v1 with `cpu.rt_runtime_us`): a group's real-time runtime
//! must fit, with its siblings', in its parent's, level by level up to the host's budget. Giving
//! a container runtime therefore raises each ancestor that lacks room, outermost first — seed
//! 003's recipe, worked out instead of echoed by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::plan::Step;
use crate::host::cgroup::{
    Host, ResourceDir, io,
    knobs::{Controller, KnobWrite},
};

const RUNTIME: &str = "cpu.rt_runtime_us";
const PERIOD: &str = "cpu.rt_period_us";

/// A group's real-time runtime and period, in µs; a runtime of -1 is unlimited.
type Budget = (i64, u64);

/// The kernel's `to_ratio`: runtime per period in 20-bit fixed point, which its checks compare.
fn ratio((runtime, period): Budget) -> u128 {
    match (runtime, period) {
        (r, _) if r < 0 => 1 << 20,
        (_, 0) => 0,
        (r, p) => ((r as u128) << 20) / u128::from(p),
    }
}

/// The ancestors' runtime to raise, as steps to run before the container's own, for the
/// runtime `steps` give the container's cpu cgroup.
pub fn ancestors_to_raise(host: &Host, cpu: &ResourceDir, steps: &[Step]) -> anyhow::Result<Vec<Step>> {
    let own = |file: &str| steps.iter().find(|s| s.path == cpu.path.join(file)).map(|s| s.new.clone());
    let Some(runtime) = own(RUNTIME) else { return Ok(Vec::new()) };
    let period = match own(PERIOD) {
        Some(period) => period,
        None => io::read_value(&io::control_file(&cpu.path, PERIOD)?)?,
    };
    let new = (runtime.parse()?, period.parse()?);
    let root = host.hierarchy_root(Controller::Cpu)?;
    let raises = raise(&cpu.path, root, new, &budget_of, &children_of)?;
    raises
        .into_iter()
        .map(|(dir, old, new)| {
            let knob = KnobWrite::plain(Controller::Cpu, RUNTIME, new);
            Ok(Step::new(knob, io::control_file(&dir, RUNTIME)?, &old.to_string(), true))
        })
        .collect()
}

fn budget_of(dir: &Path) -> anyhow::Result<Budget> {
    let read = |file| -> anyhow::Result<String> { io::read_value(&io::control_file(dir, file)?) };
    Ok((read(RUNTIME)?.parse()?, read(PERIOD)?.parse()?))
}

fn children_of(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
}

/// Walks up from `dir`, which is to get `new`: each ancestor whose runtime cannot hold its
/// children's (with `dir`'s line raised) gets the least runtime that can, and its own parent is
/// checked in turn. The root's budget is the host's and is never changed: too little there is an
/// error. Returns `(ancestor, old runtime, new runtime)`, outermost first.
fn raise(
    dir: &Path,
    root: &Path,
    new: Budget,
    budget_of: &dyn Fn(&Path) -> anyhow::Result<Budget>,
    children_of: &dyn Fn(&Path) -> anyhow::Result<Vec<PathBuf>>,
) -> anyhow::Result<Vec<(PathBuf, i64, i64)>> {
    let mut raises = Vec::new();
    let (mut child, mut child_budget) = (dir.to_path_buf(), new);
    while let Some(parent) = child.parent().filter(|p| p.starts_with(root)) {
        let mut needed = 0;
        for c in children_of(parent)? {
            needed += ratio(if c == child { child_budget } else { budget_of(&c)? });
        }
        let (runtime, period) = budget_of(parent)?;
        if ratio((runtime, period)) >= needed {
            break;
        }
        if parent == root {
            bail!(
                "the host's real-time budget ({runtime} µs every {period} µs, {}) cannot also hold the container's {} µs every {} µs: lower --cpu-rt-runtime",
                root.join(RUNTIME).display(),
                new.0,
                new.1
            );
        }
        // The least runtime whose ratio holds the children's, as the kernel rounds.
        let mut raised = ((needed * u128::from(period)) >> 20) as i64;
        while ratio((raised, period)) < needed {
            raised += 1;
        }
        raises.push((parent.to_path_buf(), runtime, raised));
        (child, child_budget) = (parent.to_path_buf(), (raised, period));
    }
    raises.reverse();
    Ok(raises)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The tree on this machine kind: the host's 950000/1000000, `docker` with none, two
    /// containers, one of which already runs real-time tasks with 100000.
    fn tree() -> HashMap<PathBuf, Budget> {
        [("/cpu", (950_000, 1_000_000)), ("/cpu/docker", (100_000, 1_000_000)), ("/cpu/docker/a", (0, 1_000_000))]
            .into_iter()
            .chain([("/cpu/docker/b", (100_000, 1_000_000)), ("/cpu/user", (0, 1_000_000))])
            .map(|(p, b)| (PathBuf::from(p), b))
            .collect()
    }

    fn raise_in(tree: &HashMap<PathBuf, Budget>, new: Budget) -> anyhow::Result<Vec<(PathBuf, i64, i64)>> {
        let budget = |p: &Path| tree.get(p).copied().context("no such group");
        let children = |p: &Path| Ok(tree.keys().filter(|k| k.parent() == Some(p)).cloned().collect());
        raise(Path::new("/cpu/docker/a"), Path::new("/cpu"), new, &budget, &children)
    }

    #[test]
    fn the_parent_is_raised_to_hold_both_children_and_the_root_is_left_alone() {
        // The least the kernel's 20-bit fixed point accepts: 194999 µs holds 95000 + 100000.
        let raises = raise_in(&tree(), (95_000, 1_000_000)).unwrap();
        assert_eq!(raises, [(PathBuf::from("/cpu/docker"), 100_000, 194_999)]);
    }

    #[test]
    fn room_already_there_raises_nothing_and_a_shorter_period_counts_as_its_ratio() {
        let mut roomy = tree();
        roomy.insert("/cpu/docker".into(), (500_000, 1_000_000));
        assert_eq!(raise_in(&roomy, (95_000, 1_000_000)).unwrap(), []);
        // 10000 every 100000 is a tenth, as 100000 every 1000000 is; in the kernel's 20-bit
        // fixed point two tenths fit in 199999 every 1000000.
        let raises = raise_in(&tree(), (10_000, 100_000)).unwrap();
        assert_eq!(raises, [(PathBuf::from("/cpu/docker"), 100_000, 199_999)]);
    }

    #[test]
    fn more_than_the_host_has_is_refused() {
        let err = raise_in(&tree(), (900_000, 1_000_000)).unwrap_err().to_string();
        assert_eq!(
            err,
            "the host's real-time budget (950000 µs every 1000000 µs, /cpu/cpu.rt_runtime_us) cannot also hold the container's 900000 µs every 1000000 µs: lower --cpu-rt-runtime"
        );
    }
}
