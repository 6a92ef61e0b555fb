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

impl Apply for RawKeptOpen {
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>> {
        let writes = match self.files.changes(limit) {
            Ok(writes) => writes,
            Err(e) => return std::future::ready(Err(e)).boxed(),
        };
        let start_ns = monotonic_ns();
        let written = writes.iter().try_for_each(|w| self.open.write(&w.path, &w.value));
        let end_ns = monotonic_ns();
        std::future::ready(written.map(|()| Span { start_ns, end_ns })).boxed()
    }
}
