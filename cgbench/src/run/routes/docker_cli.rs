//! `docker update`, run as a user or the seed's script would: CLI → dockerd → containerd → shim
//! → runc → cgroup file.

use anyhow::{Context as _, bail};
use futures_util::{FutureExt as _, future::BoxFuture};

use super::{Apply, Target};
use crate::{host::system::monotonic_ns, resource::Limit, trial::Span};

pub struct DockerCli {
    cli: String,
    container_id: String,
    memory_swap: u64,
}

impl DockerCli {
    pub fn new(target: &Target) -> DockerCli {
        DockerCli {
            cli: target.docker_cli.to_owned(),
            container_id: target.container_id.to_owned(),
            memory_swap: target.memory_swap,
        }
    }
}

impl Apply for DockerCli {
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>> {
        async move {
            let args = limit.docker_update_args(self.memory_swap);
            let mut command = tokio::process::Command::new(&self.cli);
            // Its own process group: a Ctrl-C on the terminal stops cgbench between trials
            // instead of killing the update half-way.
            command
                .arg("update")
                .args(&args)
                .arg(&self.container_id)
                .stdout(std::process::Stdio::null())
                .process_group(0)
                // A trial that outlives its time limit (trials.rs) does not leave it running.
                .kill_on_drop(true);
            let start_ns = monotonic_ns();
            let out = command.output().await.with_context(|| format!("running `{} update`", self.cli))?;
            let end_ns = monotonic_ns();
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                bail!("`docker update {}` failed: {}", args.join(" "), stderr.lines().next().unwrap_or("no message"));
            }
            Ok(Span { start_ns, end_ns })
        }
        .boxed()
    }
}
