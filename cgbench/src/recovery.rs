//! Finishing what runs that could not clean up after themselves left behind (`kill -9`, the OOM
//! killer, a crash): their journal entries (containers, limits, mounts, CRI pod sandboxes), and
//! containers labelled with an owner that is gone.
//! A run that is still alive is never touched; what cannot be undone now (dockerd down, a damaged
//! entry) is said in one line and left for a later attempt.

use std::{collections::HashSet, path::Path};

use anyhow::bail;

use crate::host::{
    cgroup::io,
    cri::CriHost,
    docker::DockerHost,
    journal::{self, Change, Entry, Owner},
    system::{ensure_root, unmount},
    tasks::{self, TaskPriority},
};

/// `cgbench cleanup`: recovery on its own, one line per thing undone (or that would be).
pub async fn cleanup(dry_run: bool) -> anyhow::Result<()> {
    ensure_root()?;
    let docker = DockerHost::connect().await;
    if let Err(e) = &docker {
        eprintln!("cgbench: {e:#}: containers are not looked for");
    }
    let recovery = recover(docker.as_ref().ok(), dry_run).await;
    for line in &recovery.lines {
        println!("{line}");
    }
    if recovery.lines.is_empty() {
        println!("nothing to clean up");
    }
    if recovery.left > 0 {
        bail!("{} left behind could not be undone now (see above)", recovery.left);
    }
    Ok(())
}

/// What recovery did, or would do with `dry_run`, one line each.
#[derive(Debug, Default)]
pub struct Recovery {
    pub lines: Vec<String>,
    /// Entries or containers left for a later attempt.
    pub left: usize,
}

impl Recovery {
    fn say(&mut self, line: String) {
        self.lines.push(line);
    }

    fn leave(&mut self, line: String) {
        self.left += 1;
        self.lines.push(line);
    }
}

/// Undoes what dead runs left (or lists it, with `dry_run`). `docker` is `None` when the daemon
/// cannot be reached: entries that need it are left for later.
pub async fn recover(docker: Option<&DockerHost>, dry_run: bool) -> Recovery {
    let mut recovery = Recovery::default();
    let found = journal::entries();
    let live: Vec<&Owner> =
        found.iter().filter_map(|f| f.entry.as_ref().ok()).map(|e| &e.owner).filter(|o| o.alive()).collect();
    let mut journaled = HashSet::new();
    for f in &found {
        match &f.entry {
            Err(e) => recovery.leave(format!(
                "journal entry {} cannot be read ({e:#}): left in place; check it and remove it by hand",
                f.path.display()
            )),
            Ok(entry) if entry.owner.alive() => {}
            Ok(entry) => {
                journaled.extend(entry.changes.iter().filter_map(|c| match c {
                    Change::Container { name } => Some(name.clone()),
                    _ => None,
                }));
                undo_entry(&f.path, entry, docker, live.len(), dry_run, &mut recovery).await;
            }
        }
    }
    if let Some(docker) = docker {
        orphan_containers(docker, &journaled, dry_run, &mut recovery).await;
    }
    recovery
}

/// Undoes an entry's changes, latest first; the entry is removed when all are undone and
/// rewritten with those left otherwise.
async fn undo_entry(
    path: &Path,
    entry: &Entry,
    docker: Option<&DockerHost>,
    live_runs: usize,
    dry_run: bool,
    recovery: &mut Recovery,
) {
    let run = format!("run {} (no longer running)", entry.owner.pid);
    let mut left = Vec::new();
    for change in entry.changes.iter().rev() {
        let outcome = match change {
            Change::Container { name } => remove_container(docker, name, dry_run).await,
            Change::Limits { container_id, init_pid, files, record } => {
                restore_limits(docker, container_id, *init_pid, files, record, dry_run).await
            }
            Change::Mount { target } => unmount_left(target, live_runs, dry_run),
            Change::Sandbox { endpoint, name } => remove_sandbox(endpoint, name, dry_run).await,
            Change::Files { container, files } => restore_files(container, files, dry_run),
            Change::Priorities { container, tasks } => restore_priorities(container, tasks, dry_run),
        };
        match outcome {
            Ok(Some(done)) => recovery.say(format!("{run}: {done}")),
            Ok(None) => {}
            Err(why) => {
                recovery.leave(format!("{run}: {why}: left for a later attempt"));
                left.push(change.clone());
            }
        }
    }
    if dry_run {
        return;
    }
    let ended = if left.is_empty() {
        std::fs::remove_file(path).map_err(anyhow::Error::from)
    } else {
        left.reverse();
        journal::rewrite(path, &Entry { changes: left, ..entry.clone() })
    };
    if let Err(e) = ended {
        recovery.leave(format!("journal entry {}: {e:#}", path.display()));
    }
}

fn would(dry_run: bool, done: &str, to_do: &str) -> String {
    if dry_run { format!("would {to_do}") } else { done.to_owned() }
}

async fn remove_container(docker: Option<&DockerHost>, name: &str, dry_run: bool) -> Result<Option<String>, String> {
    let docker = docker.ok_or_else(|| format!("container {name} may be left: dockerd is not answering"))?;
    match docker.api.inspect_container(name, None).await {
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
        Err(e) => return Err(format!("inspecting container {name}: {e}")),
        Ok(_) => {}
    }
    if !dry_run {
        docker.remove_container(name).await.map_err(|e| format!("{e:#}"))?;
    }
    Ok(Some(would(dry_run, &format!("removed container {name}"), &format!("remove container {name}"))))
}

