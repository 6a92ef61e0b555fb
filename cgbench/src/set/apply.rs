//! Writing a plan: the journal first, then each file in order, each `write(2)` timed; every file
//! read back; then the tasks' priorities. Any failure puts back everything already changed,
//! latest first, and says so; a run killed in between is put back by the next cgbench from the
//! journal.

use anyhow::anyhow;

use super::plan::{Plan, Step};
use crate::{
    host::{
        cgroup::io,
        journal::{Change, Journal},
        tasks::{self, TaskChange},
    },
    settings::Priorities,
};

/// What was changed: each step with its write's time (`None`: it already held the value), and
/// each task priority.
pub struct Applied {
    pub writes: Vec<(Step, Option<u64>)>,
    pub tasks: Vec<TaskChange>,
}

pub fn apply(plan: Plan, priorities: &Priorities, container: &str, journal: &mut Journal) -> anyhow::Result<Applied> {
    let Plan { steps, tasks } = plan;
    let changed: Vec<&Step> = steps.iter().filter(|s| !s.unchanged()).collect();
    let files = Change::Files {
        container: container.to_owned(),
        files: changed.iter().map(|s| (s.path.clone(), s.undo_bytes())).collect(),
    };
    journal.record(files.clone())?;
    let mut written: Vec<&Step> = Vec::new();
    let mut timings = Vec::new();
    for step in &steps {
        if step.unchanged() {
            timings.push(None);
            continue;
        }
        match io::write_timed(&step.path, &step.write_bytes()) {
            Ok(ns) => timings.push(Some(ns)),
            Err(e) => {
                let cause = anyhow!("the kernel refused {} = {} ({})", step.label, step.new, e.root_cause());
                return Err(roll_back(&written, journal, &files, cause));
            }
        }
        written.push(step);
    }
    for step in &written {
        if let Some(shown) = step.read_back()? {
            let cause = anyhow!("{} shows {shown} after {} was written", step.label, step.new);
            return Err(roll_back(&written, journal, &files, cause));
        }
    }
    let task_changes = match set_priorities(&tasks, priorities, container, journal) {
        Ok(changes) => changes,
        Err(cause) => return Err(roll_back(&written, journal, &files, cause)),
    };
    journal.undone(&files)?;
    Ok(Applied { writes: steps.into_iter().zip(timings).collect(), tasks: task_changes })
}

/// Every task's priorities, journaled first; a refusal puts back the tasks already changed.
fn set_priorities(
    tasks: &[tasks::TaskPriority],
    priorities: &Priorities,
    container: &str,
    journal: &mut Journal,
) -> anyhow::Result<Vec<TaskChange>> {
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let change = Change::Priorities { container: container.to_owned(), tasks: tasks.to_vec() };
    journal.record(change.clone())?;
    let mut changes = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        match tasks::apply(task, priorities) {
            Ok(done) => changes.extend(done),
            Err(refused) => {
                let restored: anyhow::Result<()> = tasks[..=i].iter().try_for_each(tasks::restore);
                return Err(match restored {
                    Ok(()) => {
                        journal.undone(&change)?;
                        anyhow!("the kernel refused: {refused:#} (the tasks' priorities are as they were)")
                    }
                    Err(e) => anyhow!(
                        "the kernel refused: {refused:#}; putting the tasks' priorities back failed too ({e:#}): `cgbench cleanup` retries"
                    ),
                });
            }
        }
    }
    journal.undone(&change)?;
    Ok(changes)
}

/// Puts back every file already written, latest first; the journal keeps what could not be put
/// back, for `cgbench cleanup`.
fn roll_back(written: &[&Step], journal: &mut Journal, files: &Change, cause: anyhow::Error) -> anyhow::Error {
    let failed: Vec<String> = written
        .iter()
        .rev()
        .filter_map(|s| {
            io::write_value(&s.path, &s.undo_bytes()).err().map(|e| format!("{}: {}", s.label, e.root_cause()))
        })
        .collect();
    if !failed.is_empty() {
        return anyhow!(
            "{cause}; putting back failed for {}: `cgbench cleanup` retries (the journal keeps them)",
            failed.join(", ")
        );
    }
    if let Err(e) = journal.undone(files) {
        return anyhow!("{cause}; every file is put back, but the journal could not be updated: {e:#}");
    }
    match written.len() {
        0 => anyhow!("{cause}; nothing was written"),
        n => {
            let labels: Vec<&str> = written.iter().rev().map(|s| s.label.as_str()).collect();
            anyhow!("{cause}; put back the {n} files already written ({}): nothing is changed", labels.join(", "))
        }
    }
}
