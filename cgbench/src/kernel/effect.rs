//! The effect probes of `compare --load`: what the workload in the container feels of a new
//! limit. Attached only with a load, and only those its resource needs, so that a plain run
//! loads exactly what it did before and a kernel without the fields they read still runs one.

use anyhow::{Context as _, anyhow};
use aya::maps::{Array, HashMap};
use probe_common::{EffectOffsets, names};

use super::{attach, btf::Btf, probes::Probes};
use crate::load::Load;

/// The scheduler's switch: throttled tasks going off the CPU and coming back.
pub(super) const CPU: attach::Tracepoints = &[(names::EFFECT_SCHED_SWITCH, "sched", &["sched_switch"])];
/// Reclaim inside a writer's write, and the OOM killer.
pub(super) const MEMORY: attach::Tracepoints = &[
    (names::EFFECT_RECLAIM_BEGIN, "vmscan", &["mm_vmscan_memcg_reclaim_begin"]),
    (names::EFFECT_RECLAIM_END, "vmscan", &["mm_vmscan_memcg_reclaim_end"]),
    (names::EFFECT_OOM_VICTIM, "oom", &["mark_victim"]),
];

/// Where the CPU effect program finds a task's throttle state, on this kernel.
fn offsets(btf: &Btf) -> anyhow::Result<EffectOffsets> {
    Ok(EffectOffsets {
        task_se_cfs_rq: btf.offset_of("task_struct", "se.cfs_rq")?,
        cfs_rq_throttled: btf.offset_of("cfs_rq", "throttled")?,
    })
}

impl Probes {
    /// Attaches the effect probes `load` needs and has them watch the workload's process. An
    /// error leaves the run's other probes as they were: the caller reports it in one line and
    /// runs without the in-effect milestone.
    pub fn watch_effect(&mut self, load: Load, workload_tgid: u32) -> anyhow::Result<()> {
        let table = match load {
            Load::None => return Ok(()),
            Load::Cpu => {
                let offsets = offsets(&Btf::from_sys_fs()?).context("the scheduler's throttle state")?;
                let map = self.ebpf.map_mut(names::EFFECT_OFFSETS).context("EFFECT_OFFSETS map missing")?;
                Array::<_, EffectOffsets>::try_from(map)?.set(0, offsets, 0)?;
                CPU
            }
            Load::Memory => MEMORY,
        };
        let map = self.ebpf.map_mut(names::LOAD_TGIDS).context("LOAD_TGIDS map missing")?;
        HashMap::<_, u32, u8>::try_from(map)?.insert(workload_tgid, 1, 0)?;
        // The effect tables hold no syscall tracepoint: nothing comes back to attach later.
        let attached = attach::attach_tracepoints(&mut self.ebpf, table, &self.ids).map_err(|e| anyhow!("{e:#}"))?;
        self.links.extend(attached.links);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The effect programs and maps are looked up by these names; a rename on one side only is
    /// caught here, without root.
    #[test]
    fn the_object_has_the_effect_programs_and_maps() {
        let object = aya_obj::Object::parse(super::super::probes::OBJECT).expect("the embedded eBPF object parses");
        for map in names::EFFECT_MAPS {
            assert!(object.maps.contains_key(map), "map {map} missing");
        }
        for program in names::EFFECT_PROGRAMS {
            assert!(object.programs.contains_key(program), "program {program} missing");
        }
        let tables: Vec<&str> = CPU.iter().chain(MEMORY).map(|(program, ..)| *program).collect();
        assert_eq!(tables.len(), names::EFFECT_PROGRAMS.len(), "every effect program is attached by one table");
    }
}
