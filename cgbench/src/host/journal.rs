//! What a run is changing on the host, written down before it changes it, so that a run that
//! cannot clean up after itself (`kill -9`, the OOM killer, a crash, a reboot) is cleaned up by
//! the next cgbench. One file per run in `DIR`, replaced atomically and fsync'd at every change;
//! removed once the run's own cleanup has finished.

use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::tasks::TaskPriority;
use crate::resource::Limits;

/// Persistent storage, so that an entry survives a reboot.
pub const DIR: &str = "/var/lib/cgbench/journal";
/// Entries of another format are left alone and reported, never guessed at.
pub const FORMAT: u32 = 1;

/// A process, told apart from a later one that reuses its pid: its start time (clock ticks since
/// boot, `/proc/<pid>/stat` field 22) and the boot it ran in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub start_ticks: u64,
    pub boot_id: String,
}

impl Owner {
    pub fn this_process() -> anyhow::Result<Owner> {
        let pid = std::process::id();
        Ok(Owner {
            pid,
            start_ticks: start_ticks(pid).context("reading this process's start time")?,
            boot_id: boot_id()?,
        })
    }

    /// Whether the process that wrote the entry still runs: same boot, same pid, same start.
    pub fn alive(&self) -> bool {
        boot_id().is_ok_and(|b| b == self.boot_id) && start_ticks(self.pid) == Some(self.start_ticks)
    }

    /// The value of the label cgbench puts on the containers it creates.
    pub fn label(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start_ticks, self.boot_id)
    }

    pub fn from_label(label: &str) -> Option<Owner> {
        let mut parts = label.splitn(3, ':');
        let pid = parts.next()?.parse().ok()?;
        let start_ticks = parts.next()?.parse().ok()?;
        Some(Owner { pid, start_ticks, boot_id: parts.next()?.to_owned() })
    }
}

/// When a process or thread started, in clock ticks since boot: with its id, who it is.
pub fn start_ticks(pid: u32) -> Option<u64> {
    start_ticks_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses: fields are counted from the last `)`.
fn start_ticks_in(stat: &str) -> Option<u64> {
    stat.get(stat.rfind(')')? + 2..)?.split(' ').nth(19)?.parse().ok()
}

fn boot_id() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id").context("reading the boot id")?.trim().to_owned())
}

/// One thing a run changes, with what undoing it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A container cgbench is about to create (recorded before the create call): remove it.
    Container { name: String },
    /// A `--container` whose limits the trials change: set back Docker's record, then each
    /// kernel file, while the container still runs with this first process.
    Limits { container_id: String, init_pid: u32, files: Vec<(PathBuf, String)>, record: Limits },
    /// A pseudo filesystem cgbench mounted: unmount it once no live run may use it.
    Mount { target: PathBuf },
    /// A CRI pod sandbox cgbench is about to run (recorded before the call): remove it with its
    /// container, and the pod cgroup runc leaves.
    Sandbox { endpoint: String, name: String },
    /// Control files a `set` is writing, each with the bytes that put back what it held (recorded
    /// before the first write, struck off once all are read back): written back latest first,
    /// where the cgroup still exists.
    Files { container: String, files: Vec<(PathBuf, String)> },
    /// Tasks whose priorities a `set` is changing, as they were: put back where the task still
    /// runs.
    Priorities { container: String, tasks: Vec<TaskPriority> },
}

/// A journal file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub format: u32,
    pub owner: Owner,
    pub cgbench_version: String,
    pub changes: Vec<Change>,
}

/// This run's own entry.
pub struct Journal {
    path: PathBuf,
    entry: Entry,
}

impl Journal {
    pub fn open(owner: Owner) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(DIR).with_context(|| format!("creating the journal directory {DIR}"))?;
        let path = Path::new(DIR).join(format!("{}-{}.json", owner.pid, owner.start_ticks));
        let entry = Entry { format: FORMAT, owner, cgbench_version: env!("CARGO_PKG_VERSION").into(), changes: vec![] };
        let journal = Journal { path, entry };
        journal.persist()?;
        Ok(journal)
    }

    pub fn owner(&self) -> &Owner {
        &self.entry.owner
    }

    /// Records a change before it is made.
    pub fn record(&mut self, change: Change) -> anyhow::Result<()> {
        self.entry.changes.push(change);
        self.persist()
    }

    /// A change the run has undone itself.
    pub fn undone(&mut self, change: &Change) -> anyhow::Result<()> {
        if let Some(i) = self.entry.changes.iter().position(|c| c == change) {
            self.entry.changes.remove(i);
            self.persist()?;
        }
        Ok(())
    }

    /// Written whole to a temporary file, fsync'd, renamed over the entry, and the directory
    /// fsync'd: after a crash the entry is the old one or the new one, never half of one.
    fn persist(&self) -> anyhow::Result<()> {
        write_durably(&self.path, &serde_json::to_vec_pretty(&self.entry)?)
    }
}

