//! The trials themselves: a self-check that the probes see a write, then every planned trial on
//! its route, with the kernel's events and lost-event count read around each.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{anyhow, ensure};

use super::{
    floor::{self, Floor, FloorSample},
    progress::Progress,
    routes::Apply,
    session::Session,
};
use crate::{
    error::Interrupted,
    host::{cgroup::io, docker::DockerHost},
    kernel::{Probes, events::KernelEvent},
    resource::Limit,
    trial::{ExecutedTrial, PlannedTrial, Route},
};

/// How long one limit change may take before the run ends with an error. The slowest take
/// about a second (a CRI update on a busy host, a docker update under qemu's emulation); a daemon
/// that does not answer in a minute is stuck, and a run must not wait on it for ever.
const TRIAL_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the trials produced, and why they stopped early if they did: a fault ends the run but
/// keeps what was measured before it, reported as partial.
pub struct Collected {
    pub trials: Vec<ExecutedTrial>,
    pub events: Vec<KernelEvent>,
    /// The same writes as the raw trials, outside any trial: what they cost with nothing of
    /// cgbench around them.
    pub floor: Vec<FloorSample>,
    pub ended_early: Option<anyhow::Error>,
}

/// Rewrites the current value of `sample`'s target file (a no-op for the kernel) and checks that
/// the write probes report it: a probe that attaches but sees nothing must not produce an empty
/// report.
pub fn self_check(probes: &mut Probes, session: &Session, sample: &Limit) -> anyhow::Result<()> {
    let target = session.files.target(sample);
    let current = io::read_value(&target.path)?;
    probes.drain();
    io::write_value(&target.path, &current)?;
    let seen = probes.drain().iter().any(|e| {
        matches!(e, KernelEvent::Write { file, value, tgid, .. }
            if file == target.file_name() && *value == current && *tgid == std::process::id())
    });
    ensure!(
        seen,
        "the write probes are attached but did not report a write to {}: this kernel's layout is not understood; please report it",
        target.path.display()
    );
    Ok(())
}

/// Everything a trial needs that stays the same from one trial to the next.
pub struct Bench<'a> {
    pub docker: &'a DockerHost,
    pub session: &'a Session<'a>,
    pub routes: &'a HashMap<Route, Box<dyn Apply + 'a>>,
    /// A limit of each resource: the files the floor keeps open.
    pub samples: &'a [Limit; 2],
    pub stop: &'a AtomicBool,
    /// Under `--load`, how long each trial waits for the workload to feel its limit, with its
    /// events read after the wait.
    pub settle: Option<std::time::Duration>,
}

