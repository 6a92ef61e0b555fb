//! Loading, configuring and reading cgbench's eBPF programs. Dropping `Probes` detaches every
//! program and unmounts tracefs if cgbench mounted it.

use std::{ffi::CString, path::Path};

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::TracePoint,
};
use probe_common::{COMM_LEN, CgroupKey};

use crate::{btf::Btf, events::KernelEvent};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cgbench-probes"));

/// Program → tracepoints it is attached to. Exit records share one layout, so one program serves
/// every exit; entry programs differ by where the syscall keeps its buffer.
const ATTACHMENTS: &[(&str, &str, &[&str])] = &[
    ("cgroup_write_enter", "syscalls", &["sys_enter_write", "sys_enter_pwrite64"]),
    ("cgroup_writev_enter", "syscalls", &["sys_enter_writev", "sys_enter_pwritev", "sys_enter_pwritev2"]),
    (
        "cgroup_write_exit",
        "syscalls",
        &["sys_exit_write", "sys_exit_pwrite64", "sys_exit_writev", "sys_exit_pwritev", "sys_exit_pwritev2"],
    ),
    ("request_read_enter", "syscalls", &["sys_enter_read", "sys_enter_recvfrom"]),
    ("request_recvmsg_enter", "syscalls", &["sys_enter_recvmsg"]),
    ("request_recvmmsg_enter", "syscalls", &["sys_enter_recvmmsg"]),
    ("request_read_exit", "syscalls", &["sys_exit_read", "sys_exit_recvfrom", "sys_exit_recvmsg", "sys_exit_recvmmsg"]),
    ("writer_exec", "sched", &["sched_process_exec"]),
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

pub struct Probes {
    // Field order is drop order: programs detach before tracefs is unmounted.
    ebpf: Ebpf,
    events: RingBuf<MapData>,
    _tracefs: Option<TracefsMount>,
    /// How the programs are attached, for the report.
    pub method: &'static str,
}

impl Probes {
    /// Loads and attaches every program. Any refusal is an error and leaves nothing attached.
    pub fn load() -> anyhow::Result<Probes> {
        let offsets = Btf::from_sys_fs()?.kernel_offsets()?;
        let tracefs = TracefsMount::ensure()?;
        let mut ebpf = EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .load(OBJECT)
            .map_err(|e| anyhow!("the kernel refused cgbench's eBPF maps or programs: {e}"))?;
        for (program, category, tracepoints) in ATTACHMENTS {
            let tp: &mut TracePoint = ebpf
                .program_mut(program)
                .with_context(|| format!("program {program} missing from the eBPF object"))?
                .try_into()?;
            tp.load().map_err(|e| {
                anyhow!("the kernel refused to load the tracepoint program {program}: {}", error_chain(&e))
            })?;
            for name in *tracepoints {
                tp.attach(category, name)
                    .map_err(|e| anyhow!("attaching to tracepoint {category}:{name} failed: {}", error_chain(&e)))?;
            }
        }
        let events = RingBuf::try_from(ebpf.take_map("EVENTS").context("EVENTS map missing")?)?;
        Ok(Probes { ebpf, events, _tracefs: tracefs, method: "tracepoints" })
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
