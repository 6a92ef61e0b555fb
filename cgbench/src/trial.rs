//! What a trial is, from the plan to what was executed: the words the runner, the analysis and
//! the report share. Pure data; nothing here touches the host.

use probe_common::CgroupKey;
use serde::{Deserialize, Serialize};

use crate::resource::Limit;

/// How a limit change reaches the kernel. Each route is one file in `run/routes/`. They are
/// declared from the top of the chain down, so that groups sort the way the chain runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The `docker` CLI: CLI → dockerd → containerd → shim → runc → cgroup file.
    #[value(name = "cli")]
    DockerCli,
    /// The Engine API called by cgbench over a kept-alive connection: no CLI start-up.
    #[value(name = "api")]
    DockerApi,
    /// CRI `UpdateContainerResources`, the kubelet's in-place resize: CRI plugin → containerd →
    /// shim → runc, on a container of cgbench's own pod sandbox (CRI cannot update Docker's).
    #[value(name = "cri")]
    Cri,
    /// containerd's Tasks `Update` on Docker's containerd, as dockerd calls it: skips dockerd.
    #[value(name = "containerd")]
    Containerd,
    /// `runc update` against Docker's runc state, as the shim runs it: skips dockerd, containerd
    /// and the shim.
    #[value(name = "runc")]
    Runc,
    /// cgbench opens the cgroup file, writes and closes it.
    #[value(name = "raw")]
    Raw,
    /// cgbench writes to a cgroup file it keeps open: the floor of the fast path.
    #[value(name = "raw-open")]
    RawKeptOpen,
}

impl Route {
    pub const ALL: [Route; 7] = [
        Route::DockerCli,
        Route::DockerApi,
        Route::Cri,
        Route::Containerd,
        Route::Runc,
        Route::Raw,
        Route::RawKeptOpen,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Route::DockerCli => "docker update",
            Route::DockerApi => "docker API",
            Route::Cri => "CRI update",
            Route::Containerd => "containerd API",
            Route::Runc => "runc update",
            Route::Raw => "raw write",
            Route::RawKeptOpen => "raw kept-open",
        }
    }

    /// The name `--routes` takes.
    pub fn flag(self) -> &'static str {
        match self {
            Route::DockerCli => "cli",
            Route::DockerApi => "api",
            Route::Cri => "cri",
            Route::Containerd => "containerd",
            Route::Runc => "runc",
            Route::Raw => "raw",
            Route::RawKeptOpen => "raw-open",
        }
    }

    /// Whether runc, not cgbench, writes the limit.
    pub fn runc_writes(self) -> bool {
        !matches!(self, Route::Raw | Route::RawKeptOpen)
    }

    /// Whether the change goes through dockerd, whose read of the request is a milestone.
    pub fn through_dockerd(self) -> bool {
        matches!(self, Route::DockerCli | Route::DockerApi)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedTrial {
    pub index: usize,
    pub route: Route,
    pub limit: Limit,
    /// Warm-up trials run like the others but are left out of the results.
    #[serde(skip)]
    pub warmup: bool,
}

/// The write that enforces a trial's limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub file: String,
    pub value: String,
    #[serde(skip)]
    pub cgroup: CgroupKey,
}

/// A trial as it was run: what it asked for and the user-space clock around it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecutedTrial {
    #[serde(flatten)]
    pub planned: PlannedTrial,
    pub target: Target,
    /// CLOCK_MONOTONIC just before the caller started (CLI spawned, API called, file opened).
    pub start_ns: u64,
    /// CLOCK_MONOTONIC once the caller was done (CLI exited, API answered, file closed).
    pub end_ns: u64,
    /// Events the kernel could not deliver (ring buffer full) while the trial ran: any of them
    /// may have been one of its milestones.
    pub lost_events: u64,
    /// The container's first process was gone when the trial ended: Docker may accept an update
    /// of a container that is stopping and never apply it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub container_gone: bool,
    /// What the target file held right after a trial timed by cgbench's own clock (the raw
    /// routes'): the proof its value landed, where no probe was attached to see the write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_back: Option<String>,
}

/// A trial's start and end, CLOCK_MONOTONIC, as its route measured them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start_ns: u64,
    pub end_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_as_the_flag_spells_them() {
        let flags: Vec<&str> = Route::ALL.iter().map(|r| r.flag()).collect();
        assert_eq!(flags, ["cli", "api", "cri", "containerd", "runc", "raw", "raw-open"]);
        assert!(Route::Runc.runc_writes() && !Route::Runc.through_dockerd());
        assert!(Route::DockerApi.through_dockerd() && !Route::RawKeptOpen.runc_writes());
    }
}
