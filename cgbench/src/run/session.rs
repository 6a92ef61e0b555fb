//! The container a run measures, from before the first trial to after the last: its cgroup files
//! found and checked, its limits saved, and at the end put back — in the kernel and in Docker's
//! record — and cgbench's own container removed, whatever happened in between.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, anyhow, bail};

use crate::{
    error::Interrupted,
    host::{
        cgroup::{CgroupFiles, Host, io},
        docker::{Container, DockerHost},
        journal::{Change, Journal, Owner},
    },
    load::Load,
    options::CompareOptions,
    resource::{Limit, Limits},
    units::format_bytes,
};

/// The container trials run against, before it is running.
pub enum Subject {
    /// Named with `--container`: measured, restored, left running.
    Existing(Container, Limits),
    /// Created from this image for the run and removed after it.
    New(String),
}

impl Subject {
    /// Finds the `--container`, or makes sure the image to create one from is there: both before
    /// anything is changed on the host.
    pub async fn find(docker: &DockerHost, opts: &CompareOptions) -> anyhow::Result<Subject> {
        Ok(match &opts.container {
            Some(name) => {
                let (container, limits) = docker.existing_container(name).await?;
                Subject::Existing(container, limits)
            }
            None => Subject::New(docker.ensure_image(opts.image.as_deref()).await?),
        })
    }

    /// The running container. A container cgbench
    /// creates is recorded in the journal before it is asked for, and carries its owner's label.
    pub async fn start(
        self,
        docker: &DockerHost,
        opts: &CompareOptions,
        journal: &mut Journal,
    ) -> anyhow::Result<Running> {
        Ok(match self {
            Subject::Existing(container, limits) => {
                Running { container, limits, image: "(existing container)".to_owned() }
            }
            Subject::New(image) => {
                let limits = opts.initial_limits();
                let name = own_container_name(journal.owner());
                journal.record(Change::Container { name: name.clone() })?;
                let owner = journal.owner().label();
                let command = opts.load.command(opts.memory_values, opts.cpu_values);
                let container = docker.create_container(&name, &image, &limits, &owner, command).await?;
                Running { container, limits, image }
            }
        })
    }
}

/// The container trials run against, running: its starting limits and the image it runs.
pub struct Running {
    pub container: Container,
    pub limits: Limits,
    pub image: String,
}

/// The name of the container a run creates.
pub fn own_container_name(owner: &Owner) -> String {
    format!("cgbench-{}", owner.pid)
}

/// A running container's cgroups, and what they held before the first trial.
pub struct Session<'a> {
    pub container: &'a Container,
    /// Its `/proc/<pid>/cgroup` at the start: while its first process shows the same, it is the
    /// same container in the same cgroups.
    pub proc_cgroup: String,
    pub files: CgroupFiles,
    originals: Vec<(PathBuf, String)>,
    /// Docker's record to set back at the end: a `--container`'s only, as cgbench's own is removed.
    record: Option<Limits>,
}

impl<'a> Session<'a> {
    /// Finds and checks the container's cgroup files, refuses values the kernel would fight, and
    /// saves every limit file the trials will write.
    pub fn open(host: &Host, running: &'a Running, opts: &CompareOptions) -> anyhow::Result<Session<'a>> {
        let Running { container, limits, .. } = running;
        let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid))
            .with_context(|| format!("reading /proc/{}/cgroup of the container", container.pid))?;
        let files = host.files_of(&proc_cgroup)?;
        files.verify()?;
        let usage = files.memory_usage()?;
        // A memory load is there to be above the lower value.
        if opts.load != Load::Memory
            && let Some(&low) = opts.memory_values.iter().find(|&&v| v <= usage)
        {
            bail!(
                "--memory-values: {} is not above the container's current memory usage ({}): the kernel would reclaim or refuse; choose larger values",
                format_bytes(low),
                format_bytes(usage)
            );
        }
        let originals = files
            .limit_files(&[Limit::Memory { bytes: limits.memory_bytes }, limits.cpu])
            .into_iter()
            .map(|path| io::read_value(&path).map(|v| (path, v)))
            .collect::<anyhow::Result<_>>()?;
        let record = opts.container.as_ref().map(|_| *limits);
        Ok(Session { container, proc_cgroup, files, originals, record })
    }

    /// What the journal must hold for a later run to undo this session's changes, if the run
    /// cannot: a `--container`'s limits. cgbench's own container goes whole.
    pub fn undo(&self) -> Option<Change> {
        self.record.map(|record| Change::Limits {
            container_id: self.container.id.clone(),
            init_pid: self.container.pid,
            files: self.originals.clone(),
            record,
        })
    }

    /// Whether the container's first process is still there, in the cgroups it had: the kernel's
    /// word, which holds when dockerd cannot be asked.
    pub fn init_alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/cgroup", self.container.pid)).is_ok_and(|c| c == self.proc_cgroup)
    }

    /// Puts the starting limits back: through Docker first for a `--container` that outlives the
    /// run (so `docker inspect` is right again), then file by file, checking each against what it
    /// held before the first trial and rewriting any that differ.
    pub async fn restore(&self, docker: &DockerHost) -> anyhow::Result<()> {
        // A container that stopped or is being removed (the run's error says so) takes its
        // cgroups with it: there is nothing left to restore. The kernel is asked first, then
        // Docker, if it answers.
        let id = &self.container.id;
        if !self.init_alive()
            || self.originals.iter().any(|(path, _)| !path.exists())
            || matches!(docker.is_running(id).await, Ok(false))
        {
            return Ok(());
        }
        let via_docker = match &self.record {
            Some(limits) => {
                tracing::debug!(container = id, "restoring Docker's record");
                docker.set_limits(id, limits).await
            }
            None => Ok(()),
        };
        if via_docker.is_err() && matches!(docker.stops_within(id, Duration::from_secs(5)).await, Ok(true)) {
            return Ok(());
        }
        for (path, original) in &self.originals {
            tracing::debug!(file = %path.display(), value = original, "restoring");
            let restored = io::ensure_value(path, original);
            if restored.is_err() && !path.exists() {
                // Its cgroup went while we wrote: the container is gone.
                return Ok(());
            }
            restored?;
        }
        via_docker
    }
}

/// Two cleanup steps' outcome as one: both errors when both failed, the first one first.
pub fn both(first: anyhow::Result<()>, second: anyhow::Result<()>) -> anyhow::Result<()> {
    match (first, second) {
        (Err(a), Err(b)) => Err(anyhow!("{a:#}; {b:#}")),
        (first, second) => first.and(second),
    }
}

/// A failed cleanup leads the error, since it is what the user must act on (and it makes an
/// interruption's "limits restored, … removed" untrue); what ended the run follows.
pub fn cleanup_failed(cleanup: anyhow::Error, cause: anyhow::Error) -> anyhow::Error {
    if cause.is::<Interrupted>() {
        anyhow!("{cleanup:#} (after an interruption)")
    } else {
        anyhow!("{cleanup:#} (after the run failed: {cause:#})")
    }
}