/// Sets a `--container`'s limits back, in Docker's record and in each kernel file, if it still
/// runs with the first process it had; a container that stopped has nothing left to restore.
async fn restore_limits(
    docker: Option<&DockerHost>,
    id: &str,
    init_pid: u32,
    files: &[(std::path::PathBuf, String)],
    record: &crate::resource::Limits,
    dry_run: bool,
) -> Result<Option<String>, String> {
    let short = &id[..id.len().min(12)];
    let docker =
        docker.ok_or_else(|| format!("the limits of container {short} may be off: dockerd is not answering"))?;
    let same_container =
        std::path::Path::new(&format!("/proc/{init_pid}")).exists() && matches!(docker.is_running(id).await, Ok(true));
    if !same_container {
        return Ok(Some(format!("container {short} no longer runs: its limits need no restoring")));
    }
    if !dry_run {
        docker.set_limits(id, record).await.map_err(|e| format!("{e:#}"))?;
        for (path, value) in files {
            io::ensure_value(path, value).map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(Some(would(
        dry_run,
        &format!("restored the limits of container {short} (Docker's record and {} files)", files.len()),
        &format!("restore the limits of container {short}"),
    )))
}

/// A pod sandbox a run left on a CRI runtime; a runtime that does not answer keeps it for later.
async fn remove_sandbox(endpoint: &str, name: &str, dry_run: bool) -> Result<Option<String>, String> {
    let cri = CriHost::connect(endpoint).await.map_err(|e| format!("pod sandbox {name} may be left: {e:#}"))?;
    let found = if dry_run {
        !cri.pod_ids(name).await.map_err(|e| format!("{e:#}"))?.is_empty()
    } else {
        cri.remove_pod(name).await.map_err(|e| format!("{e:#}"))?
    };
    Ok(found.then(|| {
        would(
            dry_run,
            &format!("removed pod sandbox {name} at {endpoint}"),
            &format!("remove pod sandbox {name} at {endpoint}"),
        )
    }))
}

fn unmount_left(target: &Path, live_runs: usize, dry_run: bool) -> Result<Option<String>, String> {
    if !journal::is_mount_point(target) {
        return Ok(None);
    }
    if live_runs > 0 {
        return Err(format!("{} stays mounted while another cgbench runs", target.display()));
    }
    if !dry_run {
        unmount(target).map_err(|e| format!("unmounting {}: {e}", target.display()))?;
    }
    Ok(Some(would(dry_run, &format!("unmounted {}", target.display()), &format!("unmount {}", target.display()))))
}

/// Containers labelled with an owner that is gone and that no entry named (its journal was lost,
/// say): removed too.
async fn orphan_containers(docker: &DockerHost, journaled: &HashSet<String>, dry_run: bool, recovery: &mut Recovery) {
    let containers = match docker.own_containers().await {
        Ok(c) => c,
        Err(e) => return recovery.leave(format!("{e:#}")),
    };
    for (_, name, owner) in containers {
        let owner_alive = Owner::from_label(&owner).is_some_and(|o| o.alive());
        if owner_alive || journaled.contains(&name) {
            continue;
        }
        match remove_container(Some(docker), &name, dry_run).await {
            Ok(Some(done)) => recovery.say(format!("{done}, left by a run that is gone")),
            Ok(None) => {}
            Err(why) => recovery.leave(format!("{why}: left for a later attempt")),
        }
    }
}

/// Writes back what a killed `set` had changed, latest first; a file whose cgroup is gone went
/// with its container.
fn restore_files(
    container: &str,
    files: &[(std::path::PathBuf, String)],
    dry_run: bool,
) -> Result<Option<String>, String> {
    let present: Vec<_> = files.iter().rev().filter(|(path, _)| path.exists()).collect();
    if present.is_empty() {
        return Ok(None);
    }
    if !dry_run {
        for (path, bytes) in &present {
            io::write_value(path, bytes).map_err(|e| format!("{e:#}"))?;
        }
    }
    let files = present.iter().map(|(p, _)| p.file_name().unwrap_or_default().to_string_lossy()).collect::<Vec<_>>();
    Ok(Some(would(
        dry_run,
        &format!("put back {} of container {container} that set was changing", files.join(", ")),
        &format!("put back {} of container {container}", files.join(", ")),
    )))
}

/// Puts back the priorities of the tasks a killed `set` was changing, where they still run.
fn restore_priorities(container: &str, tasks: &[TaskPriority], dry_run: bool) -> Result<Option<String>, String> {
    let alive: Vec<&TaskPriority> = tasks.iter().filter(|t| t.alive()).collect();
    if alive.is_empty() {
        return Ok(None);
    }
    if !dry_run {
        for task in &alive {
            tasks::restore(task).map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(Some(would(
        dry_run,
        &format!("put back the priorities of {} tasks of container {container}", alive.len()),
        &format!("put back the priorities of {} tasks of container {container}", alive.len()),
    )))
}
