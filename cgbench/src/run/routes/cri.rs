//! CRI `UpdateContainerResources`, the kubelet's in-place pod resize: CRI plugin → containerd →
//! shim → runc. CRI cannot update Docker's containers, so the route runs a pod of its own on the
//! CRI runtime — a host-network sandbox holding one idle container of cgbench's image, started
//! with the run's limits — and its limit lands in that container's cgroups. The pod is recorded
//! in the journal before it is asked for, and removed at the end whatever happened.

use anyhow::{Context as _, anyhow};
use futures_util::{FutureExt as _, future::BoxFuture};

use super::{Apply, Target, timed};
use crate::{
    host::{
        cgroup::CgroupFiles,
        cri::CriHost,
        journal::{Change, Journal},
    },
    resource::Limit,
    trial::Span,
};

pub struct Cri<'a> {
    cri: &'a CriHost,
    container_id: String,
    files: CgroupFiles,
    memory_swap: u64,
    /// The pod's sandbox name.
    name: String,
}

/// The journal's record of a pod, undone once the pod is removed.
fn recorded(cri: &CriHost, name: &str) -> Change {
    Change::Sandbox { endpoint: cri.endpoint.clone(), name: name.to_owned() }
}

impl<'a> Cri<'a> {
    /// The pod, running, with its container's cgroup files found and checked.
    pub async fn start(target: &Target<'a>, journal: &mut Journal) -> anyhow::Result<Cri<'a>> {
        let cri = target.services.cri.as_ref().context("the CRI runtime was not reached")?;
        let image = cri.ensure_image(target.docker, &target.docker.ensure_image(None).await?).await?;
        let (name, owner) = (format!("cgbench-pod-{}", journal.owner().pid), journal.owner().label());
        journal.record(recorded(cri, &name))?;
        let started = async {
            let running = cri.start_pod(&name, &owner, &image, &target.initial_limits, target.memory_swap).await?;
            let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", running.pid))
                .with_context(|| format!("reading /proc/{}/cgroup of the CRI container", running.pid))?;
            let files = target.host.files_of(&proc_cgroup)?;
            files.verify()?;
            anyhow::Ok((running.container_id, files))
        }
        .await;
        match started {
            Ok((container_id, files)) => Ok(Cri { cri, container_id, files, memory_swap: target.memory_swap, name }),
            Err(cause) => match cri.remove_pod_waiting(&name).await {
                Ok(()) => {
                    journal.undone(&recorded(cri, &name))?;
                    Err(cause)
                }
                Err(removing) => Err(anyhow!("{removing:#} (after: {cause:#})")),
            },
        }
    }
}

impl Apply for Cri<'_> {
    fn apply<'b>(&'b self, limit: &'b Limit) -> BoxFuture<'b, anyhow::Result<Span>> {
        timed(self.cri.update(&self.container_id, limit, self.memory_swap))
    }

    fn own_files(&self) -> Option<&CgroupFiles> {
        Some(&self.files)
    }

    fn finish<'b>(&'b self, journal: &'b mut Journal) -> BoxFuture<'b, anyhow::Result<()>> {
        async move {
            self.cri.remove_pod_waiting(&self.name).await?;
            journal.undone(&recorded(self.cri, &self.name))
        }
        .boxed()
    }
}
