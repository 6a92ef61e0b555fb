//! cgbench's eBPF programs loaded, attached and told what to watch; their events and their own
//! log records read back. Dropping `Probes` detaches every program and unmounts tracefs if
//! cgbench mounted it.

use std::{os::fd::OwnedFd, path::Path};

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf, EbpfLoader, Pod,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
};
use aya_log::EbpfLogger;
use probe_common::{COMM_LEN, CgroupKey, names};
use tracing::Level;

use super::{
    attach::{self, AttachMethod},
    btf::Btf,
    effect,
    events::{self, KernelEvent},
    probe_log::{self, ToTracing},
    syscalls::{SyscallTax, SyscallTracepoints},
    tracepoints::TracepointIds,
};
use crate::host::system::TemporaryMount;

pub(super) static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cgbench-probes"));

const TRACEFS: &str = "/sys/kernel/tracing";

/// Where tracefs is mounted, if it is: its own mount point, or the one under debugfs.
fn mounted_tracefs() -> Option<&'static Path> {
    [Path::new(TRACEFS), Path::new("/sys/kernel/debug/tracing")].into_iter().find(|dir| dir.join("events").is_dir())
}

/// Where loading the probes will mount tracefs (tracepoint ids are read from it), or `None` when
/// it is there already: a run records it in its journal before it loads them.
pub fn tracefs_to_mount() -> Option<&'static Path> {
    mounted_tracefs().is_none().then(|| Path::new(TRACEFS))
}

/// Mounts tracefs when it is missing; `None` when it was already there.
fn ensure_tracefs() -> anyhow::Result<Option<TemporaryMount>> {
    let Some(target) = tracefs_to_mount() else { return Ok(None) };
    match TemporaryMount::new("tracefs", target) {
        Ok(mount) => Ok(Some(mount)),
        // Another run mounted it between the look and the mount (the kernel refuses the same
        // tracefs twice on one mount point with EBUSY): it is there, and it is that run's.
        Err(_) if mounted_tracefs().is_some() => Ok(None),
        Err(e) => Err(anyhow!(
            "tracefs is not mounted and mounting it on {TRACEFS} failed ({e}): mount it with `mount -t tracefs nodev {TRACEFS}`"
        )),
    }
}

/// The object with the running kernel's struct offsets filled in, loaded but not attached.
pub(super) fn load_object() -> anyhow::Result<Ebpf> {
    let offsets = Btf::from_sys_fs()?.kernel_offsets()?;
    let mut loader = EbpfLoader::new();
    if let Some(bytes) = ring_buffer_bytes()? {
        loader.map_max_entries(names::EVENTS, bytes);
    }
    loader
        // No CO-RE relocations to apply (Rust emits none; offsets come in OFFSETS), so aya need
        // not parse the kernel's BTF a second time.
        .btf(None)
        .override_global(names::OFFSETS, &offsets, true)
        .override_global(aya_log::LEVEL, &probe_log::kernel_level(), true)
        .load(OBJECT)
        .map_err(|e| anyhow!("the kernel refused cgbench's eBPF maps or programs: {e}"))
}

/// The variable that shrinks the ring buffer below the object's 2 MiB (sized for a 300,000
/// writes/s storm between two drains): how the overflow test makes a burst overflow it whatever
/// speed a busy machine leaves the burst. Not for measuring.
const RING_BUFFER_BYTES_VAR: &str = "CGBENCH_RING_BUFFER_BYTES";

fn ring_buffer_bytes() -> anyhow::Result<Option<u32>> {
    let Ok(text) = std::env::var(RING_BUFFER_BYTES_VAR) else { return Ok(None) };
    match text.parse::<u32>() {
        Ok(bytes) if bytes.is_power_of_two() && bytes >= 4096 => Ok(Some(bytes)),
        _ => Err(anyhow!(
            "{RING_BUFFER_BYTES_VAR}={text}: the ring buffer's size must be a power of two of at least 4096 bytes"
        )),
    }
}

