//! The pod sandbox and container cgbench runs for the `cri` route: a host-network sandbox (no
//! CNI needed) holding one idle container, labelled with the run that owns it, and removed —
//! with the pod cgroup runc leaves behind — whatever happens.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerStatusRequest, CreateContainerRequest, ImageSpec,
    LinuxContainerConfig, LinuxContainerResources, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopPodSandboxRequest,
};

use super::CriHost;
use crate::{
    host::{
        cgroup::Host,
        docker::{LABEL, OWNER_LABEL},
    },
    resource::{Limit, Limits},
};

/// How long removing a pod waits for a runtime that stopped answering: a containerd restart
/// takes a few seconds, and its shims keep the sandbox running meanwhile.
const RUNTIME_GRACE: Duration = Duration::from_secs(30);

/// What containerd's CRI service says to every call but `Version` while it starts up again
/// (`checkInitialized`): the runtime is back but cannot remove a pod yet.
const CRI_NOT_INITIALIZED: &str = "server is not initialized yet";

/// A running pod's one container and that container's first process.
pub struct Pod {
    pub container_id: String,
    pub pid: u32,
}

/// The cgroup (cgroupfs style) a pod's sandbox and container go under. runc removes their own
/// cgroups but leaves this one in every hierarchy, as a kubelet would own it: cgbench removes it.
pub fn cgroup_parent(name: &str) -> String {
    format!("/{name}")
}

impl CriHost {
    /// Runs a sandbox named `name` and starts `image` in it with `limits`. A pod that failed
    /// half-way is the caller's to remove (`remove_pod_waiting`), as it holds the journal.
    pub async fn start_pod(
        &self,
        name: &str,
        owner: &str,
        image: &str,
        limits: &Limits,
        memory_swap: u64,
    ) -> anyhow::Result<Pod> {
        let labels =
            HashMap::from([(LABEL.to_owned(), "cgbench".to_owned()), (OWNER_LABEL.to_owned(), owner.to_owned())]);
        let sandbox = sandbox_config(name, labels.clone());
        let mut runtime = self.runtime.clone();
        let run = RunPodSandboxRequest { config: Some(sandbox.clone()), ..Default::default() };
        let sandbox_id = runtime
            .run_pod_sandbox(run)
            .await
            .map_err(|status| self.failed("RunPodSandbox", &status).context("starting cgbench's pod sandbox"))?
            .into_inner()
            .pod_sandbox_id;
        let create = CreateContainerRequest {
            pod_sandbox_id: sandbox_id,
            config: Some(container_config(image, labels, limits, memory_swap)?),
            sandbox_config: Some(sandbox),
        };
        let container_id = runtime
            .create_container(create)
            .await
            .map_err(|status| self.failed("CreateContainer", &status))?
            .into_inner()
            .container_id;
        let start = StartContainerRequest { container_id: container_id.clone() };
        runtime.start_container(start).await.map_err(|status| self.failed("StartContainer", &status))?;
        let pid = self.pid_of(&container_id).await?;
        Ok(Pod { container_id, pid })
    }

    /// The container's first process, as the runtime reports it (`info.pid`, containerd's).
    async fn pid_of(&self, container_id: &str) -> anyhow::Result<u32> {
        let request = ContainerStatusRequest { container_id: container_id.to_owned(), verbose: true };
        let status =
            self.runtime.clone().container_status(request).await.map_err(|s| self.failed("ContainerStatus", &s))?;
        let info = status.into_inner().info.remove("info").context("the runtime reports no container info")?;
        let info: serde_json::Value =
            serde_json::from_str(&info).context("the runtime's container info is not JSON")?;
        info["pid"]
            .as_u64()
            .filter(|&p| p > 0)
            .map(|p| p as u32)
            .context("the runtime reports no pid for the container")
    }

