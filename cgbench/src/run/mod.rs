//! `cgbench compare`: the orchestration of a run. Preflight, then the container's session, the
//! trials on their routes, the analysis of what the kernel reported, and the report — printed
//! and written even when a fault ended the trials early. Whatever happens, the container's
//! limits are restored, cgbench's own container is removed and the probes are detached.

pub mod floor;
pub mod load;
pub mod plan;
mod progress;
pub mod routes;
mod session;
mod trials;

use std::{collections::HashMap, panic::AssertUnwindSafe, sync::atomic::AtomicBool};

use anyhow::{anyhow, bail};
use futures_util::FutureExt as _;
use routes::{Apply, Services};
use session::{Running, Session, Subject, both, cleanup_failed};
use trials::{Bench, Collected};

use crate::{
    analysis::{self, Actors, Analysis, pairing::effect},
    host::{
        cgroup::Host,
        docker::{self, DockerHost},
        journal::{Change, Journal, Owner},
        system::{end_quietly_on_closed_stdout, ensure_root, kernel_release, monotonic_ns},
    },
    kernel::{
        AttachMethod, Probes, Watch, attach,
        events::{self, KernelEvent},
        probes,
    },
    load::Load,
    options::CompareOptions,
    recovery,
    report::{Environment, Report, RunConfig},
    resource::{CpuGrain, Limit},
    trial::{ExecutedTrial, Route},
};

/// Runs the trials, prints the table and writes the files asked for. A fault that ended the
/// trials early is returned after the partial report has been shown.
pub async fn compare(opts: &CompareOptions, stop: &AtomicBool) -> anyhow::Result<()> {
    let (report, ended_early) = measure(opts, stop).await?;
    end_quietly_on_closed_stdout();
    if !report.trials.is_empty() {
        print!("{}", report.table());
    }
    for (format, path) in &opts.outputs {
        let file = std::fs::File::create(path).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
        report
            .write(*format, std::io::BufWriter::new(file))
            .map_err(|e| anyhow!("writing {}: {e:#}", path.display()))?;
    }
    if let Some(e) = ended_early {
        return Err(e);
    }
    let h = report.honesty;
    if opts.strict && !h.clean() {
        bail!(
            "--strict: {} lost events, {} unpaired, {} failed and {} out-of-order trials",
            h.lost_events,
            h.unpaired_trials,
            h.failed_trials,
            h.out_of_order_trials
        );
    }
    Ok(())
}

/// What a run learns about the host before it changes anything: a refusal here costs nothing.
/// It is also what the trials reach: the cgroups, dockerd, and the layers below dockerd that
/// routes call directly.
struct Preflight {
    host: Host,
    method: AttachMethod,
    docker: DockerHost,
    services: Services,
    dockerds: Vec<u32>,
    /// cgbench itself, and under systemd's cgroup driver pid 1 too: systemd applies the unit
    /// properties runc asks for over D-Bus, and writes first.
    writers: Vec<u32>,
    cli_version: String,
}

async fn preflight(opts: &CompareOptions) -> anyhow::Result<Preflight> {
    let host = Host::detect()?;
    let method = attach::choose(opts.attach)?;
    let docker = DockerHost::connect().await?;
    docker.refuse_rootless()?;
    let dockerds = docker::dockerd_tgids();
    if dockerds.is_empty() {
        bail!(
            "no dockerd process runs on this host: cgbench times a local Docker daemon (remote DOCKER_HOST is not supported)"
        );
    }
    let services = Services::reach(&opts.routes, &opts.cri_endpoint).await?;
    let cli_version = if opts.routes.contains(&Route::DockerCli) {
        docker::cli_version(&opts.docker_cli).await?
    } else {
        "not used".to_owned()
    };
    let own = std::process::id();
    let writers = if docker.cgroup_driver == "systemd" { vec![own, 1] } else { vec![own] };
    Ok(Preflight { host, method, docker, services, dockerds, writers, cli_version })
}

