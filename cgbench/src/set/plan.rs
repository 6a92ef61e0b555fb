//! What a `set` will write, found and checked before anything is written: the container's own
//! directory for each controller, each file the mapping names with what it holds now, and the
//! checks that the kernel's state allows the change (`validate.rs`, `realtime.rs`).

use std::path::PathBuf;

use serde::Serialize;

use super::{realtime, validate};
use crate::{
    host::{
        cgroup::{
            Host, ResourceDir, io,
            knobs::{Controller, KnobWrite, shows, touched},
        },
        journal::start_ticks,
        tasks::{TaskPriority, threads_of},
    },
    settings::Settings,
};

/// One file (or one entry of a file) to change.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub controller: Controller,
    pub path: PathBuf,
    /// The file, with the device or interface of an entry.
    pub label: String,
    pub old: String,
    pub new: String,
    /// An ancestor's real-time runtime, raised to make room for the container's.
    pub ancestor: bool,
    #[serde(skip)]
    pub knob: KnobWrite,
}

impl Step {
    pub fn new(knob: KnobWrite, path: PathBuf, content: &str, ancestor: bool) -> Step {
        Step {
            controller: knob.controller,
            label: knob.label(),
            old: knob.current_in(content),
            new: knob.value.clone(),
            ancestor,
            path,
            knob,
        }
    }

    /// Whether the file already shows the new value: then it is not written.
    pub fn unchanged(&self) -> bool {
        shows(&self.new, &self.old)
    }

    /// The bytes that set the new value, and those that put the old one back.
    pub fn write_bytes(&self) -> String {
        self.knob.bytes(&self.new)
    }

    pub fn undo_bytes(&self) -> String {
        self.knob.bytes(&self.old)
    }

    /// Whether the file shows the new value now.
    pub fn read_back(&self) -> anyhow::Result<Option<String>> {
        let now = self.knob.current_in(&io::read_value(&self.path)?);
        Ok((!shows(&self.new, &now)).then_some(now))
    }
}

/// Everything a `set` changes, in the order it changes it.
pub struct Plan {
    pub steps: Vec<Step>,
    /// The container's threads as they are, when priorities are to change.
    pub tasks: Vec<TaskPriority>,
}

/// Finds and reads every file `settings` touches and checks the change can be made whole.
pub fn plan(host: &Host, proc_cgroup: &str, settings: &Settings) -> anyhow::Result<Plan> {
    let r = &settings.resources;
    let mut dirs: Vec<(Controller, ResourceDir)> =
        touched(r).into_iter().map(|c| Ok((c, host.container_dir(proc_cgroup, c)?))).collect::<anyhow::Result<_>>()?;
    dirs.sort_by_key(|(c, dir)| (dir.version, dir.version.mapping().order.iter().position(|o| o == c)));
    let mut steps = Vec::new();
    for (controller, dir) in &dirs {
        let current = |file: &str| io::control_file(&dir.path, file).and_then(|p| io::read_value(&p)).ok();
        for knob in (dir.version.mapping().knobs)(*controller, r, &current)? {
            let path = io::control_file(&dir.path, &knob.file)?;
            let content = io::read_value(&path)?;
            steps.push(Step::new(knob, path, &content, false));
        }
    }
    let memory = dirs.iter().find(|(c, _)| *c == Controller::Memory).map(|(_, d)| d);
    if let Some(memory) = memory {
        validate::memory(memory, &steps)?;
    }
    let priorities = &settings.priorities;
    let cpu = match dirs.iter().find(|(c, _)| *c == Controller::Cpu) {
        Some((_, dir)) => Some(dir.clone()),
        None if priorities.any() => Some(host.container_dir(proc_cgroup, Controller::Cpu)?),
        None => None,
    };
    if let Some(cpu) = &cpu {
        let raises = realtime::ancestors_to_raise(host, cpu, &steps)?;
        steps.splice(0..0, raises);
        validate::real_time_policy(cpu, &steps, priorities)?;
    }
    let tasks = match cpu.filter(|_| priorities.any()) {
        Some(cpu) => threads(&cpu)?,
        None => Vec::new(),
    };
    Ok(Plan { steps, tasks })
}

/// The container's threads with their priorities now; one that exits between the listing and the
/// reading needs none.
fn threads(cpu: &ResourceDir) -> anyhow::Result<Vec<TaskPriority>> {
    let mut tasks = Vec::new();
    for tid in threads_of(cpu)? {
        match TaskPriority::read(tid) {
            Ok(task) => tasks.push(task),
            Err(_) if start_ticks(tid).is_none() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(tasks)
}
