//! `runc update` against Docker's own runc state, run the way containerd's shim runs it: the
//! resources as an OCI `LinuxResources` document on stdin. It skips dockerd, containerd and the
//! shim: what is left is runc's own start-up and its writes.

use std::{path::Path, process::Stdio};

use anyhow::{Context as _, bail, ensure};
use futures_util::{FutureExt as _, future::BoxFuture};
use tokio::io::AsyncWriteExt as _;

use super::{Apply, Target};
use crate::{host::system::monotonic_ns, resource::Limit, trial::Span};

/// Where containerd's shim keeps the state of Docker's containers: the `--root` of every runc it
/// runs for the `moby` namespace.
const DOCKER_RUNC_ROOT: &str = "/run/docker/runtime-runc/moby";

/// Whether runc runs and Docker keeps its containers' runc state where the shim does.
pub fn check() -> anyhow::Result<()> {
    let runs = std::process::Command::new("runc").arg("--version").stdout(Stdio::null()).status();
    ensure!(runs.is_ok_and(|s| s.success()), "no runc on PATH");
    ensure!(Path::new(DOCKER_RUNC_ROOT).is_dir(), "Docker's runc state {DOCKER_RUNC_ROOT} is missing");
    Ok(())
}

pub struct Runc {
    container_id: String,
    memory_swap: u64,
    /// Under Docker's systemd cgroup driver the shim tells runc so; cgbench does too.
    systemd_cgroup: bool,
}

impl Runc {
    pub fn new(target: &Target) -> Runc {
        Runc {
            container_id: target.container_id.to_owned(),
            memory_swap: target.memory_swap,
            systemd_cgroup: target.docker.cgroup_driver == "systemd",
        }
    }
}

impl Apply for Runc {
    fn apply<'a>(&'a self, limit: &'a Limit) -> BoxFuture<'a, anyhow::Result<Span>> {
        async move {
            let resources = serde_json::to_vec(&limit.oci_resources(self.memory_swap))?;
            let mut command = tokio::process::Command::new("runc");
            command.args(["--root", DOCKER_RUNC_ROOT]);
            if self.systemd_cgroup {
                command.arg("--systemd-cgroup");
            }
            // Its own process group, as the docker CLI's: a Ctrl-C stops cgbench between trials
            // instead of killing an update half-way.
            command
                .args(["update", "--resources", "-", &self.container_id])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .process_group(0)
                // A trial that outlives its time limit (trials.rs) does not leave it running.
                .kill_on_drop(true);
            let start_ns = monotonic_ns();
            let mut child = command.spawn().context("running `runc update`")?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(&resources).await?;
            }
            let out = child.wait_with_output().await?;
            let end_ns = monotonic_ns();
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                bail!("`runc update` to {limit} failed: {}", stderr.lines().next().unwrap_or("no message"));
            }
            Ok(Span { start_ns, end_ns })
        }
        .boxed()
    }
}
