//! The attach-method ladder: which kind of hook captures the cgroup writes, best first, and
//! attaching each kind. The kernel is asked for real; a refusal comes back as one line.

use std::{
    os::fd::{AsFd as _, OwnedFd},
    path::Path,
};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf,
    programs::{FEntry, FExit, KProbe, TracePoint},
};
use probe_common::names;

use super::{
    probes::{Probes, load_object},
    syscalls,
    tracepoints::{self, TracepointIds},
};

/// Syscall tracepoints to attach on demand (see `syscalls`).
pub(super) type SyscallHooks = Vec<syscalls::Hook>;

/// Program → tracepoints it is attached to. Exit records share one layout, so one program serves
/// every exit; entry programs differ by where the syscall keeps its buffer.
pub(super) type Tracepoints = &'static [(&'static str, &'static str, &'static [&'static str])];

/// dockerd's request and runc's exec: tracepoints whatever the method, as they load everywhere.
pub(super) const REQUEST_AND_EXEC: Tracepoints = &[
    (names::REQUEST_READ_ENTER, "syscalls", &["sys_enter_read", "sys_enter_recvfrom"]),
    (names::REQUEST_RECVMSG_ENTER, "syscalls", &["sys_enter_recvmsg"]),
    (names::REQUEST_RECVMMSG_ENTER, "syscalls", &["sys_enter_recvmmsg"]),
    (
        names::REQUEST_READ_EXIT,
        "syscalls",
        &["sys_exit_read", "sys_exit_recvfrom", "sys_exit_recvmsg", "sys_exit_recvmmsg"],
    ),
    (names::WRITER_EXEC, "sched", &["sched_process_exec"]),
];

/// The cgroup writes, as syscalls, when the method is `tracepoint`.
pub(super) const WRITE_TRACEPOINTS: Tracepoints = &[
    (names::CGROUP_WRITE_ENTER, "syscalls", &["sys_enter_write", "sys_enter_pwrite64"]),
    (names::CGROUP_WRITEV_ENTER, "syscalls", &["sys_enter_writev", "sys_enter_pwritev", "sys_enter_pwritev2"]),
    (
        names::CGROUP_WRITE_EXIT,
        "syscalls",
        &["sys_exit_write", "sys_exit_pwrite64", "sys_exit_writev", "sys_exit_pwritev", "sys_exit_pwritev2"],
    ),
];

/// How programs are attached, best first: BTF trampolines cost least, tracepoints load
/// everywhere (and are the only kind some kernels allow, such as one in lockdown without kprobes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMethod {
    Fentry,
    Kprobe,
    Tracepoint,
}

impl AttachMethod {
    pub const LADDER: [AttachMethod; 3] = [AttachMethod::Fentry, AttachMethod::Kprobe, AttachMethod::Tracepoint];

    pub fn name(self) -> &'static str {
        match self {
            AttachMethod::Fentry => "fentry/fexit",
            AttachMethod::Kprobe => "kprobes",
            AttachMethod::Tracepoint => "tracepoints",
        }
    }

    /// The name `--attach` takes.
    pub fn flag(self) -> &'static str {
        match self {
            AttachMethod::Fentry => "fentry",
            AttachMethod::Kprobe => "kprobe",
            AttachMethod::Tracepoint => "tracepoint",
        }
    }

    /// `auto` (no forced method) or one of the flags.
    pub fn parse(text: &str) -> anyhow::Result<Option<AttachMethod>> {
        if text == "auto" {
            return Ok(None);
        }
        AttachMethod::LADDER
            .into_iter()
            .find(|m| m.flag() == text)
            .map(Some)
            .ok_or_else(|| anyhow!("--attach: unknown method `{text}`: use auto, fentry, kprobe or tracepoint"))
    }
}

/// The function the fentry and kprobe capture programs attach to: every cgroup control-file write
/// goes through it, on v1 and v2.
const CGROUP_WRITE_FN: &str = "cgroup_file_write";

/// Every tracepoint of the tables, for their ids to be read while tracefs is there.
pub(super) fn named(tables: &[Tracepoints]) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .flat_map(|(_, category, names)| names.iter().map(|name| (*category, *name)))
}

/// What attaching a table gives: the attachments made (closing one detaches it), and the syscall
/// tracepoints, loaded but left to attach while a trial needs them.
#[derive(Default)]
pub(super) struct Attached {
    pub links: Vec<OwnedFd>,
    pub syscall_hooks: SyscallHooks,
}

/// Loads every program of `table` and attaches, by the ids read at load, those that are not
/// syscall tracepoints.
pub(super) fn attach_tracepoints(ebpf: &mut Ebpf, table: Tracepoints, ids: &TracepointIds) -> anyhow::Result<Attached> {
    let mut attached = Attached::default();
    for (program, category, tracepoints) in table {
        let tp: &mut TracePoint = ebpf
            .program_mut(program)
            .with_context(|| format!("program {program} missing from the eBPF object"))?
            .try_into()?;
        tp.load().map_err(|e| anyhow!("the kernel refused the tracepoint program {program}: {}", load_refusal(&e)))?;
        for name in *tracepoints {
            let id = ids.get(category, name)?;
            if *category == syscalls::CATEGORY {
                attached.syscall_hooks.push(syscalls::Hook { program, tracepoint: name, id });
                continue;
            }
            let link = tracepoints::attach(tp.fd()?.as_fd(), id)
                .map_err(|e| anyhow!("attaching to tracepoint {category}:{name} failed: {e}"))?;
            attached.links.push(link);
        }
        tracing::debug!(program, method = "tracepoint", category, at = ?tracepoints, "loaded, attached unless a syscall's");
    }
    Ok(attached)
}

