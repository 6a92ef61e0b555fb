//! `cgbench compare`: runs the trials against a real container and collects kernel events.
//! Whatever happens, the container's limits are restored, the container is removed and the
//! probes are detached before this returns.

use std::{
    collections::HashMap,
    fs::File,
    io::Write as _,
    os::unix::fs::FileExt as _,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::{Context as _, anyhow, bail, ensure};
use futures_util::FutureExt as _;

use crate::{
    cgroup::{self, CgroupFiles, Host},
    clock::monotonic_ns,
    docker::{self, Container, DockerHost, Limits},
    events::{self, KernelEvent},
    pairing::{self, Actors, ExecutedTrial, Target},
    plan::{PlannedTrial, Route, Schedule},
    probes::{self, AttachMethod, Probes},
    progress::Progress,
    report::{Environment, Report, RunConfig},
    resource::Limit,
    units::format_bytes,
};

#[derive(Clone, Debug)]
pub struct Options {
    pub iterations: usize,
    pub warmup: usize,
    pub routes: Vec<Route>,
    /// `None`: the best method the kernel permits.
    pub attach: Option<AttachMethod>,
    pub seed: u64,
    pub memory_values: [u64; 2],
    pub cpu_values: [Limit; 2],
    pub image: Option<String>,
    /// Measure this existing container instead of creating one; it is left running.
    pub container: Option<String>,
    pub docker_cli: String,
    pub quiet: bool,
    /// Keep the raw kernel events for the report (`--events`); otherwise they are dropped once
    /// paired.
    pub keep_events: bool,
}

/// What the trials produced, and why they stopped early if they did: a fault ends the run but
/// keeps what was measured before it, reported as partial.
struct Collected {
    trials: Vec<ExecutedTrial>,
    events: Vec<KernelEvent>,
    ended_early: Option<anyhow::Error>,
}

/// The run was stopped by SIGINT or SIGTERM (after cleaning up).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted: limits restored, probes detached, cgbench's own container removed")
    }
}

impl std::error::Error for Interrupted {}

impl Options {
    /// The swap limit set with every memory change: above both values, so no order of updates
    /// is ever refused ("Memory limit should be smaller than already set memoryswap limit").
    fn memory_swap(&self) -> u64 {
        2 * self.memory_values.iter().max().copied().unwrap_or(0)
    }

    fn initial_limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_values[0],
            memory_swap_bytes: self.memory_swap() as i64,
            cpu: self.cpu_values[0],
        }
    }

    fn schedule(&self) -> Vec<PlannedTrial> {
        Schedule {
            iterations: self.iterations,
            warmup: self.warmup,
            routes: &self.routes,
            memory: self.memory_values.map(|bytes| Limit::Memory { bytes }),
            cpu: self.cpu_values,
            seed: self.seed,
        }
        .trials()
    }
}

/// The container trials run against.
enum Subject {
    /// Named with `--container`: measured, restored, left running.
    Existing(Container, Limits),
    /// Created from this image for the run and removed after it.
    New(String),
}

pub fn ensure_root() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    ensure!(
        unsafe { libc::geteuid() } == 0,
        "cgbench must run as root (it loads eBPF programs and writes cgroup files): run it with sudo"
    );
    Ok(())
}

