//! The routes a limit change can take to the kernel, one file each behind one seam: a route is
//! given a limit, changes it its own way, and says when its caller started and was done. A new
//! route is one new file here and one arm in `Route` and `build`.

mod docker_api;
mod docker_cli;
pub mod raw;
mod raw_kept_open;

use futures_util::future::BoxFuture;

use crate::{
    host::{cgroup::CgroupFiles, docker::DockerHost},
    resource::Limit,
    trial::{Route, Span},
};

/// One way of changing a limit, timed from its caller's start to its caller's end.
pub trait Apply: Send + Sync {
    /// Sets `limit` on the target container. The span must hold the whole of the caller's work
    /// and nothing of cgbench's own bookkeeping.
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>>;
}

/// What the routes act on: one container, its cgroup files, and how Docker is reached.
pub struct Target<'a> {
    pub docker: &'a DockerHost,
    pub container_id: &'a str,
    pub files: &'a CgroupFiles,
    /// The docker CLI to time.
    pub docker_cli: &'a str,
    /// The swap limit sent with every memory change (see `CompareOptions::memory_swap`).
    pub memory_swap: u64,
    /// A sample of each resource's limits: the files the kept-open route opens.
    pub samples: [Limit; 2],
}

/// The route's implementation, ready to run trials (files opened, clients connected).
pub fn build<'a>(route: Route, target: &Target<'a>) -> anyhow::Result<Box<dyn Apply + 'a>> {
    Ok(match route {
        Route::DockerCli => Box::new(docker_cli::DockerCli::new(target)),
        Route::DockerApi => Box::new(docker_api::DockerApi::new(target)),
        Route::Raw => Box::new(raw::Raw::new(target)),
        Route::RawKeptOpen => Box::new(raw_kept_open::RawKeptOpen::new(target)?),
    })
}
