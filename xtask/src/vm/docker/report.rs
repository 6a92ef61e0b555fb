//! What the Docker VM's checks leave in the share, as the host reads it. The report and doctor
//! types mirror cgbench's JSON (xtask cannot depend on cgbench, whose build needs the toolchain
//! xtask installs), with only the fields the checks read. Every field mirrored must be present,
//! `null`s included, so that a field renamed on one side fails here rather than reading as
//! missing.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, de::DeserializeOwned};

/// Mirrors `cgbench::doctor::Check`.
#[derive(Debug, Deserialize)]
pub struct DoctorCheck {
    pub name: String,
    pub status: String,
    pub detail: String,
}

/// Mirrors `cgbench::report::Report` as `--json` writes it (cgbench/src/report/).
#[derive(Debug, Deserialize)]
pub struct Report {
    pub environment: Environment,
    pub honesty: Honesty,
    #[serde(deserialize_with = "Option::deserialize")]
    pub ended_early: Option<String>,
    pub trials: Vec<Trial>,
}

/// Mirrors `cgbench::report::Environment`.
#[derive(Debug, Deserialize)]
pub struct Environment {
    pub cgroup_layout: String,
    pub docker_cgroup_driver: String,
    pub probe_method: String,
}

/// Mirrors `cgbench::analysis::Honesty`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Honesty {
    pub lost_events: u64,
    pub unpaired_trials: usize,
    pub failed_trials: usize,
    pub out_of_order_trials: usize,
}

/// Mirrors `cgbench::analysis::TrialResult`.
#[derive(Debug, Deserialize)]
pub struct Trial {
    pub index: usize,
    /// `docker_cli`, `docker_api`, `raw`, `raw_kept_open`.
    pub route: String,
    pub limit: Limit,
    pub target: Target,
    /// Written only when true.
    #[serde(default)]
    pub container_gone: bool,
    /// Raw routes: what the target file held after the write.
    pub read_back: Option<String>,
    pub outcome: Outcome,
    /// Written only under `--load`, for trials of the loaded resource.
    #[serde(default)]
    pub effect: Option<InEffect>,
}

/// Mirrors `cgbench::analysis::pairing::effect::InEffect`: a direction, and the effect's status
/// (`seen`, `oom_kill`, `nothing`, `refused` or `missing`) with its time or its reason.
#[derive(Debug, Deserialize)]
pub struct InEffect {
    pub direction: String,
    pub status: String,
    pub after_applied_ns: Option<u64>,
    pub reason: Option<String>,
}

/// The tag of `cgbench::resource::Limit`.
#[derive(Debug, Deserialize)]
pub struct Limit {
    pub resource: String,
}

/// Mirrors `cgbench::trial::Target`.
#[derive(Debug, Deserialize)]
pub struct Target {
    pub file: String,
    pub value: String,
}

/// Mirrors `cgbench::analysis::Outcome`.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Paired(Timeline),
    /// A raw route's trial, timed by cgbench's clock; its file read back.
    Timed,
    Unpaired {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

/// Mirrors `cgbench::analysis::Timeline`.
#[derive(Debug, Deserialize)]
pub struct Timeline {
    pub write_exit_ns: u64,
    pub writer_pid: u32,
    pub writer_comm: String,
    #[serde(deserialize_with = "Option::deserialize")]
    pub runc_write_exit_ns: Option<u64>,
}

impl Trial {
    pub fn via_docker(&self) -> bool {
        self.route.starts_with("docker_")
    }
}

/// One line of the guest's `leftovers`: what a run may leave behind.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Leftovers {
    pub containers: String,
    pub journal: String,
    pub tracefs_mounts: u32,
}

/// One line of `<driver>-steps.jsonl`: a step of the checks, timed in the guest.
#[derive(Debug, Deserialize)]
pub struct Step {
    pub step: String,
    pub seconds: f64,
    pub exit_code: i32,
}

/// The share's file `<driver>-<what>`.
pub fn read_text(share: &Path, driver: &str, what: &str) -> anyhow::Result<String> {
    let path = share.join(format!("{driver}-{what}"));
    std::fs::read_to_string(&path).with_context(|| format!("the VM left no {}", path.display()))
}

pub fn read_json<T: DeserializeOwned>(share: &Path, driver: &str, what: &str) -> anyhow::Result<T> {
    let text = read_text(share, driver, what)?;
    serde_json::from_str(&text).with_context(|| format!("{driver}-{what} does not read as cgbench writes it"))
}

/// A file of one JSON object a line.
pub fn read_lines<T: DeserializeOwned>(share: &Path, driver: &str, what: &str) -> anyhow::Result<Vec<T>> {
    read_text(share, driver, what)?
        .lines()
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("{driver}-{what}: a line that does not parse: {line}"))
        })
        .collect()
}

/// The exit code a run's `.exit` file holds.
pub fn exit_code(share: &Path, driver: &str, run: &str) -> anyhow::Result<i32> {
    let text = read_text(share, driver, &format!("{run}.exit"))?;
    text.trim().parse().with_context(|| format!("{driver}-{run}.exit holds no exit code: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trial as cgbench's own JSON test (report::json) writes one, systemd's write first.
    const TRIAL: &str = r#"{"index":7,"route":"docker_api","limit":{"resource":"cpu","quota_us":51000,"period_us":100000},"target":{"file":"cpu.max","value":"51000 100000"},"start_ns":1,"end_ns":9,"lost_events":0,"outcome":{"status":"paired","request_ns":2,"request_syscall":"read","exec_ns":3,"first_write_ns":4,"write_enter_ns":5,"write_exit_ns":6,"writer_pid":1,"writer_comm":"systemd","runc_write_exit_ns":8,"latency_ns":5,"daemon_latency_ns":4}}"#;

    #[test]
    fn reads_a_trial_as_cgbench_writes_it() {
        let trial: Trial = serde_json::from_str(TRIAL).unwrap();
        assert!(trial.via_docker() && !trial.container_gone);
        let Outcome::Paired(timeline) = trial.outcome else { panic!("{trial:?}") };
        assert_eq!((timeline.writer_pid, timeline.runc_write_exit_ns), (1, Some(8)));
    }

    #[test]
    fn a_missing_field_fails_null_or_not() {
        for field in [r#""writer_pid":1,"#, r#""runc_write_exit_ns":8,"#] {
            let err = serde_json::from_str::<Trial>(&TRIAL.replace(field, "")).unwrap_err();
            assert!(err.to_string().contains("missing field"), "{err}");
        }
    }
}
