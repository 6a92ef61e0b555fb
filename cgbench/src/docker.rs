//! Everything cgbench asks of Docker: the daemon's version, the target image, the container's
//! life, and restoring its limits through Docker so Docker's own record stays true.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail, ensure};
use bollard::{
    Docker,
    models::{
        ContainerCreateBody, ContainerStateStatusEnum, ContainerUpdateBody, HostConfig, HostConfigCgroupnsModeEnum,
    },
    query_parameters::{BuildImageOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder},
};
use futures_util::StreamExt as _;

use crate::resource::Limit;

/// Label on everything cgbench creates, so a leftover is easy to find (`docker ps -a --filter`).
pub const LABEL: &str = "org.cgbench.created-by";

/// How long a container's removal waits for a daemon that stopped answering: a dockerd restart
/// takes a few seconds.
const DAEMON_GRACE: Duration = Duration::from_secs(30);

/// The target image's build context, embedded at build time: no registry, no network.
const DOCKERFILE: &[u8] = include_bytes!("../../docker/Dockerfile");
const IDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/idle"));

pub struct DockerHost {
    pub api: Docker,
    pub server_version: String,
    /// `cgroupfs` or `systemd`: with `systemd`, systemd writes the limits before runc does.
    pub cgroup_driver: String,
    pub rootless: bool,
}

/// The limits a cgbench container starts with, and gets back before it is removed.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Memory plus swap, as Docker counts it; -1 is unlimited.
    pub memory_swap_bytes: i64,
    pub cpu: Limit,
}

pub struct Container {
    pub id: String,
    pub name: String,
    pub pid: u32,
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

    /// The image to run: `requested` if given (it must exist locally), otherwise cgbench's own
    /// target image, built from the embedded context when absent. Its tag carries a hash of the
    /// context so a changed Dockerfile is rebuilt, never reused stale.
    pub async fn ensure_image(&self, requested: Option<&str>) -> anyhow::Result<String> {
        if let Some(image) = requested {
            self.api
                .inspect_image(image)
                .await
                .map_err(|e| anyhow!("image {image} is not available locally ({e}): build or load it first"))?;
            return Ok(image.to_owned());
        }
        let tag = format!("cgbench-target:{:016x}", fnv1a(&[DOCKERFILE, IDLE]));
        if self.api.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        let context = build_context()?;
        let labels = HashMap::from([(LABEL, "cgbench")]);
        let options = BuildImageOptionsBuilder::default().t(&tag).rm(true).forcerm(true).labels(&labels).build();
        let mut stream = self.api.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = stream.next().await {
            let step = step.map_err(|e| anyhow!("building the target image {tag} failed: {e}"))?;
            if let Some(detail) = step.error_detail {
                bail!("building the target image {tag} failed: {}", detail.message.unwrap_or_default());
            }
        }
        Ok(tag)
    }

    /// Creates and starts the target container in the host cgroup namespace, so its
    /// `/proc/<pid>/cgroup` shows host paths.
    pub async fn create_container(&self, image: &str, limits: &Limits) -> anyhow::Result<Container> {
        let Limit::Cpu { quota_us, period_us } = limits.cpu else { bail!("the CPU limit must be a CPU limit") };
        let name = format!("cgbench-{}", std::process::id());
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            labels: Some(HashMap::from([(LABEL.to_owned(), "cgbench".to_owned())])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                cgroupns_mode: Some(HostConfigCgroupnsModeEnum::HOST),
                memory: Some(limits.memory_bytes as i64),
                memory_swap: Some(limits.memory_swap_bytes),
                nano_cpus: Some(Limit::nano_cpus(quota_us, period_us)),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let id = self.api.create_container(Some(options), body).await.context("creating the target container")?.id;
        let container = async {
            self.api.start_container(&id, None).await.context("starting the target container")?;
            let inspect = self.api.inspect_container(&id, None).await?;
            let pid =
                inspect.state.and_then(|s| s.pid).filter(|&p| p > 0).context("the target container has no process")?;
            anyhow::Ok(Container { id: id.clone(), name: name.clone(), pid: pid as u32 })
        }
        .await;
        if container.is_err() {
            let _ = self.remove_container(&id).await;
        }
        container
    }

    /// A running container the user named with `--container`, and the limits it has now, which
    /// it gets back at the end. Docker cannot lift a limit once set, so a container without a
    /// memory and a `--cpus` limit is refused rather than left limited.
    pub async fn existing_container(&self, name: &str) -> anyhow::Result<(Container, Limits)> {
        let inspect = self
            .api
            .inspect_container(name, None)
            .await
            .map_err(|e| anyhow!("no container {name} on this Docker daemon ({e}): check `docker ps`"))?;
        let id = inspect.id.context("the daemon returned a container without an id")?;
        let pid = inspect.state.and_then(|s| s.pid).filter(|&p| p > 0);
        let pid = pid.with_context(|| format!("container {name} is not running: start it first"))?;
        let host = inspect.host_config.unwrap_or_default();
        if host.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::PRIVATE) {
            bail!("container {name} has a private cgroup namespace: recreate it with --cgroupns=host");
        }
        let memory = host.memory.filter(|&m| m > 0).with_context(|| {
            format!("container {name} has no memory limit, and Docker could not remove the one cgbench sets: give it one (docker update --memory)")
        })?;
        let nano_cpus = host.nano_cpus.filter(|&n| n > 0).with_context(|| {
            format!("container {name} has no --cpus limit, and Docker could not remove the one cgbench sets: give it one (docker update --cpus)")
        })?;
        let micro_cpus = (nano_cpus / 1000) as u64;
        let cpu = Limit::cpus(micro_cpus).with_context(|| format!("container {name}'s CPU limit"))?;
        let limits = Limits { memory_bytes: memory as u64, memory_swap_bytes: host.memory_swap.unwrap_or(0), cpu };
        let name = inspect.name.unwrap_or_else(|| name.to_owned()).trim_start_matches('/').to_owned();
        Ok((Container { id, name, pid: pid as u32 }, limits))
    }