/// The report of what was measured, and the error that ended the trials early, if one did (the
/// report then covers the trials before it and says so).
async fn measure(opts: &CompareOptions, stop: &AtomicBool) -> anyhow::Result<(Report, Option<anyhow::Error>)> {
    ensure_root()?;
    let mut journal = Journal::open(Owner::this_process()?)?;
    let tracefs = probes::tracefs_to_mount().map(|target| Change::Mount { target: target.to_owned() });
    if let Some(mount) = &tracefs {
        journal.record(mount.clone())?;
    }
    let pre = preflight(opts).await?;
    for line in recovery::recover(Some(&pre.docker), false).await.lines {
        eprintln!("cgbench: {line}");
    }
    let subject = Subject::find(&pre.docker, opts).await?;

    // Probes first: a kernel that refuses them must not cost a container.
    let load_start = monotonic_ns();
    let mut probes = Probes::watching_idle(pre.method, &watch_daemon(&pre))?;
    let probe_load_ns = monotonic_ns() - load_start;
    if let Some(mount) = tracefs.filter(|_| !probes.mounted_tracefs()) {
        // Another run mounted it in the meantime: it is that run's to undo.
        journal.undone(&mount)?;
    }
    let running = subject.start(&pre.docker, opts, &mut journal).await?;
    let effect_unavailable = load::watch(&mut probes, opts.load, running.container.pid);

    // A panic in the trials must not skip the cleanup below: it is caught, the host is restored,
    // and the panic resumes afterwards.
    let measured =
        AssertUnwindSafe(trials_in_session(&pre, &running, &mut probes, &mut journal, opts, stop)).catch_unwind().await;
    let removed =
        match opts.container {
            Some(_) => Ok(()),
            None => pre.docker.remove_container(&running.container.id).await.and_then(|()| {
                journal.undone(&Change::Container { name: session::own_container_name(journal.owner()) })
            }),
        };
    let lost_events = probes.lost();
    let syscall_tax = probes.syscall_tax();
    drop(probes);
    let (collected, restored) = match measured.unwrap_or_else(|panic| std::panic::resume_unwind(panic)) {
        Ok(measured) => measured,
        Err(cause) => {
            return Err(match removed {
                Ok(()) => cause,
                Err(removing) => cleanup_failed(removing, cause),
            });
        }
    };
    let cleaned = both(removed, restored);
    let ended_early = collected.ended_early;
    let mut report = report_of(
        &pre,
        &running,
        opts,
        collected.trials,
        collected.events,
        lost_events?,
        probe_load_ns,
        effect_unavailable.as_deref(),
    )?;
    report.ended_early = ended_early.as_ref().map(|e| format!("{e:#}"));
    report.floor = analysis::floor::summarize(&collected.floor, &report.groups);
    report.syscall_tax = Some(syscall_tax);
    let error = match (ended_early, cleaned) {
        (cause, Ok(())) => cause,
        (None, Err(cleanup)) => Some(cleanup),
        (Some(cause), Err(cleanup)) => Some(cleanup_failed(cleanup, cause)),
    };
    Ok((report, error))
}

/// Whose requests and writes the probes report before the container exists: dockerd's
/// requests, the writers' and every runc's writes.
fn watch_daemon(pre: &Preflight) -> Watch<'_> {
    tracing::debug!(method = pre.method.name(), dockerds = ?pre.dockerds, writers = ?pre.writers, "attaching probes");
    Watch { writers: &pre.writers, writer_comms: &["runc"], dockerds: &pre.dockerds, cgroups: &[] }
}

/// The paired, summarised run with the environment it was measured in.
#[allow(clippy::too_many_arguments)] // what the run measured, each from where it was learnt
fn report_of(
    pre: &Preflight,
    running: &Running,
    opts: &CompareOptions,
    trials: Vec<ExecutedTrial>,
    events: Vec<KernelEvent>,
    lost_events: u64,
    probe_load_ns: u64,
    effect_unavailable: Option<&str>,
) -> anyhow::Result<Report> {
    let container = &running.container;
    let actors = Actors { own_tgid: std::process::id(), container_id: &container.id };
    let kept_events = if opts.keep_events() { events.clone() } else { Vec::new() };
    let events = events::join_split_requests(events);
    let mut effect_events = if opts.load == Load::None { Vec::new() } else { events.clone() };
    effect_events.sort_by_key(KernelEvent::time_ns);
    let mut results = analysis::pair(trials, events, &actors);
    // Directions come from the value before each trial, warm-up trials included.
    effect::find(&mut results, &effect_events, opts.load, &running.limits, effect_unavailable);
    let results = results.into_iter().filter(|r| !r.trial.planned.warmup).collect();
    let layout = pre.host.layout();
    let environment = Environment {
        cgbench_version: env!("CARGO_PKG_VERSION").into(),
        kernel: kernel_release(),
        cgroup_layout: serde_json::to_value(layout)?.as_str().unwrap_or_default().to_owned(),
        cgroup_layout_label: layout.to_string(),
        docker_server_version: pre.docker.server_version.clone(),
        docker_cgroup_driver: pre.docker.cgroup_driver.clone(),
        docker_cli: opts.docker_cli.clone(),
        docker_cli_version: pre.cli_version.clone(),
        probe_method: pre.method.name().into(),
        probe_load_ns,
        image: running.image.clone(),
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        cri_runtime: pre.services.cri.as_ref().map(|cri| format!("{} at {}", cri.version, cri.endpoint)),
    };
    let config = RunConfig {
        iterations: opts.iterations,
        warmup: opts.warmup,
        seed: opts.seed,
        routes: opts.routes.clone(),
        initial_limits: running.limits,
        load: opts.load,
    };
    Ok(Report::new(environment, config, Analysis::of(results, lost_events), kept_events))
}

