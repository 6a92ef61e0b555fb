//! cgbench's own image in the CRI runtime's `k8s.io` namespace, where the kubelet's images live.
//! The runtime has no registry to pull from here, so the image cgbench builds in Docker is
//! exported through the Engine API and imported with containerd's `ctr`; the runtime's sandbox
//! (pause) image is provided from the same image when the runtime has none.

use std::{process::Stdio, time::Duration};

use anyhow::{Context as _, anyhow, bail};
use futures_util::StreamExt as _;
use k8s_cri::v1::{ImageSpec, ImageStatusRequest, StatusRequest};
use tokio::io::AsyncWriteExt as _;

use super::CriHost;
use crate::host::docker::DockerHost;

/// The containerd namespace of the CRI plugin.
const NAMESPACE: &str = "k8s.io";
/// CRI's image list follows containerd's image events: an imported image shows within this.
const LISTED_WITHIN: Duration = Duration::from_secs(10);

impl CriHost {
    /// The runtime's name for `docker_image` (one of Docker's local images), imported when
    /// missing; the runtime's sandbox image is then there too.
    pub async fn ensure_image(&self, docker: &DockerHost, docker_image: &str) -> anyhow::Result<String> {
        let name = format!("docker.io/library/{docker_image}");
        if !self.has_image(&name).await? {
            self.import(docker, docker_image).await?;
        }
        let mut wanted = vec![name.clone()];
        if let Some(sandbox) = self.sandbox_image().await?
            && !self.has_image(&sandbox).await?
        {
            // The idle image does what a pause image does: nothing, until killed.
            self.ctr(&["images", "tag", &name, &sandbox], None).await?;
            wanted.push(sandbox);
        }
        let deadline = tokio::time::Instant::now() + LISTED_WITHIN;
        for image in &wanted {
            while !self.has_image(image).await? {
                if tokio::time::Instant::now() >= deadline {
                    bail!("image {image} was imported into {} but its CRI plugin does not list it", self.endpoint);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(name)
    }

    async fn has_image(&self, name: &str) -> anyhow::Result<bool> {
        let request = ImageStatusRequest {
            image: Some(ImageSpec { image: name.to_owned(), ..Default::default() }),
            verbose: false,
        };
        let status = self.images.clone().image_status(request).await.map_err(|s| self.failed("ImageStatus", &s))?;
        Ok(status.into_inner().image.is_some())
    }

    /// The image the runtime runs every sandbox from (containerd's `sandbox_image`), when it says.
    async fn sandbox_image(&self) -> anyhow::Result<Option<String>> {
        let status = self
            .runtime
            .clone()
            .status(StatusRequest { verbose: true })
            .await
            .map_err(|s| self.failed("Status", &s))?;
        let config = status.into_inner().info.remove("config").unwrap_or_default();
        let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
        Ok(config["sandboxImage"].as_str().map(str::to_owned))
    }

    /// `docker save` piped into `ctr images import`.
    async fn import(&self, docker: &DockerHost, docker_image: &str) -> anyhow::Result<()> {
        let mut archive = docker.api.export_image(docker_image);
        let mut chunks = Vec::new();
        while let Some(chunk) = archive.next().await {
            chunks.extend_from_slice(&chunk.map_err(|e| anyhow!("exporting {docker_image} from Docker: {e}"))?);
        }
        self.ctr(&["images", "import", "-"], Some(&chunks)).await
    }

    /// `ctr` on the runtime's socket, in the CRI namespace.
    async fn ctr(&self, args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<()> {
        let mut child = tokio::process::Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context(
                "running containerd's `ctr`, which puts cgbench's image into the CRI runtime: is containerd installed?",
            )?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!("`ctr {}` failed: {}", args.join(" "), stderr.lines().next().unwrap_or("no message"));
        }
        Ok(())
    }
}