/// Attaches the cgroup-write capture programs of one method, except those that are syscall
/// tracepoints: those are loaded and returned.
pub(super) fn attach_writes(
    ebpf: &mut Ebpf,
    method: AttachMethod,
    ids: &TracepointIds,
) -> anyhow::Result<SyscallHooks> {
    match method {
        // Syscall tracepoints all: nothing is attached before a trial needs it.
        AttachMethod::Tracepoint => attach_tracepoints(ebpf, WRITE_TRACEPOINTS, ids).map(|a| a.syscall_hooks),
        AttachMethod::Fentry => {
            let btf = aya::Btf::from_sys_fs()?;
            let entry: &mut FEntry =
                ebpf.program_mut(names::CGROUP_FILE_WRITE_FENTRY).context("fentry program missing")?.try_into()?;
            entry.load(CGROUP_WRITE_FN, &btf).map_err(|e| anyhow!("{}", load_refusal(&e)))?;
            entry.attach().map_err(|e| anyhow!("{}", error_chain(&e)))?;
            let exit: &mut FExit =
                ebpf.program_mut(names::CGROUP_FILE_WRITE_FEXIT).context("fexit program missing")?.try_into()?;
            exit.load(CGROUP_WRITE_FN, &btf).map_err(|e| anyhow!("{}", load_refusal(&e)))?;
            exit.attach().map_err(|e| anyhow!("{}", error_chain(&e)))?;
            tracing::debug!(
                programs = ?[names::CGROUP_FILE_WRITE_FENTRY, names::CGROUP_FILE_WRITE_FEXIT],
                method = "fentry/fexit",
                at = CGROUP_WRITE_FN,
                "attached"
            );
            Ok(Vec::new())
        }
        AttachMethod::Kprobe => {
            for program in [names::CGROUP_FILE_WRITE_KPROBE, names::CGROUP_FILE_WRITE_KRETPROBE] {
                let probe: &mut KProbe =
                    ebpf.program_mut(program).with_context(|| format!("{program} missing"))?.try_into()?;
                probe.load().map_err(|e| anyhow!("{}", load_refusal(&e)))?;
                probe.attach(CGROUP_WRITE_FN, 0).map_err(|e| {
                    let why = error_chain(&e);
                    if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
                        anyhow!("{why}")
                    } else {
                        anyhow!("{why} (no kprobe PMU: the kernel is built without CONFIG_KPROBES)")
                    }
                })?;
                tracing::debug!(program, method = "kprobe", at = CGROUP_WRITE_FN, "attached");
            }
            Ok(Vec::new())
        }
    }
}

/// Asks the kernel whether it loads and attaches cgbench's write capture of this kind (and, for
/// tracepoints, every other program too). Everything is detached again before this returns.
pub fn kernel_permits(method: AttachMethod) -> anyhow::Result<()> {
    // Tells this check's attach lines in the log from the run's own.
    let _check = tracing::debug_span!("permit check", method = method.flag()).entered();
    match method {
        AttachMethod::Tracepoint => Probes::load(method).map(drop),
        _ => attach_writes(&mut load_object()?, method, &TracepointIds::default()).map(drop),
    }
}

/// The method a run uses: the best one on the ladder the kernel permits, or the one forced with
/// `--attach`, refused with the reason and the alternative.
pub fn choose(forced: Option<AttachMethod>) -> anyhow::Result<AttachMethod> {
    let Some(method) = forced else {
        let method = AttachMethod::LADDER
            .into_iter()
            .find(|&m| {
                m == AttachMethod::Tracepoint
                    || kernel_permits(m)
                        .inspect_err(|e| tracing::debug!(method = m.flag(), "refused, next on the ladder: {e:#}"))
                        .is_ok()
            })
            .expect("the ladder ends with tracepoints");
        tracing::debug!(method = method.flag(), "attach method chosen");
        return Ok(method);
    };
    if let Err(e) = kernel_permits(method) {
        bail!(
            "--attach {}: this kernel refuses {} ({e:#}): use --attach tracepoint or auto",
            method.flag(),
            method.name()
        );
    }
    Ok(method)
}

/// A refused `BPF_PROG_LOAD` in one line: the errno, and the verifier's log when it has one.
fn load_refusal(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            let log = log.trim();
            if log.is_empty() {
                format!("BPF_PROG_LOAD failed: {io_error}, with an empty verifier log")
            } else {
                format!("BPF_PROG_LOAD failed: {io_error}; verifier: {}", log.lines().last().unwrap_or(log))
            }
        }
        other => error_chain(other),
    }
}

/// aya's errors keep the kernel's reason in their sources; one line with all of it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
