//! Cgroups made next to cgbench's own — one per hierarchy on v1 — for the benchmark, the
//! self-test and the tests; removed when dropped.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{CgroupFiles, Host, ResourceDir};
use crate::resource::Limit;

pub struct Scratch {
    pub files: CgroupFiles,
    dirs: Vec<PathBuf>,
}

impl Scratch {
    pub fn new(host: &Host, name: &str) -> anyhow::Result<Scratch> {
        let own = host.files_of(&std::fs::read_to_string("/proc/self/cgroup")?)?;
        let dir = |d: &ResourceDir| ResourceDir { version: d.version, path: d.path.join(name) };
        let mut scratch =
            Scratch { files: CgroupFiles { memory: dir(&own.memory), cpu: dir(&own.cpu) }, dirs: Vec::new() };
        for path in [scratch.files.memory.path.clone(), scratch.files.cpu.path.clone()] {
            if !scratch.dirs.contains(&path) {
                std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
                scratch.dirs.push(path);
            }
        }
        Ok(scratch)
    }

    /// The file a memory limit is written to.
    pub fn memory_limit_file(&self) -> PathBuf {
        self.files.target(&Limit::Memory { bytes: 0 }).path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
