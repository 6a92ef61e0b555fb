//! The floor of the fast path: one `pwrite` at offset 0 per file, on fds opened before the trials.

use futures_util::{FutureExt as _, future::BoxFuture};

use super::{Apply, Target};
use crate::{
    host::{
        cgroup::{CgroupFiles, io::KeptOpen},
        system::monotonic_ns,
    },
    resource::Limit,
    trial::Span,
};

pub struct RawKeptOpen {
    files: CgroupFiles,
    open: KeptOpen,
}

impl RawKeptOpen {
    pub fn new(target: &Target) -> anyhow::Result<RawKeptOpen> {
        let open = KeptOpen::open(target.files.limit_files(&target.samples))?;
        Ok(RawKeptOpen { files: target.files.clone(), open })
    }
}

/// Writes every file `limit` changes with a `pwrite` on its kept-open fd, timed; the work of a
/// kept-open trial.
pub fn write_all(files: &CgroupFiles, open: &KeptOpen, limit: &Limit) -> anyhow::Result<Span> {
    let writes = files.changes(limit)?;
    let start_ns = monotonic_ns();
    let written = writes.iter().try_for_each(|w| open.write(&w.path, &w.value));
    let end_ns = monotonic_ns();
    written.map(|()| Span { start_ns, end_ns })
}

impl Apply for RawKeptOpen {
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>> {
        std::future::ready(write_all(&self.files, &self.open, limit)).boxed()
    }
}
