//! What `set` did (or would do), for people — old → new per file with each write's time — and
//! as one JSON object.

use std::fmt::Write as _;

use serde::Serialize;

use super::plan::Step;
use crate::{
    host::{docker::Recorded, tasks::TaskChange},
    units::format_ns,
};

/// The one line `set` always says: the direct write is invisible to Docker.
pub const DOCKER_DOES_NOT_KNOW: &str = "Docker's record does not know these values: a restart of the container puts Docker's back, as does a `docker update` of the same knob (of any knob, or a `systemctl daemon-reload`, under the systemd driver); --sync records those Docker knows";

#[derive(Serialize)]
pub struct SetReport<'a> {
    pub container: &'a str,
    pub container_id: &'a str,
    pub dry_run: bool,
    pub writes: Vec<FileReport<'a>>,
    pub tasks: &'a [TaskChange],
    /// Docker's field names recorded by `--sync`, and how long the Engine API took.
    pub synced: Option<Synced>,
    /// Knobs changed that Docker has no field for: `--sync` cannot keep them.
    pub docker_cannot_record: Vec<String>,
    pub note: &'static str,
}

#[derive(Serialize)]
pub struct FileReport<'a> {
    #[serde(flatten)]
    pub step: &'a Step,
    /// `None`: the file already showed the value (or a dry run), and was not written.
    pub write_ns: Option<u64>,
}

#[derive(Serialize)]
pub struct Synced {
    pub fields: Vec<&'static str>,
    pub took_ns: u64,
}

impl From<Recorded> for Synced {
    fn from(r: Recorded) -> Synced {
        Synced { fields: r.fields, took_ns: r.took_ns }
    }
}

impl SetReport<'_> {
    pub fn human(&self) -> String {
        let short = &self.container_id[..self.container_id.len().min(12)];
        let mut out = format!("container {} ({short})\n", self.container);
        let label = |s: &Step| match (s.ancestor, s.path.parent()) {
            (true, Some(dir)) => format!("{} of {}", s.label, dir.display()),
            _ => s.label.clone(),
        };
        let width = self.writes.iter().map(|w| label(w.step).len()).chain([13]).max().unwrap_or(0);
        for w in &self.writes {
            let took = match (w.write_ns, self.dry_run, w.step.unchanged()) {
                (Some(ns), _, _) => format_ns(ns as f64),
                (None, _, true) => "unchanged".to_owned(),
                (None, true, false) => "would write".to_owned(),
                (None, false, false) => "not written".to_owned(),
            };
            let change = format!("{} → {}", w.step.old, w.step.new);
            let _ = writeln!(out, "  {:width$}  {change:<32} {took:>11}", label(w.step));
        }
        for t in self.tasks {
            let change = format!("{} → {}", t.old, t.new);
            let what = format!("task {} {}", t.tid, t.what);
            let _ = writeln!(out, "  {what:width$}  {change:<32} {:>11}", format_ns(t.write_ns as f64));
        }
        let written: Vec<u64> = self.writes.iter().filter_map(|w| w.write_ns).collect();
        if self.dry_run {
            out.push_str("dry run: nothing was written\n");
            return out;
        }
        let total: u64 = written.iter().sum();
        let _ = writeln!(
            out,
            "{} files written in {} (each write(2) timed alone); every file reads back its new value",
            written.len(),
            format_ns(total as f64)
        );
        match &self.synced {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "--sync: Docker recorded {} in {} (Engine API)",
                    s.fields.join(", "),
                    format_ns(s.took_ns as f64)
                );
            }
            None => {
                let _ = writeln!(out, "{}", self.note);
            }
        }
        if !self.docker_cannot_record.is_empty() {
            let _ = writeln!(
                out,
                "Docker has no field for {}: a restart of the container puts them back",
                self.docker_cannot_record.join(", ")
            );
        }
        out
    }
}
