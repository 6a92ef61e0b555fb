//! cgbench's target image, built from the context embedded at build time: no registry, no
//! network. Its tag carries a hash of the context, so a changed Dockerfile is rebuilt, never
//! reused stale.

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt as _;

use super::{DockerHost, LABEL};

const DOCKERFILE: &[u8] = include_bytes!("../../../../docker/Dockerfile");
const IDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/idle"));
const LOAD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/load"));

impl DockerHost {
    /// The image to run: `requested` if given (it must exist locally), otherwise cgbench's own
    /// target image, built from the embedded context when absent.
    pub async fn ensure_image(&self, requested: Option<&str>) -> anyhow::Result<String> {
        if let Some(image) = requested {
            self.api
                .inspect_image(image)
                .await
                .map_err(|e| anyhow!("image {image} is not available locally ({e}): build or load it first"))?;
            return Ok(image.to_owned());
        }
        let tag = format!("cgbench-target:{:016x}", fnv1a(&[DOCKERFILE, IDLE, LOAD]));
        if self.api.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        let context = build_context()?;
        let labels = HashMap::from([(LABEL, "cgbench")]);
        let options = BuildImageOptionsBuilder::default().t(&tag).rm(true).forcerm(true).labels(&labels).build();
        let mut stream = self.api.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = stream.next().await {
            let step = step.map_err(|e| anyhow!("building the target image {tag} failed: {e}"))?;
            if let Some(detail) = step.error_detail {
                bail!("building the target image {tag} failed: {}", detail.message.unwrap_or_default());
            }
        }
        Ok(tag)
    }
}

fn build_context() -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [("Dockerfile", DOCKERFILE, 0o644), ("idle", IDLE, 0o755), ("load", LOAD, 0o755)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, data)?;
    }
    Ok(tar.into_inner()?)
}

/// A stable content hash for the image tag (not for security).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_context_holds_dockerfile_idle_and_load() {
        let context = build_context().unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "idle", "load"]);
        assert!(IDLE.starts_with(b"\x7fELF") && LOAD.starts_with(b"\x7fELF"), "idle and load must be ELF binaries");
    }

    #[test]
    fn image_tag_hash_depends_on_content() {
        assert_ne!(fnv1a(&[b"a", b"b"]), fnv1a(&[b"a", b"c"]));
        assert_eq!(fnv1a(&[b"ab"]), fnv1a(&[b"a", b"b"]));
    }
}