    /// Whether the container still runs: not removed, not being removed, not stopped.
    pub async fn is_running(&self, id: &str) -> anyhow::Result<bool> {
        match self.api.inspect_container(id, None).await {
            Ok(inspect) => Ok(inspect.state.and_then(|s| s.status) == Some(ContainerStateStatusEnum::RUNNING)),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("inspecting container {id}")),
        }
    }

    /// Whether the container stops (or goes) within `within`: a `docker rm -f` by someone else
    /// refuses updates ("marked for removal") while the container still shows as running.
    pub async fn stops_within(&self, id: &str, within: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + within;
        while self.is_running(id).await? {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(true)
    }

    /// Removes a container cgbench created; one already gone (removed by someone else) is fine.
    /// A daemon that stopped answering (restarting, say) is waited for, since a container left
    /// behind is the one thing cgbench must not do quietly.
    pub async fn remove_container(&self, id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + DAEMON_GRACE;
        let mut told = false;
        loop {
            let removed = self.try_remove(id).await;
            if removed.is_ok() || self.api.ping().await.is_ok() {
                return removed;
            }
            let short = &id[..id.len().min(12)];
            if Instant::now() >= deadline {
                bail!(
                    "container {short} is left behind: dockerd stopped answering and did not come back within {} s; once it is back, remove it with `docker rm -f {short}`",
                    DAEMON_GRACE.as_secs()
                );
            }
            if !told {
                eprintln!(
                    "cgbench: dockerd is not answering; waiting up to {} s for it to remove container {short}",
                    DAEMON_GRACE.as_secs()
                );
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn try_remove(&self, id: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.api.remove_container(id, Some(options)).await {
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) | Ok(()) => Ok(()),
            // Someone else is removing it: wait until it is gone, so nothing is left behind.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, message })
                if message.contains("already in progress") =>
            {
                for _ in 0..100 {
                    if let Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) =
                        self.api.inspect_container(id, None).await
                    {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                bail!("container {id} was still being removed 10 s later")
            }
            Err(e) => Err(e).with_context(|| format!("removing container {id}")),
        }
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

/// Processes named `dockerd` on this host: the receivers of the update request.
pub fn dockerd_tgids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == "dockerd"))
        .collect()
}

fn build_context() -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [("Dockerfile", DOCKERFILE, 0o644), ("idle", IDLE, 0o755)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, data)?;
    }
    Ok(tar.into_inner()?)
}

/// A stable content hash for the image tag (not for security).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_context_holds_dockerfile_and_idle() {
        let context = build_context().unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "idle"]);
        assert!(IDLE.starts_with(b"\x7fELF"), "idle must be an ELF binary");
    }

    #[test]
    fn image_tag_hash_depends_on_content() {
        assert_ne!(fnv1a(&[b"a", b"b"]), fnv1a(&[b"a", b"c"]));
        assert_eq!(fnv1a(&[b"ab"]), fnv1a(&[b"a", b"b"]));
    }
}