/// The report of what was measured, and the error that ended the trials early, if one did (the
/// report then covers the trials before it and says so).
pub async fn run(opts: &Options, stop: &AtomicBool) -> anyhow::Result<(Report, Option<anyhow::Error>)> {
    ensure_root()?;
    let host = Host::detect()?;
    let method = probes::choose(opts.attach)?;
    let docker = DockerHost::connect().await?;
    docker.refuse_rootless()?;
    let cli_version = if opts.routes.contains(&Route::DockerCli) {
        docker::cli_version(&opts.docker_cli).await?
    } else {
        "not used".to_owned()
    };
    let subject = match &opts.container {
        Some(name) => {
            let (container, limits) = docker.existing_container(name).await?;
            Subject::Existing(container, limits)
        }
        None => Subject::New(docker.ensure_image(opts.image.as_deref()).await?),
    };
    // Probes first: a kernel that refuses them must not cost a container.
    let load_start = monotonic_ns();
    let mut probes = Probes::load(method)?;
    let probe_load_ns = monotonic_ns() - load_start;
    let (container, limits, image) = match subject {
        Subject::Existing(container, limits) => (container, limits, "(existing container)".to_owned()),
        Subject::New(image) => {
            let limits = opts.initial_limits();
            (docker.create_container(&image, &limits).await?, limits, image)
        }
    };

    // A panic in the trials must not skip the cleanup below: it is caught, the host is restored,
    // and the panic resumes afterwards.
    let measured =
        AssertUnwindSafe(measure(&docker, &host, &container, &mut probes, opts, &limits, stop)).catch_unwind().await;
    let removed = match opts.container {
        Some(_) => Ok(()),
        None => docker.remove_container(&container.id).await,
    };
    let lost_events = probes.lost();
    drop(probes);
    let (Collected { trials, events, ended_early }, restored) =
        match measured.unwrap_or_else(|panic| std::panic::resume_unwind(panic)) {
            Ok(measured) => measured,
            Err(cause) => {
                return Err(match removed {
                    Ok(()) => cause,
                    Err(removing) => cleanup_failed(removing, cause),
                });
            }
        };
    let cleaned = match (restored, removed) {
        (Err(restoring), Err(removing)) => Err(anyhow!("{removing:#}; {restoring:#}")),
        (restored, removed) => restored.and(removed),
    };

    let actors = Actors { own_tgid: std::process::id(), container_id: &container.id };
    let kept_events = if opts.keep_events { events.clone() } else { Vec::new() };
    let results = pairing::pair(trials, events::join_split_requests(events), &actors);
    let results = results.into_iter().filter(|r| !r.trial.planned.warmup).collect();
    let environment = Environment {
        cgbench_version: env!("CARGO_PKG_VERSION").into(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().into(),
        cgroup_layout: host.layout(),
        docker_server_version: docker.server_version.clone(),
        docker_cgroup_driver: docker.cgroup_driver.clone(),
        docker_cli: opts.docker_cli.clone(),
        docker_cli_version: cli_version,
        probe_method: method.name().into(),
        probe_load_ns,
        image,
        container_id: container.id.clone(),
        container_name: container.name.clone(),
    };
    let config = RunConfig {
        iterations: opts.iterations,
        warmup: opts.warmup,
        seed: opts.seed,
        routes: opts.routes.clone(),
        initial_limits: limits,
    };
    let mut report = Report::new(environment, config, results, kept_events, lost_events?);
    report.ended_early = ended_early.as_ref().map(|e| format!("{e:#}"));
    let error = match (ended_early, cleaned) {
        (cause, Ok(())) => cause,
        (None, Err(cleanup)) => Some(cleanup),
        (Some(cause), Err(cleanup)) => Some(cleanup_failed(cleanup, cause)),
    };
    Ok((report, error))
}

/// A failed cleanup leads the error, since it is what the user must act on (and it makes an
/// interruption's "limits restored, … removed" untrue); what ended the run follows.
fn cleanup_failed(cleanup: anyhow::Error, cause: anyhow::Error) -> anyhow::Error {
    if cause.is::<Interrupted>() {
        anyhow!("{cleanup:#} (after an interruption)")
    } else {
        anyhow!("{cleanup:#} (after the run failed: {cause:#})")
    }
}

async fn measure(
    docker: &DockerHost,
    host: &Host,
    container: &Container,
    probes: &mut Probes,
    opts: &Options,
    limits: &Limits,
    stop: &AtomicBool,
) -> anyhow::Result<(Collected, anyhow::Result<()>)> {
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid))
        .with_context(|| format!("reading /proc/{}/cgroup of the container", container.pid))?;
    let files = host.files_of(&proc_cgroup)?;
    files.verify()?;
    let usage = files.memory_usage()?;
    if let Some(&low) = opts.memory_values.iter().find(|&&v| v <= usage) {
        bail!(
            "--memory-values: {} is not above the container's current memory usage ({}): the kernel would reclaim or refuse; choose larger values",
            format_bytes(low),
            format_bytes(usage)
        );
    }
    let initial = [Limit::Memory { bytes: limits.memory_bytes }, limits.cpu];
    let originals: Vec<(PathBuf, String)> = files
        .limit_files(&initial)
        .into_iter()
        .map(|path| cgroup::read_value(&path).map(|v| (path, v)))
        .collect::<anyhow::Result<_>>()?;

    watch(probes, &files, docker)?;
    self_check(probes, &files, &initial[0])?;

    let collected = run_trials(docker, probes, &files, container, &proc_cgroup, opts, stop).await;
    let record = opts.container.as_ref().map(|_| limits);
    let restored = restore(docker, container, &proc_cgroup, record, &originals).await;
    Ok((collected, restored))
}