/// Who and what the probes report; everything else is filtered out in the kernel.
#[derive(Clone, Debug, Default)]
pub struct Watch<'a> {
    /// Processes whose cgroup writes are reported (cgbench itself; systemd under its driver).
    pub writers: &'a [u32],
    /// Programs that become writers when they exec (`runc`).
    pub writer_comms: &'a [&'a str],
    /// Processes whose `POST` requests are reported (dockerd).
    pub dockerds: &'a [u32],
    /// Cgroup directories whose control-file writes are reported.
    pub cgroups: &'a [CgroupKey],
}

pub struct Probes {
    // Field order is drop order: programs detach before tracefs is unmounted.
    /// The tracepoints attached by cgbench itself (`tracepoints`), for the run's life.
    pub(super) links: Vec<OwnedFd>,
    syscalls: SyscallTracepoints,
    pub(super) ebpf: Ebpf,
    events: RingBuf<MapData>,
    log: EbpfLogger<ToTracing>,
    /// Read while loading, for what attaches later.
    pub(super) ids: TracepointIds,
    tracefs: Option<TemporaryMount>,
}

impl Probes {
    /// Loads and attaches every program, the write capture by `method`, and tells them what to
    /// watch. Any refusal is an error and leaves nothing attached.
    pub fn watching(method: AttachMethod, watch: &Watch) -> anyhow::Result<Probes> {
        let mut probes = Probes::load(method)?;
        probes.watch(watch)?;
        Ok(probes)
    }

    /// The same with the syscall tracepoints loaded but not attached: the host pays their tax
    /// only once a trial needs them (`syscall_tracepoints`).
    pub fn watching_idle(method: AttachMethod, watch: &Watch) -> anyhow::Result<Probes> {
        let mut probes = Probes::load_idle(method)?;
        probes.watch(watch)?;
        Ok(probes)
    }

    /// Watches more: what a run learns once its container is running.
    pub fn watch(&mut self, watch: &Watch) -> anyhow::Result<()> {
        for &tgid in watch.writers {
            self.set(names::WRITERS, tgid)?;
        }
        for comm in watch.writer_comms {
            let mut key = [0u8; COMM_LEN];
            let len = comm.len().min(COMM_LEN - 1);
            key[..len].copy_from_slice(&comm.as_bytes()[..len]);
            self.set(names::WRITER_COMMS, key)?;
        }
        for &tgid in watch.dockerds {
            self.set(names::DOCKERD, tgid)?;
        }
        for &key in watch.cgroups {
            self.set(names::TARGETS, key)?;
        }
        if tracing::enabled!(Level::DEBUG) {
            self.log_filters()?;
        }
        Ok(())
    }

    /// What the in-kernel filters hold, read back from the maps: `WRITERS` also has the runc
    /// tgids the exec program added.
    fn log_filters(&self) -> anyhow::Result<()> {
        let writers: Vec<u32> = self.keys(names::WRITERS)?;
        let comms: Vec<String> =
            self.keys::<[u8; COMM_LEN]>(names::WRITER_COMMS)?.iter().map(|comm| events::text(comm)).collect();
        let dockerds: Vec<u32> = self.keys(names::DOCKERD)?;
        let cgroups: Vec<String> = self.keys::<CgroupKey>(names::TARGETS)?.iter().map(ToString::to_string).collect();
        tracing::debug!(?writers, writer_comms = ?comms, ?dockerds, ?cgroups, "in-kernel filters");
        Ok(())
    }

    fn keys<K: Pod>(&self, map: &str) -> anyhow::Result<Vec<K>> {
        let data = self.ebpf.map(map).with_context(|| format!("{map} map missing"))?;
        Ok(HashMap::<_, K, u8>::try_from(data)?.keys().collect::<Result<_, _>>()?)
    }

    /// Every program loaded and attached, nothing watched yet.
    pub(super) fn load(method: AttachMethod) -> anyhow::Result<Probes> {
        let mut probes = Probes::load_idle(method)?;
        probes.syscall_tracepoints(true)?;
        Ok(probes)
    }

