//! `cgbench doctor`: what this host allows, checked for real (attach methods by loading a tiny
//! program of each kind), each with a hint when something is missing. Exit 0 only when
//! `cgbench compare` can run.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

use crate::{
    host::{
        cgroup::Host,
        docker::{self, DockerHost},
        system::{TemporaryMount, kernel_release},
    },
    kernel::{AttachMethod, attach::kernel_permits, btf::Btf},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not needed by `compare`, but worth knowing.
    Warn,
    /// `compare` cannot run.
    Fail,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>, hint: Option<&str>) -> Check {
    Check { name, status, detail: detail.into(), hint: hint.map(str::to_owned) }
}

pub fn can_compare(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn privileges() -> Check {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:").map(|v| u64::from_str_radix(v.trim(), 16))))
        .and_then(Result::ok)
        .unwrap_or(0);
    let has = |cap: u32| caps & (1 << cap) != 0;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let bpf = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    match (root, bpf) {
        (true, true) => {
            check("privileges", Status::Ok, "root, with CAP_SYS_ADMIN (eBPF and cgroup writes allowed)", None)
        }
        (root, _) => check(
            "privileges",
            Status::Fail,
            format!(
                "{}; CapEff {caps:#x} lacks CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN",
                if root { "root" } else { "not root" }
            ),
            Some("run as root (sudo cgbench …)"),
        ),
    }
}

/// `(major, minor)` of a kernel release such as `6.18.44-fc-v445`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn kernel() -> Check {
    let release = kernel_release();
    match kernel_version(&release) {
        Some(v) if v >= (5, 8) => {
            check("kernel", Status::Ok, format!("Linux {release} (BPF ring buffer: ≥ 5.8)"), None)
        }
        _ => check(
            "kernel",
            Status::Fail,
            format!("Linux {release}"),
            Some("cgbench needs Linux ≥ 5.8 for the BPF ring buffer"),
        ),
    }
}

fn btf() -> Check {
    match Btf::from_sys_fs().and_then(|b| b.kernel_offsets()) {
        Ok(_) => check(
            "BTF",
            Status::Ok,
            "/sys/kernel/btf/vmlinux present; every struct field the probes follow was found",
            None,
        ),
        Err(e) => check("BTF", Status::Fail, format!("{e:#}"), Some("use a kernel built with CONFIG_DEBUG_INFO_BTF=y")),
    }
}

/// The lockdown mode, from securityfs (mounted for the read if it is not, then unmounted).
fn lockdown() -> Check {
    let path = Path::new("/sys/kernel/security/lockdown");
    let _mounted_here =
        if path.exists() { None } else { TemporaryMount::new("securityfs", Path::new("/sys/kernel/security")).ok() };
    let text = std::fs::read_to_string(path).ok();
    let Some(text) = text else {
        return check("lockdown", Status::Ok, "no lockdown LSM", None);
    };
    let mode =
        text.split_whitespace().find(|w| w.starts_with('[')).unwrap_or("[unknown]").trim_matches(['[', ']']).to_owned();
    match mode.as_str() {
        "confidentiality" => check(
            "lockdown",
            Status::Fail,
            "confidentiality: bpf_probe_read_kernel is refused",
            Some("boot with lockdown=integrity or none"),
        ),
        "integrity" => check(
            "lockdown",
            Status::Ok,
            "integrity: bpf_probe_read_kernel allowed (kernel reads for the write filter)",
            None,
        ),
        other => check("lockdown", Status::Ok, other, None),
    }
}

fn tracefs() -> Check {
    if Path::new("/sys/kernel/tracing/events").is_dir() {
        check("tracefs", Status::Ok, "mounted on /sys/kernel/tracing", None)
    } else {
        check(
            "tracefs",
            Status::Ok,
            "not mounted: cgbench mounts it on /sys/kernel/tracing for a run and unmounts it after",
            None,
        )
    }
}

fn attach_methods() -> Vec<Check> {
    let mut checks = Vec::new();
    let mut usable = None;
    for method in AttachMethod::LADDER {
        let name = match method {
            AttachMethod::Fentry => "attach: fentry/fexit",
            AttachMethod::Kprobe => "attach: kprobe/kretprobe",
            AttachMethod::Tracepoint => "attach: tracepoint",
        };
        match kernel_permits(method) {
            Ok(()) => {
                let detail = match method {
                    AttachMethod::Tracepoint => "loads and attaches (every cgbench probe tried)".to_owned(),
                    _ => "cgbench's cgroup_file_write capture loads and attaches".to_owned(),
                };
                checks.push(check(name, Status::Ok, detail, None));
                if usable.is_none() {
                    usable = Some(method);
                }
            }
            Err(e) => {
                let status = if method == AttachMethod::Tracepoint { Status::Fail } else { Status::Warn };
                let hint = (method == AttachMethod::Tracepoint)
                    .then_some("cgbench needs syscall tracepoints (CONFIG_FTRACE_SYSCALLS)");
                checks.push(check(name, status, format!("refused: {e:#}"), hint));
            }
        }
    }
    checks.push(match usable {
        Some(m) => check("attach method", Status::Ok, format!("compare will use {}", m.name()), None),
        None => check(
            "attach method",
            Status::Fail,
            "no attach method cgbench can capture with",
            Some("see the attach lines above"),
        ),
    });
    checks
}

fn cgroups() -> Check {
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

async fn docker_checks() -> Vec<Check> {
    let docker = match DockerHost::connect().await {
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

pub async fn run() -> Vec<Check> {
    let mut checks = vec![privileges(), kernel(), btf(), lockdown(), tracefs()];
    if checks[0].status == Status::Ok {
        checks.extend(attach_methods());
    }
    checks.push(cgroups());
    checks.extend(docker_checks().await);
    checks
}

pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = write!(out, "{mark}  {:<26}{}", c.name, c.detail);
        if let Some(hint) = &c.hint {
            let _ = write!(out, " → {hint}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        if can_compare(checks) {
            "cgbench compare can run here."
        } else {
            "cgbench compare cannot run here: see FAIL above."
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(kernel_version("6.18.44-fc-v445"), Some((6, 18)));
        assert_eq!(kernel_version("5.8.0"), Some((5, 8)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn any_fail_blocks_compare_and_is_shown_with_its_hint() {
        let checks = vec![check("a", Status::Ok, "fine", None), check("b", Status::Warn, "meh", Some("try x"))];
        assert!(can_compare(&checks));
        let mut failing = checks.clone();
        failing.push(check("c", Status::Fail, "broken", Some("fix it")));
        assert!(!can_compare(&failing));
        let text = render(&failing);
        assert!(text.contains("FAIL  c                         broken → fix it"), "{text}");
        assert!(text.contains("warn  b"));
        assert!(text.ends_with("cgbench compare cannot run here: see FAIL above.\n"));
    }
}