/// From the container's cgroups found to its limits put back: the trials, and whether the
/// routes' own set-up was undone and the limits restored. An error here (before the trials)
/// means nothing was changed.
async fn trials_in_session(
    pre: &Preflight,
    running: &Running,
    probes: &mut Probes,
    journal: &mut Journal,
    opts: &CompareOptions,
    stop: &AtomicBool,
) -> anyhow::Result<(Collected, anyhow::Result<()>)> {
    let Running { container, limits, .. } = running;
    let session = Session::open(&pre.host, running, opts)?;
    let undo = session.undo();
    if let Some(change) = &undo {
        journal.record(change.clone())?;
    }
    tracing::debug!(container = %container.id, memory = %session.files.memory.path.display(), cpu = %session.files.cpu.path.display(), "cgroup files found");
    probes.watch(&Watch { cgroups: &session.files.keys()?, ..Watch::default() })?;
    // Only the routes through the daemons need the probes; raw-only runs never attach them.
    if opts.routes.iter().any(|&route| floor::needs_syscall_tracepoints(route)) {
        probes.syscall_tracepoints(true)?;
        trials::self_check(probes, &session, &Limit::Memory { bytes: limits.memory_bytes })?;
    }
    load::settle(opts, &session.files).await?;

    let target = routes::Target {
        docker: &pre.docker,
        services: &pre.services,
        host: &pre.host,
        container_id: &container.id,
        files: &session.files,
        initial_limits: *limits,
        docker_cli: &opts.docker_cli,
        memory_swap: opts.memory_swap(),
        samples: [Limit::Memory { bytes: 0 }, opts.cpu_values[0]],
    };
    let (routes, built) = build_routes(&target, opts, journal).await;
    // A route with a container of its own (cri) has its cgroups watched as well.
    let watched = routes
        .values()
        .filter_map(|route| route.own_files())
        .try_for_each(|files| probes.watch(&Watch { cgroups: &files.keys()?, ..Watch::default() }));
    let collected = match built.and(watched) {
        Ok(()) => {
            let schedule = opts.schedule(CpuGrain::of_docker_driver(&pre.docker.cgroup_driver));
            let settle = (opts.load != Load::None).then_some(crate::load::SETTLE);
            let bench = Bench {
                docker: &pre.docker,
                session: &session,
                routes: &routes,
                samples: &target.samples,
                stop,
                settle,
            };
            bench.run(probes, schedule, opts.quiet).await
        }
        Err(e) => Collected { trials: Vec::new(), events: Vec::new(), floor: Vec::new(), ended_early: Some(e) },
    };
    let mut finished = Ok(());
    for route in routes.values() {
        finished = both(finished, route.finish(journal).await);
    }
    let restored = session.restore(&pre.docker).await;
    if let (Ok(()), Some(change)) = (&restored, &undo) {
        journal.undone(change)?;
    }
    Ok((collected, both(finished, restored)))
}

/// Every route asked for, ready; building stops at the first that fails, and those built before
/// it are returned all the same, to be finished.
async fn build_routes<'a>(
    target: &routes::Target<'a>,
    opts: &CompareOptions,
    journal: &mut Journal,
) -> (HashMap<Route, Box<dyn Apply + 'a>>, anyhow::Result<()>) {
    let mut built = HashMap::new();
    for &route in &opts.routes {
        match routes::build(route, target, journal).await {
            Ok(apply) => {
                built.insert(route, apply);
            }
            Err(e) => return (built, Err(e)),
        }
    }
    (built, Ok(()))
}
