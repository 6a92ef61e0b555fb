//! Loading, configuring and reading cgbench's eBPF programs. Dropping `Probes` detaches every
//! program and unmounts tracefs if cgbench mounted it.

use std::{ffi::CString, path::Path};

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{FEntry, FExit, KProbe, TracePoint},
};
use probe_common::{COMM_LEN, CgroupKey};

use crate::{btf::Btf, events::KernelEvent};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cgbench-probes"));

/// Program → tracepoints it is attached to. Exit records share one layout, so one program serves
/// every exit; entry programs differ by where the syscall keeps its buffer.
type Tracepoints = &'static [(&'static str, &'static str, &'static [&'static str])];

/// dockerd's request and runc's exec: tracepoints whatever the method, as they load everywhere.
const REQUEST_AND_EXEC: Tracepoints = &[
    ("request_read_enter", "syscalls", &["sys_enter_read", "sys_enter_recvfrom"]),
    ("request_recvmsg_enter", "syscalls", &["sys_enter_recvmsg"]),
    ("request_recvmmsg_enter", "syscalls", &["sys_enter_recvmmsg"]),
    ("request_read_exit", "syscalls", &["sys_exit_read", "sys_exit_recvfrom", "sys_exit_recvmsg", "sys_exit_recvmmsg"]),
    ("writer_exec", "sched", &["sched_process_exec"]),
];

/// The cgroup writes, as syscalls, when the method is `tracepoint`.
const WRITE_TRACEPOINTS: Tracepoints = &[
    ("cgroup_write_enter", "syscalls", &["sys_enter_write", "sys_enter_pwrite64"]),
    ("cgroup_writev_enter", "syscalls", &["sys_enter_writev", "sys_enter_pwritev", "sys_enter_pwritev2"]),
    (
        "cgroup_write_exit",
        "syscalls",
        &["sys_exit_write", "sys_exit_pwrite64", "sys_exit_writev", "sys_exit_pwritev", "sys_exit_pwritev2"],
    ),
];

const TRACEFS: &str = "/sys/kernel/tracing";

/// tracefs mounted by cgbench (aya reads tracepoint ids from it); unmounted on drop.
struct TracefsMount;

impl TracefsMount {
    /// Mounts tracefs when it is missing; `None` when it was already there.
    fn ensure() -> anyhow::Result<Option<TracefsMount>> {
        if Path::new(TRACEFS).join("events").is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
            return Ok(None);
        }
        let target = CString::new(TRACEFS)?;
        let fstype = CString::new("tracefs")?;
        // SAFETY: valid NUL-terminated strings; no mount data.
        let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
        if rc != 0 {
            return Err(anyhow!(
                "tracefs is not mounted and mounting it on {TRACEFS} failed ({}): mount it with `mount -t tracefs nodev {TRACEFS}`",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Some(TracefsMount))
    }
}

impl Drop for TracefsMount {
    fn drop(&mut self) {
        let target = CString::new(TRACEFS).expect("no NUL in a constant");
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

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

/// The function the fentry and kprobe test programs attach to: every cgroup control-file write
/// goes through it, on v1 and v2.
const CGROUP_WRITE_FN: &str = "cgroup_file_write";

fn load_object() -> anyhow::Result<Ebpf> {
    let offsets = Btf::from_sys_fs()?.kernel_offsets()?;
    EbpfLoader::new()
        // No CO-RE relocations to apply (Rust emits none; offsets come in OFFSETS), so aya need
        // not parse the kernel's BTF a second time.
        .btf(None)
        .override_global("OFFSETS", &offsets, true)
        .load(OBJECT)
        .map_err(|e| anyhow!("the kernel refused cgbench's eBPF maps or programs: {e}"))
}

fn attach_tracepoints(ebpf: &mut Ebpf, table: Tracepoints) -> anyhow::Result<()> {
    for (program, category, tracepoints) in table {
        let tp: &mut TracePoint = ebpf
            .program_mut(program)
            .with_context(|| format!("program {program} missing from the eBPF object"))?
            .try_into()?;
        tp.load().map_err(|e| anyhow!("the kernel refused the tracepoint program {program}: {}", load_refusal(&e)))?;
        for name in *tracepoints {
            tp.attach(category, name)
                .map_err(|e| anyhow!("attaching to tracepoint {category}:{name} failed: {}", error_chain(&e)))?;
        }
    }
    Ok(())
}

/// Attaches the cgroup-write capture programs of one method.
fn attach_writes(ebpf: &mut Ebpf, method: AttachMethod) -> anyhow::Result<()> {
    match method {
        AttachMethod::Tracepoint => attach_tracepoints(ebpf, WRITE_TRACEPOINTS),
        AttachMethod::Fentry => {
            let btf = aya::Btf::from_sys_fs()?;
            let entry: &mut FEntry =
                ebpf.program_mut("cgroup_file_write_fentry").context("fentry program missing")?.try_into()?;
            entry.load(CGROUP_WRITE_FN, &btf).map_err(|e| anyhow!("{}", load_refusal(&e)))?;
            entry.attach().map_err(|e| anyhow!("{}", error_chain(&e)))?;
            let exit: &mut FExit =
                ebpf.program_mut("cgroup_file_write_fexit").context("fexit program missing")?.try_into()?;
            exit.load(CGROUP_WRITE_FN, &btf).map_err(|e| anyhow!("{}", load_refusal(&e)))?;
            exit.attach().map_err(|e| anyhow!("{}", error_chain(&e)))?;
            Ok(())
        }
        AttachMethod::Kprobe => {
            for program in ["cgroup_file_write_kprobe", "cgroup_file_write_kretprobe"] {
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
            }
            Ok(())
        }
    }
}

/// Asks the kernel whether it loads and attaches cgbench's write capture of this kind (and, for
/// tracepoints, every other program too). Everything is detached again before this returns.
pub fn kernel_permits(method: AttachMethod) -> anyhow::Result<()> {
    match method {
        AttachMethod::Tracepoint => Probes::load(method).map(drop),
        _ => attach_writes(&mut load_object()?, method),
    }
}

/// The method a run uses: the best one on the ladder the kernel permits, or the one forced with
/// `--attach`, refused with the reason and the alternative.
pub fn choose(forced: Option<AttachMethod>) -> anyhow::Result<AttachMethod> {
    let Some(method) = forced else {
        return Ok(AttachMethod::LADDER
            .into_iter()
            .find(|&m| m == AttachMethod::Tracepoint || kernel_permits(m).is_ok())
            .expect("the ladder ends with tracepoints"));
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

pub struct Probes {
    // Field order is drop order: programs detach before tracefs is unmounted.
    ebpf: Ebpf,
    events: RingBuf<MapData>,
    _tracefs: Option<TracefsMount>,
}

impl Probes {
    /// Loads and attaches every program, the write capture by `method`. Any refusal is an error and
    /// leaves nothing attached.
    pub fn load(method: AttachMethod) -> anyhow::Result<Probes> {
        let tracefs = TracefsMount::ensure()?;
        let mut ebpf = load_object()?;
        attach_tracepoints(&mut ebpf, REQUEST_AND_EXEC)?;
        attach_writes(&mut ebpf, method)?;
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").context("EVENTS map missing")?)?;
        Ok(Probes { ebpf, events, _tracefs: tracefs })
    }

    fn set<K: aya::Pod>(&mut self, map: &str, key: K) -> anyhow::Result<()> {
        // aya's HashMap serves plain and LRU hash maps alike.
        let data = self.ebpf.map_mut(map).with_context(|| format!("{map} map missing"))?;
        let mut hash = HashMap::<_, K, u8>::try_from(data)?;
        Ok(hash.insert(key, 1, 0)?)
    }

    /// Writes by this process (cgbench's raw trials) are observed.
    pub fn watch_writer(&mut self, tgid: u32) -> anyhow::Result<()> {
        self.set("WRITERS", tgid)
    }

    /// Programs with this name become writers when they exec (`runc`).
    pub fn watch_writer_comm(&mut self, comm: &str) -> anyhow::Result<()> {
        let mut key = [0u8; COMM_LEN];
        let len = comm.len().min(COMM_LEN - 1);
        key[..len].copy_from_slice(&comm.as_bytes()[..len]);
        self.set("WRITER_COMMS", key)
    }

    pub fn watch_dockerd(&mut self, tgid: u32) -> anyhow::Result<()> {
        self.set("DOCKERD", tgid)
    }

    /// Writes to control files directly inside this cgroup directory are observed.
    pub fn watch_cgroup(&mut self, key: CgroupKey) -> anyhow::Result<()> {
        self.set("TARGETS", key)
    }

    /// Every event submitted so far. Programs submit without waking the reader (a wake-up per
    /// write costs more than the write), so this polls.
    pub fn drain(&mut self) -> Vec<KernelEvent> {
        let mut out = Vec::new();
        while let Some(record) = self.events.next() {
            out.extend(KernelEvent::decode(&record));
        }
        out
    }

    /// Events the ring buffer had no room for, over all CPUs.
    pub fn lost(&self) -> anyhow::Result<u64> {
        let map = self.ebpf.map("LOST").context("LOST map missing")?;
        let lost = PerCpuArray::<_, u64>::try_from(map)?;
        Ok(lost.get(&0, 0)?.iter().sum())
    }
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
