//! Docker's containerd, reached over its gRPC socket the way dockerd reaches it: the Tasks API's
//! `Update`, which hands the resources to the container's shim, which runs `runc update`.

use std::time::Duration;

use anyhow::{anyhow, bail};
use containerd_client::{
    services::v1::{
        ListNamespacesRequest, UpdateTaskRequest, namespaces_client::NamespacesClient, tasks_client::TasksClient,
    },
    tonic::{Request, metadata::MetadataValue, transport::Channel},
};

/// The containerd namespace dockerd keeps its containers in.
pub const NAMESPACE: &str = "moby";
/// Where Docker's containerd listens: the system's, when dockerd was pointed at it (Debian's and
/// Docker's packages under systemd), or the one dockerd starts itself otherwise.
const SOCKETS: [&str; 2] = ["/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"];
/// How containerd names an OCI `LinuxResources` document inside an `Any`; the body is its JSON.
const LINUX_RESOURCES: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
/// A containerd that takes longer than this to list its namespaces is not answering.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

pub struct DockerContainerd {
    pub socket: &'static str,
    tasks: TasksClient<Channel>,
}

impl DockerContainerd {
    /// The containerd that holds Docker's `moby` namespace, connected.
    pub async fn find() -> anyhow::Result<DockerContainerd> {
        for socket in SOCKETS {
            let Some(channel) = connect(socket).await else { continue };
            let listed = tokio::time::timeout(
                ANSWER_WITHIN,
                NamespacesClient::new(channel.clone()).list(ListNamespacesRequest::default()),
            )
            .await;
            if let Ok(Ok(listed)) = listed
                && listed.into_inner().namespaces.iter().any(|n| n.name == NAMESPACE)
            {
                return Ok(DockerContainerd { socket, tasks: TasksClient::new(channel) });
            }
        }
        bail!("no containerd holding Docker's `{NAMESPACE}` namespace answers at {}", SOCKETS.join(" or "))
    }

    /// Sets `resources` (an OCI `LinuxResources` document) on a running container's task.
    pub async fn update(&self, container_id: &str, resources: &serde_json::Value) -> anyhow::Result<()> {
        let update = UpdateTaskRequest {
            container_id: container_id.to_owned(),
            resources: Some(prost_types::Any {
                type_url: LINUX_RESOURCES.to_owned(),
                value: serde_json::to_vec(resources)?,
            }),
            annotations: Default::default(),
        };
        let mut request = Request::new(update);
        request.metadata_mut().insert("containerd-namespace", MetadataValue::from_static(NAMESPACE));
        self.tasks
            .clone()
            .update(request)
            .await
            .map_err(|status| anyhow!("containerd's Tasks.Update of {container_id} failed: {}", status.message()))?;
        Ok(())
    }
}

/// A channel to a containerd socket, or `None` when nothing listens there.
pub async fn connect(socket: &str) -> Option<Channel> {
    tokio::time::timeout(ANSWER_WITHIN, containerd_client::connect(socket)).await.ok()?.ok()
}
