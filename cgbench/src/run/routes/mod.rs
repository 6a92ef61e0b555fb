//! The routes a limit change can take to the kernel, one file each behind one seam: a route is
//! given a limit, changes it its own way, and says when its caller started and was done. A new
//! route is one new file here and one arm in `Route`, `build` and, if it needs more than Docker,
//! `Services::reach`.

mod containerd;
mod cri;
mod docker_api;
mod docker_cli;
pub mod raw;
pub mod raw_kept_open;
mod runc;

use anyhow::anyhow;
use futures_util::{FutureExt as _, future::BoxFuture};

use crate::{
    host::{
        cgroup::{CgroupFiles, Host},
        containerd::DockerContainerd,
        cri::CriHost,
        docker::DockerHost,
        journal::Journal,
        system::monotonic_ns,
    },
    resource::{Limit, Limits},
    trial::{Route, Span},
};

/// One way of changing a limit, timed from its caller's start to its caller's end.
pub trait Apply: Send + Sync {
    /// Sets `limit` on the target container. The span must hold the whole of the caller's work
    /// and nothing of cgbench's own bookkeeping.
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>>;

    /// The cgroup files the route's limits land in, when they are not the Docker container's:
    /// `cri` runs a container of its own.
    fn own_files(&self) -> Option<&CgroupFiles> {
        None
    }

    /// Undoes what the route set up for its trials (`cri`'s pod), however they ended.
    fn finish<'a>(&'a self, _journal: &'a mut Journal) -> BoxFuture<'a, anyhow::Result<()>> {
        std::future::ready(Ok(())).boxed()
    }
}

/// The span of a call cgbench makes itself (an API or RPC call): `call` runs only once awaited,
/// so nothing of building it is timed before it.
fn timed<'a>(call: impl Future<Output = anyhow::Result<()>> + Send + 'a) -> BoxFuture<'a, anyhow::Result<Span>> {
    async move {
        let start_ns = monotonic_ns();
        call.await?;
        Ok(Span { start_ns, end_ns: monotonic_ns() })
    }
    .boxed()
}

/// What the chosen routes need beyond Docker, connected once, before the run changes anything.
#[derive(Default)]
pub struct Services {
    pub containerd: Option<DockerContainerd>,
    pub cri: Option<CriHost>,
}

impl Services {
    /// Refuses, in one line that says what is missing and what to do, a route this host cannot
    /// serve.
    pub async fn reach(routes: &[Route], cri_endpoint: &str) -> anyhow::Result<Services> {
        let mut services = Services::default();
        for &route in routes {
            let refused = |what_to_do: &'static str| {
                move |missing: anyhow::Error| anyhow!("--routes {}: {missing:#}: {what_to_do}", route.flag())
            };
            match route {
                Route::Runc => runc::check()
                    .map_err(refused("the route runs runc on Docker's own state: Docker's engine ships both"))?,
                Route::Containerd => {
                    let found = DockerContainerd::find().await;
                    services.containerd = Some(found.map_err(refused("is dockerd running with containerd?"))?);
                }
                Route::Cri => {
                    let connected = CriHost::connect(cri_endpoint).await;
                    services.cri =
                        Some(connected.map_err(refused("start one (cargo xtask setup does) or pass --cri-endpoint"))?);
                }
                Route::DockerCli | Route::DockerApi | Route::Raw | Route::RawKeptOpen => {}
            }
        }
        Ok(services)
    }
}

/// What the routes act on: one container, its cgroup files, and how each layer is reached.
pub struct Target<'a> {
    pub docker: &'a DockerHost,
    pub services: &'a Services,
    pub host: &'a Host,
    pub container_id: &'a str,
    pub files: &'a CgroupFiles,
    /// The limits the container started with; a route's own container starts with them too.
    pub initial_limits: Limits,
    /// The docker CLI to time.
    pub docker_cli: &'a str,
    /// The swap limit sent with every memory change (see `CompareOptions::memory_swap`).
    pub memory_swap: u64,
    /// A sample of each resource's limits: the files the kept-open route opens.
    pub samples: [Limit; 2],
}

/// The route's implementation, ready to run trials (files opened, clients connected, `cri`'s
/// pod running and recorded in `journal`).
pub async fn build<'a>(
    route: Route,
    target: &Target<'a>,
    journal: &mut Journal,
) -> anyhow::Result<Box<dyn Apply + 'a>> {
    Ok(match route {
        Route::DockerCli => Box::new(docker_cli::DockerCli::new(target)),
        Route::DockerApi => Box::new(docker_api::DockerApi::new(target)),
        Route::Cri => Box::new(cri::Cri::start(target, journal).await?),
        Route::Containerd => Box::new(containerd::Containerd::new(target)?),
        Route::Runc => Box::new(runc::Runc::new(target)),
        Route::Raw => Box::new(raw::Raw::new(target)),
        Route::RawKeptOpen => Box::new(raw_kept_open::RawKeptOpen::new(target)?),
    })
}
