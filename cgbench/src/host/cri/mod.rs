//! A CRI runtime (containerd's CRI plugin) reached over its socket the way the kubelet reaches
//! it: its version and the in-place resize call here, the pod sandbox cgbench runs its container
//! in in `pod.rs`, cgbench's image in the runtime's `k8s.io` namespace in `image.rs`.

mod image;
mod pod;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use containerd_client::tonic::{Status, transport::Channel};
use k8s_cri::v1::{
    LinuxContainerResources, UpdateContainerResourcesRequest, VersionRequest, image_service_client::ImageServiceClient,
    runtime_service_client::RuntimeServiceClient,
};
pub use pod::Pod;

use super::containerd::{ANSWER_WITHIN, connect};
use crate::resource::Limit;

/// The private CRI containerd `cargo xtask setup` starts beside Docker's.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/cgbench-cri/containerd.sock";

pub struct CriHost {
    pub endpoint: String,
    socket: PathBuf,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    /// The runtime as it names itself: `containerd v1.6.20 (CRI v1)`.
    pub version: String,
}

impl CriHost {
    /// Connects and asks the runtime's version: a runtime that does not answer is an error that
    /// says so, before anything is created.
    pub async fn connect(endpoint: &str) -> anyhow::Result<CriHost> {
        let socket = socket_of(endpoint)?;
        let unanswered = || anyhow!("no CRI runtime answers at {endpoint}");
        let channel = connect(&socket.to_string_lossy()).await.ok_or_else(unanswered)?;
        let mut runtime = RuntimeServiceClient::new(channel.clone());
        let asked = tokio::time::timeout(ANSWER_WITHIN, runtime.version(VersionRequest { version: "v1".into() }));
        let version = match asked.await {
            Ok(Ok(answer)) => answer.into_inner(),
            Ok(Err(status)) => return Err(unanswered().context(status.message().to_owned())),
            Err(_) => return Err(unanswered()),
        };
        Ok(CriHost {
            endpoint: endpoint.to_owned(),
            socket,
            images: ImageServiceClient::new(channel),
            runtime,
            version: format!(
                "{} {} (CRI {})",
                version.runtime_name, version.runtime_version, version.runtime_api_version
            ),
        })
    }

    /// The kubelet's in-place resize, of one resource. The kubelet sends every resource of the
    /// container; cgbench names only the one that changes, which makes no difference below:
    /// containerd merges it into the container's spec and hands the shim the whole of the spec's
    /// resources either way, so runc writes the same files.
    pub async fn update(&self, container_id: &str, limit: &Limit, memory_swap: u64) -> anyhow::Result<()> {
        let request = UpdateContainerResourcesRequest {
            container_id: container_id.to_owned(),
            linux: Some(resources(limit, memory_swap)),
            ..Default::default()
        };
        match self.runtime.clone().update_container_resources(request).await {
            Ok(_) => Ok(()),
            // A runtime that went away fails the call with a transport error of no telling code.
            Err(_) if !self.answers().await => {
                Err(anyhow!("the CRI runtime at {} stopped answering during the run", self.endpoint))
            }
            Err(status) => Err(self.failed("UpdateContainerResources", &status)),
        }
    }

    /// Whether the runtime answers its version call.
    async fn answers(&self) -> bool {
        let mut runtime = self.runtime.clone();
        let version = runtime.version(VersionRequest { version: "v1".into() });
        matches!(tokio::time::timeout(ANSWER_WITHIN, version).await, Ok(Ok(_)))
    }

    /// A failed call in one line.
    fn failed(&self, call: &str, status: &Status) -> anyhow::Error {
        anyhow!("CRI {call} at {} failed: {}", self.endpoint, status.message())
    }
}

/// A limit as CRI's `LinuxContainerResources`; zero fields are "unchanged".
fn resources(limit: &Limit, memory_swap: u64) -> LinuxContainerResources {
    match *limit {
        Limit::Memory { bytes } => LinuxContainerResources {
            memory_limit_in_bytes: bytes as i64,
            memory_swap_limit_in_bytes: memory_swap as i64,
            ..Default::default()
        },
        Limit::Cpu { quota_us, period_us } => {
            LinuxContainerResources { cpu_quota: quota_us as i64, cpu_period: period_us as i64, ..Default::default() }
        }
    }
}

/// The socket of a `unix://` endpoint (or of a bare absolute path, as crictl takes it).
pub fn socket_of(endpoint: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(endpoint.strip_prefix("unix://").unwrap_or(endpoint));
    if !path.is_absolute() {
        bail!("--cri-endpoint {endpoint}: give the runtime's unix socket, e.g. {DEFAULT_ENDPOINT}");
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_unix_sockets() {
        assert_eq!(socket_of(DEFAULT_ENDPOINT).unwrap(), Path::new("/run/cgbench-cri/containerd.sock"));
        assert_eq!(socket_of("/run/containerd/containerd.sock").unwrap(), Path::new("/run/containerd/containerd.sock"));
        let err = socket_of("tcp://10.0.0.1:1234").unwrap_err().to_string();
        assert!(err.starts_with("--cri-endpoint tcp://10.0.0.1:1234: give the runtime's unix socket"), "{err}");
    }

    #[test]
    fn a_limit_sets_only_its_own_resource() {
        let mem = resources(&Limit::Memory { bytes: 268_439_552 }, 1 << 30);
        assert_eq!(
            (mem.memory_limit_in_bytes, mem.memory_swap_limit_in_bytes, mem.cpu_quota),
            (268_439_552, 1 << 30, 0)
        );
        let cpu = resources(&Limit::Cpu { quota_us: 50_001, period_us: 100_000 }, 1 << 30);
        assert_eq!((cpu.cpu_quota, cpu.cpu_period, cpu.memory_limit_in_bytes), (50_001, 100_000, 0));
    }
}
