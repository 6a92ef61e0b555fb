//! The fast path: cgbench opens each file the limit needs, writes the value, closes it — what an
//! `echo` into the cgroup file does.

use futures_util::{FutureExt as _, future::BoxFuture};

use super::{Apply, Target};
use crate::{
    host::{
        cgroup::{CgroupFiles, io},
        system::monotonic_ns,
    },
    resource::Limit,
    trial::Span,
};

pub struct Raw {
    files: CgroupFiles,
}

impl Raw {
    pub fn new(target: &Target) -> Raw {
        Raw { files: target.files.clone() }
    }
}

/// Writes every file `limit` changes, open+write+close each, timed; the work of a raw trial.
pub fn write_all(files: &CgroupFiles, limit: &Limit) -> anyhow::Result<Span> {
    let writes = files.changes(limit)?;
    let start_ns = monotonic_ns();
    for w in &writes {
        io::write_value(&w.path, &w.value)?;
    }
    Ok(Span { start_ns, end_ns: monotonic_ns() })
}

impl Apply for Raw {
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>> {
        std::future::ready(write_all(&self.files, limit)).boxed()
    }
}