    /// The sandboxes cgbench made under `name` (one, or none once removed).
    pub async fn pod_ids(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let listed = self
            .runtime
            .clone()
            .list_pod_sandbox(ListPodSandboxRequest::default())
            .await
            .map_err(|s| self.failed("ListPodSandbox", &s))?;
        Ok(listed
            .into_inner()
            .items
            .into_iter()
            .filter(|s| {
                s.metadata.as_ref().is_some_and(|m| m.name == name)
                    && s.labels.get(LABEL).is_some_and(|l| l == "cgbench")
            })
            .map(|s| s.id)
            .collect())
    }

    /// Stops and removes the sandbox named `name` (its container goes with it), then the pod
    /// cgroup runc left. `false` when there was no such sandbox.
    pub async fn remove_pod(&self, name: &str) -> anyhow::Result<bool> {
        let ids = self.pod_ids(name).await?;
        let mut runtime = self.runtime.clone();
        for id in &ids {
            let stop = StopPodSandboxRequest { pod_sandbox_id: id.clone() };
            runtime.stop_pod_sandbox(stop).await.map_err(|s| self.failed("StopPodSandbox", &s))?;
            let remove = RemovePodSandboxRequest { pod_sandbox_id: id.clone() };
            runtime.remove_pod_sandbox(remove).await.map_err(|s| self.failed("RemovePodSandbox", &s))?;
        }
        Host::detect()?.remove_everywhere(&cgroup_parent(name))?;
        Ok(!ids.is_empty())
    }

    /// `remove_pod`, waiting for a runtime that stopped answering: a pod left behind is the one
    /// thing cgbench must not do quietly. The journal keeps it if the runtime does not return.
    pub async fn remove_pod_waiting(&self, name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + RUNTIME_GRACE;
        let mut told = false;
        loop {
            let removed = self.remove_pod(name).await;
            let initializing = removed.as_ref().is_err_and(|e| format!("{e:#}").contains(CRI_NOT_INITIALIZED));
            if removed.is_ok() || (!initializing && self.answers().await) {
                return removed.map(|_| ());
            }
            if Instant::now() >= deadline {
                bail!(
                    "pod sandbox {name} is left behind: the CRI runtime at {} stopped answering and did not come back within {} s; the next cgbench run (or `cgbench cleanup`) removes it once the runtime is back",
                    self.endpoint,
                    RUNTIME_GRACE.as_secs()
                );
            }
            if !told {
                eprintln!(
                    "cgbench: the CRI runtime at {} is not answering; waiting up to {} s for it to remove pod sandbox {name}",
                    self.endpoint,
                    RUNTIME_GRACE.as_secs()
                );
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A host-network sandbox: no CNI needed. It has no hostname, since with the node's network
/// containerd also shares the node's UTS namespace, where runc refuses to set one.
fn sandbox_config(name: &str, labels: HashMap<String, String>) -> PodSandboxConfig {
    let namespaces = NamespaceOption {
        network: NamespaceMode::Node.into(),
        pid: NamespaceMode::Container.into(),
        ipc: NamespaceMode::Pod.into(),
        ..Default::default()
    };
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_owned(),
            uid: name.to_owned(),
            namespace: "cgbench".into(),
            attempt: 0,
        }),
        labels,
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent(name),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The idle container, with the run's starting limits and no log (it prints nothing).
fn container_config(
    image: &str,
    labels: HashMap<String, String>,
    limits: &Limits,
    memory_swap: u64,
) -> anyhow::Result<ContainerConfig> {
    let Limit::Cpu { quota_us, period_us } = limits.cpu else {
        return Err(anyhow!("the CPU limit must be a CPU limit"));
    };
    let resources = LinuxContainerResources {
        cpu_period: period_us as i64,
        cpu_quota: quota_us as i64,
        memory_limit_in_bytes: limits.memory_bytes as i64,
        memory_swap_limit_in_bytes: memory_swap as i64,
        ..Default::default()
    };
    Ok(ContainerConfig {
        metadata: Some(ContainerMetadata { name: "idle".into(), attempt: 0 }),
        image: Some(ImageSpec { image: image.to_owned(), ..Default::default() }),
        labels,
        linux: Some(LinuxContainerConfig { resources: Some(resources), ..Default::default() }),
        ..Default::default()
    })
}