    /// Every program loaded and attached but the syscall tracepoints, nothing watched yet.
    fn load_idle(method: AttachMethod) -> anyhow::Result<Probes> {
        let tracefs = ensure_tracefs()?;
        let tables = [attach::REQUEST_AND_EXEC, attach::WRITE_TRACEPOINTS, effect::CPU, effect::MEMORY];
        let ids = TracepointIds::read(mounted_tracefs().unwrap_or(Path::new(TRACEFS)), attach::named(&tables));
        let mut ebpf = load_object()?;
        let attached = attach::attach_tracepoints(&mut ebpf, attach::REQUEST_AND_EXEC, &ids)?;
        let mut hooks = attached.syscall_hooks;
        hooks.extend(attach::attach_writes(&mut ebpf, method, &ids)?);
        let syscalls = SyscallTracepoints::detached(hooks);
        let events =
            RingBuf::try_from(ebpf.take_map(names::EVENTS).with_context(|| format!("{} map missing", names::EVENTS))?)?;
        let log = EbpfLogger::init_with_logger(&mut ebpf, ToTracing)?;
        Ok(Probes { links: attached.links, syscalls, ebpf, events, log, ids, tracefs })
    }

    fn set<K: Pod>(&mut self, map: &str, key: K) -> anyhow::Result<()> {
        // aya's HashMap serves plain and LRU hash maps alike.
        let data = self.ebpf.map_mut(map).with_context(|| format!("{map} map missing"))?;
        let mut hash = HashMap::<_, K, u8>::try_from(data)?;
        Ok(hash.insert(key, 1, 0)?)
    }

    /// Attaches or detaches the syscall tracepoints: the host pays their tax only while the
    /// trials that need them run.
    pub fn syscall_tracepoints(&mut self, attached: bool) -> anyhow::Result<()> {
        if attached {
            self.syscalls.attach(&self.ebpf)
        } else {
            self.syscalls.detach();
            Ok(())
        }
    }

    /// What the syscall tracepoints have cost the host so far.
    pub fn syscall_tax(&self) -> SyscallTax {
        self.syscalls.tax()
    }

    /// Whether these probes mounted tracefs (and will unmount it when dropped).
    pub fn mounted_tracefs(&self) -> bool {
        self.tracefs.is_some()
    }

    /// Every event submitted so far, and the probes' log records passed on to `tracing`.
    /// Programs submit without waking the reader (a wake-up per write costs more than the
    /// write), so this polls.
    pub fn drain(&mut self) -> Vec<KernelEvent> {
        let mut out = Vec::new();
        while let Some(record) = self.events.next() {
            out.extend(KernelEvent::decode(&record));
        }
        self.log.flush();
        // Reading LOST is a syscall: only when someone will see the count.
        if tracing::enabled!(Level::TRACE) {
            tracing::trace!(events = out.len(), lost_so_far = self.lost().ok(), "drained");
        }
        out
    }

    /// Events the ring buffer had no room for, over all CPUs.
    pub fn lost(&self) -> anyhow::Result<u64> {
        let map = self.ebpf.map(names::LOST).with_context(|| format!("{} map missing", names::LOST))?;
        let lost = PerCpuArray::<_, u64>::try_from(map)?;
        Ok(lost.get(&0, 0)?.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use probe_common::KernelOffsets;

    use super::*;

    /// The eBPF side spells its maps, programs and globals as identifiers, not with `names`: this
    /// is where a rename on one side only is caught, without root or a kernel.
    #[test]
    fn the_object_has_every_name_the_user_side_looks_up() {
        let mut object = aya_obj::Object::parse(OBJECT).expect("the embedded eBPF object parses");
        for map in names::MAPS {
            assert!(object.maps.contains_key(map), "map {map} missing; maps: {:?}", object.maps.keys());
        }
        for program in names::PROGRAMS {
            assert!(object.programs.contains_key(program), "program {program} missing");
        }
        // What `load_object` does to globals, offline: patching fails for a missing symbol or a
        // size other than the user side's.
        let offsets = vec![0u8; size_of::<KernelOffsets>()];
        let log_level = [0u8];
        let globals = std::collections::HashMap::from([
            (names::OFFSETS, (offsets.as_slice(), true)),
            (aya_log::LEVEL, (log_level.as_slice(), true)),
        ]);
        object.patch_map_data(globals).expect("OFFSETS and AYA_LOG_LEVEL are globals of the sizes load gives them");
    }
}
