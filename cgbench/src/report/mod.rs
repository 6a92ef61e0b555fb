//! The report of a run: the analysis with the environment it was measured in, and the formats
//! it is shown in (one module per format). Renderers take the analysis, never host types.

mod csv;
mod effect_table;
mod floor_lines;
mod json;
mod markdown;
mod svg;
mod table;

#[cfg(test)]
#[path = "../../../tests/common/schema.rs"]
pub mod schema;

pub use json::SCHEMA_VERSION;
use serde::Serialize;

use crate::{
    analysis::{Analysis, Group, Honesty, Layer, Speedup, TrialResult, effects::EffectGroup, floor::Floor},
    kernel::{events::KernelEvent, syscalls::SyscallTax},
    load::Load,
    resource::Limits,
    trial::Route,
};

/// The file formats a run can be written in (`--json`, `--csv`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
    Events,
    Svg,
}

/// What was measured, on what: the host as the run found it, in words.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub cgbench_version: String,
    pub kernel: String,
    /// `legacy`, `hybrid` or `unified`.
    pub cgroup_layout: String,
    /// The same for people: `cgroup v1 (hybrid)`.
    #[serde(skip)]
    pub cgroup_layout_label: String,
    pub docker_server_version: String,
    pub docker_cgroup_driver: String,
    pub docker_cli: String,
    pub docker_cli_version: String,
    pub probe_method: String,
    /// Time to load and attach every probe.
    pub probe_load_ns: u64,
    pub image: String,
    pub container_id: String,
    pub container_name: String,
    /// The CRI runtime the `cri` route's pod ran on, when the route ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cri_runtime: Option<String>,
}

impl Environment {
    /// The first line of every format: what was measured, on what.
    pub fn headline(&self) -> String {
        let cri = self.cri_runtime.as_ref().map(|cri| format!(" · CRI: {cri}")).unwrap_or_default();
        format!(
            "cgbench {} · kernel {} · {} · docker {} (CLI {}){cri} · probes: {}",
            self.cgbench_version,
            self.kernel,
            self.cgroup_layout_label,
            self.docker_server_version,
            self.docker_cli_version,
            self.probe_method
        )
    }
}

/// How the run was set up: enough to repeat it.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub iterations: usize,
    pub warmup: usize,
    pub seed: u64,
    pub routes: Vec<Route>,
    pub initial_limits: Limits,
    /// The workload in the container (`--load`); absent without one.
    #[serde(skip_serializing_if = "is_no_load")]
    pub load: Load,
}

fn is_no_load(load: &Load) -> bool {
    *load == Load::None
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub environment: Environment,
    pub config: RunConfig,
    pub groups: Vec<Group>,
    pub speedups: Vec<Speedup>,
    pub layers: Vec<Layer>,
    pub honesty: Honesty,
    /// Why the trials stopped before the end (a fault or a signal); the report then covers the
    /// trials before it.
    pub ended_early: Option<String>,
    /// Each raw route's floor: its writes made outside any trial, nothing of cgbench around them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub floor: Vec<Floor>,
    /// What the syscall tracepoints cost the host over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall_tax: Option<SyscallTax>,
    pub trials: Vec<TrialResult>,
    /// Under `--load`: applied and in effect per route, resource and direction.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<EffectGroup>,
    /// Raw kernel events, kept only when they are to be written (`--events`).
    #[serde(skip)]
    pub events: Vec<KernelEvent>,
}

impl Report {
    pub fn new(environment: Environment, config: RunConfig, analysis: Analysis, events: Vec<KernelEvent>) -> Report {
        let Analysis { groups, speedups, layers, honesty, trials, effects } = analysis;
        Report {
            environment,
            config,
            groups,
            speedups,
            layers,
            honesty,
            ended_early: None,
            floor: Vec::new(),
            syscall_tax: None,
            trials,
            effects,
            events,
        }
    }

    pub fn table(&self) -> String {
        table::render(self)
    }

    /// Writes the run in one of the file formats.
    pub fn write(&self, format: Format, mut w: impl std::io::Write) -> anyhow::Result<()> {
        match format {
            Format::Json => json::write(self, &mut w)?,
            Format::Csv => w.write_all(csv::render(self).as_bytes())?,
            Format::Markdown => w.write_all(markdown::render(self).as_bytes())?,
            Format::Svg => w.write_all(svg::render(self).as_bytes())?,
            // Every raw kernel event, one JSON object a line.
            Format::Events => {
                for event in &self.events {
                    serde_json::to_writer(&mut w, event)?;
                    w.write_all(b"\n")?;
                }
            }
        }
        Ok(w.flush()?)
    }

    /// Groups whose sample has outliers: a sign of a noisy machine.
    pub fn noisy_groups(&self) -> Vec<(&Group, usize, usize)> {
        crate::analysis::summary::noisy(&self.groups)
    }
}

#[cfg(test)]
pub mod fixtures {
    //! A report built from fixed trials, for snapshot-style tests of every output format.
    use super::*;
    use crate::{analysis::fixtures::trials, resource::Limit};

    pub fn report() -> Report {
        let environment = Environment {
            cgbench_version: "0.1.0".into(),
            kernel: "6.18.44".into(),
            cgroup_layout: "hybrid".into(),
            cgroup_layout_label: "cgroup v1 (hybrid)".into(),
            docker_server_version: "20.10.24+dfsg1".into(),
            docker_cgroup_driver: "cgroupfs".into(),
            docker_cli: "docker".into(),
            docker_cli_version: "28.2.2".into(),
            probe_method: "tracepoints".into(),
            probe_load_ns: 1_400_000,
            image: "cgbench-target:0123456789abcdef".into(),
            container_id: "4f1c".into(),
            container_name: "cgbench-1000".into(),
            cri_runtime: None,
        };
        let config = RunConfig {
            iterations: 4,
            warmup: 2,
            seed: 42,
            routes: Route::ALL.to_vec(),
            initial_limits: Limits {
                memory_bytes: 256 << 20,
                memory_swap_bytes: 1 << 30,
                cpu: Limit::Cpu { quota_us: 50_000, period_us: 100_000 },
            },
            load: Load::None,
        };
        Report::new(environment, config, Analysis::of(trials(), 0), Vec::new())
    }
}