/// However the run ends (short of being killed), its entry goes once nothing is left to undo, and
/// stays, for the next cgbench to finish, when its cleanup failed.
impl Drop for Journal {
    fn drop(&mut self) {
        self.entry.changes.retain(still_in_effect);
        let ended = if self.entry.changes.is_empty() {
            std::fs::remove_file(&self.path).map_err(anyhow::Error::from).and_then(|()| sync_dir(Path::new(DIR)))
        } else {
            self.persist()
        };
        if let Err(e) = ended {
            eprintln!("cgbench: the journal entry {} could not be updated: {e:#}", self.path.display());
        }
    }
}

/// A mount is undone once its target is no longer a mount point (a probe set that mounted
/// tracefs unmounts it when dropped); the rest is undone only when the run says so.
fn still_in_effect(change: &Change) -> bool {
    match change {
        Change::Mount { target } => is_mount_point(target),
        _ => true,
    }
}

pub fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let parent = path.parent().unwrap_or(Path::new("/"));
    matches!((std::fs::metadata(path), std::fs::metadata(parent)), (Ok(p), Ok(up)) if p.dev() != up.dev())
}

fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// An entry found on disk: its file, and what it says, or why it cannot be read.
pub struct Found {
    pub path: PathBuf,
    pub entry: anyhow::Result<Entry>,
}

/// Every entry in the journal directory (none when it does not exist).
pub fn entries() -> Vec<Found> {
    let Ok(dir) = std::fs::read_dir(DIR) else { return Vec::new() };
    let mut paths: Vec<PathBuf> =
        dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    paths.sort();
    paths.into_iter().map(|path| Found { entry: read(&path), path }).collect()
}

fn read(path: &Path) -> anyhow::Result<Entry> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let format = serde_json::from_slice::<serde_json::Value>(&text)
        .context("it is not JSON")?
        .get("format")
        .and_then(serde_json::Value::as_u64);
    if format != Some(u64::from(FORMAT)) {
        let format = format.map_or_else(|| "none".to_owned(), |f| f.to_string());
        bail!("it is in format {format}, not {FORMAT} (written by another cgbench version)");
    }
    serde_json::from_slice(&text).context("it does not hold a journal entry")
}

/// Rewrites an entry found on disk with the changes still to undo.
pub fn rewrite(found: &Path, entry: &Entry) -> anyhow::Result<()> {
    write_durably(found, &serde_json::to_vec_pretty(entry)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = Owner::this_process().unwrap();
        assert!(me.alive());
        assert!(!Owner { start_ticks: me.start_ticks + 1, ..me.clone() }.alive());
        assert!(!Owner { boot_id: "another boot".into(), ..me.clone() }.alive());
        assert_eq!(Owner::from_label(&me.label()), Some(me));
        assert_eq!(Owner::from_label("12:x:y"), None);
    }

    #[test]
    fn a_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (a) (b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_ticks_in(stat), Some(987654));
        assert_eq!(start_ticks_in("42 (truncated"), None);
    }

    #[test]
    fn an_entry_of_another_format_is_refused_not_guessed_at() {
        let path = std::env::temp_dir().join(format!("cgbench-journal-test-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"format": 0, "owner": {}, "changes": []}"#).unwrap();
        let err = read(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err, "it is in format 0, not 1 (written by another cgbench version)");
    }

    #[test]
    fn entries_round_trip_and_name_their_changes() {
        let entry = Entry {
            format: FORMAT,
            owner: Owner { pid: 7, start_ticks: 8, boot_id: "b".into() },
            cgbench_version: "0.1.0".into(),
            changes: vec![
                Change::Container { name: "cgbench-7".into() },
                Change::Mount { target: "/sys/kernel/tracing".into() },
                Change::Sandbox { endpoint: "unix:///run/cri.sock".into(), name: "cgbench-pod-7".into() },
            ],
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["changes"][0]["kind"], "container");
        assert_eq!(json["changes"][2]["kind"], "sandbox");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back.changes, entry.changes);
    }
}