impl Bench<'_> {
    /// Runs `schedule` until its end, a fault or a signal; what ran before is kept either way.
    /// The schedule comes in blocks (plan.rs): the syscall tracepoints are attached only for the
    /// trials that need them, and toggled where the kind of route changes.
    pub async fn run(&self, probes: &mut Probes, schedule: Vec<PlannedTrial>, quiet: bool) -> Collected {
        let mut progress = Progress::new(schedule.len(), quiet);
        let mut collected = Collected {
            trials: Vec::with_capacity(schedule.len()),
            events: Vec::new(),
            floor: Vec::new(),
            ended_early: None,
        };
        // Under a load no floor is taken: its writes, one grain off the trial's, would change the
        // limit the workload feels between a trial's write and its effect (a floor write first
        // would do a memory decrease's reclaim for it).
        let raw_routes = self.routes.keys().any(|&route| !floor::needs_syscall_tracepoints(route));
        let floor = match (raw_routes && self.settle.is_none())
            .then(|| Floor::new(&self.session.files, self.samples))
            .transpose()
        {
            Ok(floor) => floor,
            Err(e) => {
                collected.ended_early = Some(e);
                return collected;
            }
        };
        let kind = |t: &PlannedTrial| floor::needs_syscall_tracepoints(t.route);
        'blocks: for block in schedule.chunk_by(|a, b| kind(a) == kind(b)) {
            if let Err(e) = probes.syscall_tracepoints(kind(&block[0])) {
                collected.ended_early = Some(e);
                break;
            }
            for &planned in block {
                match self.one(probes, planned, floor.as_ref(), &mut collected).await {
                    Ok(()) => progress.tick(),
                    Err(e) => {
                        collected.ended_early = Some(e);
                        break 'blocks;
                    }
                }
            }
        }
        // The host stops paying for them now, not once the run has cleaned up.
        if let Err(e) = probes.syscall_tracepoints(false) {
            collected.ended_early.get_or_insert(e);
        }
        collected
    }

    /// One trial, with its floor beside it when `floor` is given and the route is a raw one; a
    /// raw trial's file is read back either way.
    async fn one(
        &self,
        probes: &mut Probes,
        planned: PlannedTrial,
        floor: Option<&Floor>,
        collected: &mut Collected,
    ) -> anyhow::Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        let route =
            self.routes.get(&planned.route).ok_or_else(|| anyhow!("route {:?} was not set up", planned.route))?;
        let files = route.own_files().unwrap_or(&self.session.files);
        let target = files.trial_target(&planned.limit)?;
        let raw = !floor::needs_syscall_tracepoints(planned.route);
        let floor = floor.filter(|_| raw);
        let floor_first = floor::floor_first(planned.index);
        if let Some(floor) = floor.filter(|_| floor_first) {
            collected.floor.push(floor.sample(&planned)?);
        }
        let lost_before = probes.lost()?;
        let applied = tokio::time::timeout(TRIAL_LIMIT, route.apply(&planned.limit)).await.unwrap_or_else(|_| {
            Err(anyhow!(
                "the {} change to {} did not finish within {} s: the daemons it goes through seem stuck (see `docker info`, `journalctl -u docker -u containerd`)",
                planned.route.label(),
                planned.limit,
                TRIAL_LIMIT.as_secs()
            ))
        });
        // No probe saw a raw write: the file says whether it landed.
        let read_back = match (&applied, raw) {
            (Ok(_), true) => Some(io::read_value(&files.target(&planned.limit).path)?),
            _ => None,
        };
        if let Some(floor) = floor.filter(|_| !floor_first && applied.is_ok()) {
            collected.floor.push(floor.sample(&planned)?);
        }
        if let Some(settle) = self.settle {
            tokio::time::sleep(settle).await;
        }
        let events = probes.drain();
        tracing::trace!(trial = planned.index, route = planned.route.flag(), limit = %planned.limit, events = ?events, "trial ran");
        collected.events.extend(events);
        let span = match applied {
            Ok(span) => span,
            Err(e) => return Err(self.why_it_failed(e).await),
        };
        let container_gone = !self.session.init_alive();
        tracing::debug!(
            trial = planned.index,
            route = planned.route.flag(),
            limit = %planned.limit,
            caller_ns = span.end_ns - span.start_ns,
            container_gone,
            "trial done"
        );
        collected.trials.push(ExecutedTrial {
            planned,
            target,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            lost_events: probes.lost()? - lost_before,
            container_gone,
            read_back,
        });
        ensure!(!container_gone, "{}: its first process is gone", self.container_gone());
        Ok(())
    }

    fn container_gone(&self) -> String {
        format!("container {} stopped or was removed during the run", self.session.container.name)
    }

    /// A trial cut short by the same signal that stops the run is an interruption. One cut short
    /// by the container's end or the daemon's says so first: a cgroup file that vanished or a
    /// refused connection does not.
    async fn why_it_failed(&self, e: anyhow::Error) -> anyhow::Error {
        if self.stop.load(Ordering::SeqCst) {
            Interrupted.into()
        } else if !self.session.init_alive() {
            e.context(self.container_gone())
        } else if self.docker.api.ping().await.is_err() {
            e.context("dockerd stopped answering during the run")
        } else {
            e
        }
    }
}
