//! containerd's Tasks `Update` on Docker's own containerd, in Docker's `moby` namespace: the call
//! dockerd makes for `docker update`, made by cgbench over a kept-alive gRPC connection. It skips
//! dockerd: containerd hands the resources to the container's shim, which runs `runc update`.

use anyhow::anyhow;
use futures_util::future::BoxFuture;

use super::{Apply, Target, timed};
use crate::{host::containerd::DockerContainerd, resource::Limit, trial::Span};

pub struct Containerd<'a> {
    containerd: &'a DockerContainerd,
    container_id: String,
    memory_swap: u64,
}

impl<'a> Containerd<'a> {
    pub fn new(target: &Target<'a>) -> anyhow::Result<Containerd<'a>> {
        let containerd =
            target.services.containerd.as_ref().ok_or_else(|| anyhow!("Docker's containerd was not reached"))?;
        Ok(Containerd { containerd, container_id: target.container_id.to_owned(), memory_swap: target.memory_swap })
    }
}

impl Apply for Containerd<'_> {
    fn apply<'b>(&'b self, limit: &'b Limit) -> BoxFuture<'b, anyhow::Result<Span>> {
        let resources = limit.oci_resources(self.memory_swap);
        timed(async move { self.containerd.update(&self.container_id, &resources).await })
    }
}
