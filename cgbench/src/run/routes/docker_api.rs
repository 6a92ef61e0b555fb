//! The Engine API called by cgbench over a kept-alive connection, as an autoscaler would call it:
//! dockerd → containerd → shim → runc → cgroup file, without the CLI's start-up.

use futures_util::future::BoxFuture;

use super::{Apply, Target, timed};
use crate::{host::docker::DockerHost, resource::Limit, trial::Span};

pub struct DockerApi<'a> {
    docker: &'a DockerHost,
    container_id: String,
    memory_swap: u64,
}

impl<'a> DockerApi<'a> {
    pub fn new(target: &Target<'a>) -> DockerApi<'a> {
        DockerApi {
            docker: target.docker,
            container_id: target.container_id.to_owned(),
            memory_swap: target.memory_swap,
        }
    }
}

impl Apply for DockerApi<'_> {
    fn apply<'b>(&'b self, limit: &'b Limit) -> BoxFuture<'b, anyhow::Result<Span>> {
        timed(self.docker.update_limit(&self.container_id, limit, self.memory_swap))
    }
}
