//! A container's cgroup files: the one place that knows which file a limit goes to, through its
//! version's mapping.

use std::path::PathBuf;

use anyhow::Context as _;
use probe_common::CgroupKey;
use serde::Serialize;

use super::{Version, dir_key, io, read_value};
use crate::{
    resource::{Limit, Resource},
    trial::Target,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceDir {
    pub version: Version,
    pub path: PathBuf,
}

/// A container's cgroup files: the one place that knows which file a limit goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupFiles {
    pub memory: ResourceDir,
    pub cpu: ResourceDir,
}

/// One control-file write: where, and the exact bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileWrite {
    pub path: PathBuf,
    pub value: String,
}

impl FileWrite {
    pub fn file_name(&self) -> &str {
        self.path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    }
}

impl CgroupFiles {
    pub fn dir(&self, resource: Resource) -> &ResourceDir {
        match resource {
            Resource::Memory => &self.memory,
            Resource::Cpu => &self.cpu,
        }
    }

    /// The writes that set `limit`, in runc's order (the trials' files and values must not
    /// depend on what they hold now); the last one is the one that enforces it.
    pub fn writes(&self, limit: &Limit) -> Vec<FileWrite> {
        let dir = self.dir(limit.resource());
        (dir.version.mapping().knobs)(limit.resource().into(), &limit.resources(), &|_| None)
            .expect("a memory or CPU limit maps to files in both versions")
            .into_iter()
            .map(|w| FileWrite { path: dir.path.join(w.file), value: w.value })
            .collect()
    }

    /// The writes that set `limit`, leaving out any file that already holds its value — the
    /// v1 period when only the quota changes — but never the last, the one that enforces it:
    /// what a caller that writes only what changes does. The files are read now, before any
    /// timing starts.
    pub fn changes(&self, limit: &Limit) -> anyhow::Result<Vec<FileWrite>> {
        let mut writes = self.writes(limit);
        let target = writes.pop().expect("every limit maps to at least one file");
        let mut changes = Vec::with_capacity(writes.len() + 1);
        for w in writes {
            if read_value(&w.path)? != w.value {
                changes.push(w);
            }
        }
        changes.push(target);
        Ok(changes)
    }

    /// The write whose kernel event marks `limit` as enforced.
    pub fn target(&self, limit: &Limit) -> FileWrite {
        self.writes(limit).pop().expect("every limit maps to at least one file")
    }

    /// What a trial that sets `limit` waits for the kernel to report.
    pub fn trial_target(&self, limit: &Limit) -> anyhow::Result<Target> {
        let target = self.target(limit);
        let cgroup = dir_key(target.path.parent().context("a cgroup file has a directory")?)?;
        Ok(Target { file: target.file_name().to_owned(), value: target.value, cgroup })
    }

    pub fn version(&self) -> Version {
        self.memory.version
    }

    /// The memory the cgroup uses now, in bytes.
    pub fn memory_usage(&self) -> anyhow::Result<u64> {
        let path = self.memory.path.join(self.memory.version.mapping().memory_usage);
        read_value(&path)?.parse().with_context(|| format!("{} is not a number", path.display()))
    }

    /// Every distinct file a change of either resource writes, to save and restore them.
    pub fn limit_files(&self, sample: &[Limit]) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = sample.iter().flat_map(|l| self.writes(l)).map(|w| w.path).collect();
        files.dedup();
        files
    }

    /// Checks that each directory is a real cgroup directory (see `io::verify_dir`).
    pub fn verify(&self) -> anyhow::Result<()> {
        io::verify_dir(&self.memory.path)?;
        io::verify_dir(&self.cpu.path)
    }

    /// The kernel's identity of each directory, for the in-kernel write filter.
    pub fn keys(&self) -> anyhow::Result<Vec<CgroupKey>> {
        let mut keys = vec![dir_key(&self.memory.path)?, dir_key(&self.cpu.path)?];
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 cpu directory, as plain files holding the given period and quota.
    fn cpu_dir(period: &str, quota: &str) -> (CgroupFiles, PathBuf) {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cgbench-files-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("cpu.cfs_period_us"), format!("{period}\n")).unwrap();
        std::fs::write(path.join("cpu.cfs_quota_us"), format!("{quota}\n")).unwrap();
        let dir = ResourceDir { version: Version::V1, path: path.clone() };
        (CgroupFiles { memory: dir.clone(), cpu: dir }, path)
    }

    #[test]
    fn only_what_changes_is_written_and_the_enforcing_write_always_is() {
        let limit = Limit::Cpu { quota_us: 50_000, period_us: 100_000 };
        let (files, dir) = cpu_dir("100000", "50000");
        let names = |w: Vec<FileWrite>| w.iter().map(|w| w.file_name().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(files.changes(&limit).unwrap()),
            ["cpu.cfs_quota_us"],
            "the quota even when it holds the value"
        );
        std::fs::remove_dir_all(dir).unwrap();

        let (files, dir) = cpu_dir("250000", "1");
        assert_eq!(names(files.changes(&limit).unwrap()), ["cpu.cfs_period_us", "cpu.cfs_quota_us"], "period first");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
