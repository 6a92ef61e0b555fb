//! Everything cgbench asks of Docker: the daemon's version and driver, limit updates through
//! the Engine API, and restoring limits through Docker so Docker's own record stays true. The
//! container's life is in `container.rs`, the target image in `image.rs`.

mod container;
mod image;
mod record;

use anyhow::{Context as _, anyhow, bail, ensure};
use bollard::{Docker, models::ContainerUpdateBody};
pub use container::Container;
pub use record::{Recorded, update_body};

use crate::resource::{Limit, Limits};

/// Label on everything cgbench creates, so a leftover is easy to find (`docker ps -a --filter`).
pub const LABEL: &str = "org.cgbench.created-by";
/// Label on the containers cgbench creates: the run that owns it (`pid:start:boot`), so that a
/// later run can tell a live run's container from one a killed run left behind.
pub const OWNER_LABEL: &str = "org.cgbench.owner";

pub struct DockerHost {
    pub api: Docker,
    pub server_version: String,
    /// `cgroupfs` or `systemd`: with `systemd`, systemd writes the limits before runc does.
    pub cgroup_driver: String,
    pub rootless: bool,
}

impl DockerHost {
    /// Connects as the docker CLI would (`DOCKER_HOST` or the local socket) and checks that the
    /// daemon answers.
    pub async fn connect() -> anyhow::Result<DockerHost> {
        let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unreachable = |e: &dyn std::fmt::Display| {
            anyhow!(
                "cannot reach the Docker daemon at {endpoint} ({e}): start dockerd (`cargo xtask setup` does) or set DOCKER_HOST"
            )
        };
        let api = Docker::connect_with_defaults().map_err(|e| unreachable(&e))?;
        let api = api.negotiate_version().await.map_err(|e| unreachable(&e))?;
        let version = api.version().await.map_err(|e| unreachable(&e))?;
        let info = api.info().await.map_err(|e| unreachable(&e))?;
        Ok(DockerHost {
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            // bollard's enums print as their API strings.
            cgroup_driver: info.cgroup_driver.map(|d| d.to_string()).unwrap_or_default(),
            rootless: info.security_options.unwrap_or_default().iter().any(|o| o.contains("name=rootless")),
            api,
        })
    }

    /// Rootless Docker runs runc in a user namespace on a delegated cgroup tree: not what cgbench
    /// measures, and not something it may write to as root on the user's behalf.
    pub fn refuse_rootless(&self) -> anyhow::Result<()> {
        ensure!(
            !self.rootless,
            "this Docker daemon is rootless, which cgbench does not support: point DOCKER_HOST at the system daemon"
        );
        Ok(())
    }

    /// One limit change through the Engine API, as an API client (an autoscaler) would make it.
    pub async fn update_limit(&self, id: &str, limit: &Limit, memory_swap: u64) -> anyhow::Result<()> {
        let body = match *limit {
            Limit::Memory { bytes } => ContainerUpdateBody {
                memory: Some(bytes as i64),
                memory_swap: Some(memory_swap as i64),
                ..Default::default()
            },
            Limit::Cpu { quota_us, period_us } => {
                ContainerUpdateBody { nano_cpus: Some(Limit::nano_cpus(quota_us, period_us)), ..Default::default() }
            }
        };
        self.api.update_container(id, body).await.map_err(|e| anyhow!("the Engine API update to {limit} failed: {e}"))
    }

    /// Sets the container's limits through the Engine API, so Docker's record matches the kernel.
    pub async fn set_limits(&self, id: &str, limits: &Limits) -> anyhow::Result<()> {
        let Limit::Cpu { quota_us, period_us } = limits.cpu else { bail!("the CPU limit must be a CPU limit") };
        let body = ContainerUpdateBody {
            memory: Some(limits.memory_bytes as i64),
            memory_swap: Some(limits.memory_swap_bytes),
            nano_cpus: Some(Limit::nano_cpus(quota_us, period_us)),
            ..Default::default()
        };
        self.api.update_container(id, body).await.with_context(|| format!("restoring the limits of container {id}"))
    }
}

/// The version of the docker CLI that is timed.
pub async fn cli_version(cli: &str) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(cli)
        .args(["version", "--format", "{{.Client.Version}}"])
        .output()
        .await
        .with_context(|| format!("running `{cli} version`: is the docker CLI installed? (--docker-cli PATH)"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Processes named `dockerd` on this host: the receivers of the update request. A dockerd that
/// has exited but is not yet reaped (a container's init may be slow to reap orphans) keeps its
/// name, but receives nothing, and has no command line to start it again by: it is not one.
pub fn dockerd_tgids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "dockerd"))
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()))
        .collect()
}