fn watch(probes: &mut Probes, files: &CgroupFiles, docker: &DockerHost) -> anyhow::Result<()> {
    let dockerds = docker::dockerd_tgids();
    if dockerds.is_empty() {
        bail!(
            "no dockerd process runs on this host: cgbench times a local Docker daemon (remote DOCKER_HOST is not supported)"
        );
    }
    for tgid in dockerds {
        probes.watch_dockerd(tgid)?;
    }
    probes.watch_writer(std::process::id())?;
    probes.watch_writer_comm("runc")?;
    if docker.cgroup_driver == "systemd" {
        // systemd applies the unit properties runc asks for over D-Bus: it writes first.
        probes.watch_writer(1)?;
    }
    for key in files.keys()? {
        probes.watch_cgroup(key)?;
    }
    Ok(())
}

/// Rewrites the current memory limit (a no-op for the kernel) and checks that the write probes
/// report it: a probe that attaches but sees nothing must not produce an empty report.
fn self_check(probes: &mut Probes, files: &CgroupFiles, sample: &Limit) -> anyhow::Result<()> {
    let target = files.target(sample);
    let current = cgroup::read_value(&target.path)?;
    probes.drain();
    write_file(&target.path, &current)?;
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

async fn run_trials(
    docker: &DockerHost,
    probes: &mut Probes,
    files: &CgroupFiles,
    container: &Container,
    proc_cgroup: &str,
    opts: &Options,
    stop: &AtomicBool,
) -> Collected {
    let schedule = opts.schedule();
    let mut progress = Progress::new(schedule.len(), opts.quiet);
    let mut collected = Collected { trials: Vec::with_capacity(schedule.len()), events: Vec::new(), ended_early: None };
    let result = async {
        let kept_open =
            if opts.routes.contains(&Route::RawKeptOpen) { open_all(files, &opts.cpu_values)? } else { HashMap::new() };
        let memory_swap = opts.memory_swap();
        for planned in schedule {
            if stop.load(Ordering::SeqCst) {
                return Err(Interrupted.into());
            }
            let lost_before = probes.lost()?;
            let trial = run_trial(docker, files, container, opts, &kept_open, memory_swap, planned).await;
            collected.events.extend(probes.drain());
            let mut trial = match trial {
                Ok(trial) => trial,
                Err(e) => return Err(why_a_trial_failed(e, docker, container, proc_cgroup, stop).await),
            };
            trial.lost_events = probes.lost()? - lost_before;
            collected.trials.push(trial);
            progress.tick();
        }
        anyhow::Ok(())
    }
    .await;
    collected.ended_early = result.err();
    collected
}

/// A trial cut short by the same signal that stops the run is an interruption. One cut short by
/// the container's end or the daemon's says so first: a cgroup file that vanished or a refused
/// connection does not.
async fn why_a_trial_failed(
    e: anyhow::Error,
    docker: &DockerHost,
    container: &Container,
    proc_cgroup: &str,
    stop: &AtomicBool,
) -> anyhow::Error {
    if stop.load(Ordering::SeqCst) {
        Interrupted.into()
    } else if !init_alive(container, proc_cgroup) {
        e.context(format!("container {} stopped or was removed during the run", container.name))
    } else if docker.api.ping().await.is_err() {
        e.context("dockerd stopped answering during the run")
    } else {
        e
    }
}

async fn run_trial(
    docker: &DockerHost,
    files: &CgroupFiles,
    container: &Container,
    opts: &Options,
    kept_open: &HashMap<PathBuf, File>,
    memory_swap: u64,
    planned: PlannedTrial,
) -> anyhow::Result<ExecutedTrial> {
    let target = files.target(&planned.limit);
    let cgroup = cgroup::dir_key(target.path.parent().context("a cgroup file has a directory")?)?;
    let (start_ns, end_ns) = match planned.route {
        Route::DockerCli => docker_cli_update(&opts.docker_cli, &container.id, &planned.limit, memory_swap).await?,
        Route::DockerApi => {
            let start = monotonic_ns();
            docker.update_limit(&container.id, &planned.limit, memory_swap).await?;
            (start, monotonic_ns())
        }
        Route::Raw => raw_update(files, &planned.limit)?,
        Route::RawKeptOpen => kept_open_update(files, kept_open, &planned.limit)?,
    };
    Ok(ExecutedTrial {
        planned,
        target: Target { file: target.file_name().to_owned(), value: target.value, cgroup },
        start_ns,
        end_ns,
        lost_events: 0,
    })
}

/// Runs the docker CLI, as a user or the seed's script would.
async fn docker_cli_update(cli: &str, id: &str, limit: &Limit, memory_swap: u64) -> anyhow::Result<(u64, u64)> {
    let args = limit.docker_update_args(memory_swap);
    let mut command = tokio::process::Command::new(cli);
    // Its own process group: a Ctrl-C on the terminal stops cgbench between trials instead of
    // killing the update half-way.
    command.arg("update").args(&args).arg(id).stdout(std::process::Stdio::null()).process_group(0);
    let start = monotonic_ns();
    let out = command.output().await.with_context(|| format!("running `{cli} update`"))?;
    let end = monotonic_ns();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("`docker update {}` failed: {}", args.join(" "), stderr.lines().next().unwrap_or("no message"));
    }
    Ok((start, end))
}

