//! What the host offers above the kernel: its cgroup layout and its Docker daemon.

use super::{Check, Status, check};
use crate::{
    host::{
        cgroup::Host,
        docker::{self, DockerHost},
    },
    recovery,
};

/// What killed runs left behind, as `cgbench cleanup --dry-run` would list it.
pub async fn leftovers(docker: Option<&DockerHost>) -> Check {
    let found = recovery::recover(docker, true).await;
    if found.lines.is_empty() {
        check("leftovers", Status::Ok, "nothing left behind by a killed run", None)
    } else {
        check(
            "leftovers",
            Status::Warn,
            found.lines.join("; "),
            Some("cgbench cleanup undoes it (and every compare does first)"),
        )
    }
}

pub fn cgroups() -> Check {
    let host = match Host::detect() {
        Ok(h) => h,
        Err(e) => return check("cgroups", Status::Fail, format!("{e:#}"), Some("mount cgroup v1 or v2")),
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    match host.files_of(&own) {
        Ok(files) => {
            let v2 = if host.v2_controllers.is_empty() { "none".to_owned() } else { host.v2_controllers.join(" ") };
            check(
                "cgroups",
                Status::Ok,
                format!(
                    "{}: memory on {}, cpu on {}; cgroup2 controllers: {v2}",
                    host.layout(),
                    files.memory.version.name(),
                    files.cpu.version.name()
                ),
                None,
            )
        }
        Err(e) => check("cgroups", Status::Fail, format!("{e:#}"), Some("enable the memory and cpu controllers")),
    }
}

pub async fn docker(connected: &anyhow::Result<DockerHost>) -> Vec<Check> {
    let docker = match connected {
        Ok(d) => d,
        Err(e) => {
            return vec![check(
                "docker daemon",
                Status::Fail,
                format!("{e:#}"),
                Some("start dockerd (cargo xtask setup does)"),
            )];
        }
    };
    let mut checks = Vec::new();
    let detail = format!("{} · cgroup driver {}", docker.server_version, docker.cgroup_driver);
    checks.push(if docker.rootless {
        check(
            "docker daemon",
            Status::Fail,
            format!("{detail} · rootless"),
            Some("rootless Docker is not supported: its runc writes through a delegated cgroup tree; use the system daemon"),
        )
    } else if docker::dockerd_tgids().is_empty() {
        check(
            "docker daemon",
            Status::Fail,
            format!("{detail} · no local dockerd process"),
            Some("cgbench traces a dockerd on this kernel; a remote DOCKER_HOST cannot be traced"),
        )
    } else if docker.cgroup_driver == "systemd" {
        check("docker daemon", Status::Ok, format!("{detail} (systemd writes limits first; cgbench watches it too)"), None)
    } else {
        check("docker daemon", Status::Ok, detail, None)
    });
    if let Ok(version) = docker.api.version().await {
        let components: Vec<String> = version
            .components
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.name != "Engine")
            .map(|c| format!("{} {}", c.name.to_lowercase(), c.version))
            .collect();
        checks.push(check("runtime", Status::Ok, components.join(" · "), None));
    }
    checks.push(match docker::cli_version("docker").await {
        Ok(v) if !v.is_empty() => check("docker CLI", Status::Ok, format!("docker {v} (the `cli` route)"), None),
        _ => check(
            "docker CLI",
            Status::Warn,
            "no working `docker` CLI on PATH",
            Some("install it, or use --routes api,raw,raw-open"),
        ),
    });
    checks
}
