//! What the kernel allows: privileges, release, BTF, lockdown, tracefs, and each attach method,
//! asked for real by loading cgbench's own programs.

use std::path::Path;

use super::{Check, Status, check};
use crate::{
    host::system::{TemporaryMount, kernel_release},
    kernel::{AttachMethod, attach::kernel_permits, btf::Btf},
};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub fn privileges() -> Check {
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

pub fn release() -> Check {
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

pub fn btf() -> Check {
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
pub fn lockdown() -> Check {
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

pub fn tracefs() -> Check {
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

pub fn attach_methods() -> Vec<Check> {
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