/// The fast path: open, write, close each file the limit needs, in this process.
pub fn raw_update(files: &CgroupFiles, limit: &Limit) -> anyhow::Result<(u64, u64)> {
    let writes = files.writes(limit);
    let start = monotonic_ns();
    for w in &writes {
        write_file(&w.path, &w.value)?;
    }
    Ok((start, monotonic_ns()))
}

/// Every file either resource writes, opened once for the kept-open route.
fn open_all(files: &CgroupFiles, cpu: &[Limit; 2]) -> anyhow::Result<HashMap<PathBuf, File>> {
    files
        .limit_files(&[Limit::Memory { bytes: 0 }, cpu[0]])
        .into_iter()
        .map(|path| {
            let file =
                File::options().write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
            Ok((path, file))
        })
        .collect()
}

/// The floor of the fast path: one `pwrite` at offset 0 per file on an fd opened beforehand.
fn kept_open_update(files: &CgroupFiles, open: &HashMap<PathBuf, File>, limit: &Limit) -> anyhow::Result<(u64, u64)> {
    let writes = files.writes(limit);
    let start = monotonic_ns();
    for w in &writes {
        let file = open.get(&w.path).with_context(|| format!("{} was not opened", w.path.display()))?;
        file.write_at(w.value.as_bytes(), 0).with_context(|| format!("writing {} to {}", w.value, w.path.display()))?;
    }
    Ok((start, monotonic_ns()))
}

/// One `write(2)` of the whole value, as the kernel expects for a control file.
fn write_file(path: &Path, value: &str) -> anyhow::Result<()> {
    let mut file = File::options().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    file.write_all(value.as_bytes()).with_context(|| format!("writing {value} to {}", path.display()))
}

/// Puts the starting limits back: through Docker first for a `--container` that outlives the
/// run (so `docker inspect` is right again), then file by file, checking each against what it
/// held before the first trial and rewriting any that differ. cgbench's own container is about
/// to be removed: its record does not matter, and a daemon gone mid-run cannot be asked anyway.
async fn restore(
    docker: &DockerHost,
    container: &Container,
    proc_cgroup: &str,
    record: Option<&Limits>,
    originals: &[(PathBuf, String)],
) -> anyhow::Result<()> {
    // A container that stopped or is being removed (the run's error says so) takes its cgroups
    // with it: there is nothing left to restore. The kernel is asked first (is its init still
    // there, in the same cgroups?), then Docker, if it answers.
    if !init_alive(container, proc_cgroup)
        || originals.iter().any(|(path, _)| !path.exists())
        || matches!(docker.is_running(&container.id).await, Ok(false))
    {
        return Ok(());
    }
    let via_docker = match record {
        Some(limits) => docker.set_limits(&container.id, limits).await,
        None => Ok(()),
    };
    if via_docker.is_err() && matches!(docker.stops_within(&container.id, Duration::from_secs(5)).await, Ok(true)) {
        return Ok(());
    }
    for (path, original) in originals {
        let restored = restore_file(path, original);
        if restored.is_err() && !path.exists() {
            // Its cgroup went while we wrote: the container is gone.
            return Ok(());
        }
        restored?;
    }
    via_docker
}

/// Whether the container's first process is still there, in the cgroups it had: the kernel's
/// word, which holds when dockerd cannot be asked.
fn init_alive(container: &Container, proc_cgroup: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid)).is_ok_and(|c| c == proc_cgroup)
}

fn restore_file(path: &Path, original: &str) -> anyhow::Result<()> {
    if cgroup::read_value(path)? != original {
        write_file(path, original)?;
    }
    let now = cgroup::read_value(path)?;
    ensure!(now == original, "could not restore {}: it holds {now}, it held {original}", path.display());
    Ok(())
}
