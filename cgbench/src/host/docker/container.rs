//! The target container's life: created for a run or named with `--container`, watched, and
//! removed whatever happens — even when the daemon goes away for a while.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use bollard::{
    models::{ContainerCreateBody, ContainerStateStatusEnum, HostConfig, HostConfigCgroupnsModeEnum},
    query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder},
};

use super::{DockerHost, LABEL, OWNER_LABEL};
use crate::resource::{Limit, Limits};

/// How long a container's removal waits for a daemon that stopped answering: a dockerd restart
/// takes a few seconds.
const DAEMON_GRACE: Duration = Duration::from_secs(30);

pub struct Container {
    pub id: String,
    pub name: String,
    pub pid: u32,
}

impl DockerHost {
    /// Creates and starts the target container in the host cgroup namespace, so its
    /// `/proc/<pid>/cgroup` shows host paths.
    /// The container carries the owner's label: whoever finds it after its owner is gone (killed)
    /// knows it may remove it.
    pub async fn create_container(
        &self,
        name: &str,
        image: &str,
        limits: &Limits,
        owner: &str,
        command: Option<Vec<String>>,
    ) -> anyhow::Result<Container> {
        let Limit::Cpu { quota_us, period_us } = limits.cpu else { bail!("the CPU limit must be a CPU limit") };
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            // The image's entrypoint is its idle program; a workload replaces it.
            entrypoint: command,
            labels: Some(HashMap::from([
                (LABEL.to_owned(), "cgbench".to_owned()),
                (OWNER_LABEL.to_owned(), owner.to_owned()),
            ])),
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
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let id = self.api.create_container(Some(options), body).await.context("creating the target container")?.id;
        let container = async {
            self.api.start_container(&id, None).await.context("starting the target container")?;
            let inspect = self.api.inspect_container(&id, None).await?;
            let pid =
                inspect.state.and_then(|s| s.pid).filter(|&p| p > 0).context("the target container has no process")?;
            anyhow::Ok(Container { id: id.clone(), name: name.to_owned(), pid: pid as u32 })
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
        let (container, host) = self.running_container(name).await?;
        let memory = host.memory.filter(|&m| m > 0).with_context(|| {
            format!("container {name} has no memory limit, and Docker could not remove the one cgbench sets: give it one (docker update --memory)")
        })?;
        let nano_cpus = host.nano_cpus.filter(|&n| n > 0).with_context(|| {
            format!("container {name} has no --cpus limit, and Docker could not remove the one cgbench sets: give it one (docker update --cpus)")
        })?;
        let micro_cpus = (nano_cpus / 1000) as u64;
        let cpu = Limit::cpus(micro_cpus).with_context(|| format!("container {name}'s CPU limit"))?;
        let limits = Limits { memory_bytes: memory as u64, memory_swap_bytes: host.memory_swap.unwrap_or(0), cpu };
        Ok((container, limits))
    }

    /// A running container by name or id, with the limits Docker records for it. Its
    /// `/proc/<pid>/cgroup`, read from the host, shows host paths whatever its cgroup namespace.
    pub async fn running_container(&self, name: &str) -> anyhow::Result<(Container, HostConfig)> {
        let inspect = self
            .api
            .inspect_container(name, None)
            .await
            .map_err(|e| anyhow!("no container {name} on this Docker daemon ({e}): check `docker ps`"))?;
        let id = inspect.id.context("the daemon returned a container without an id")?;
        let pid = inspect.state.and_then(|s| s.pid).filter(|&p| p > 0);
        let pid = pid.with_context(|| format!("container {name} is not running: start it first"))?;
        let host = inspect.host_config.unwrap_or_default();
        let name = inspect.name.unwrap_or_else(|| name.to_owned()).trim_start_matches('/').to_owned();
        Ok((Container { id, name, pid: pid as u32 }, host))
    }

    /// Every container cgbench created (on any run), by id, name and owner label.
    pub async fn own_containers(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let filters = HashMap::from([("label".to_owned(), vec![OWNER_LABEL.to_owned()])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let listed = self.api.list_containers(Some(options)).await.context("listing cgbench's containers")?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let owner = c.labels?.remove(OWNER_LABEL)?;
                let name = c.names?.first()?.trim_start_matches('/').to_owned();
                Some((c.id?, name, owner))
            })
            .collect())
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
}
