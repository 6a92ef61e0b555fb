//! The two limits `compare` changes and the cgroup controllers `set` and `stats` use, independent of
//! how a cgroup version or Docker spells them.

use std::fmt;

use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxResources};
use serde::{Deserialize, Serialize};

use crate::units::{format_bytes, format_cpus};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Memory,
    Cpu,
}

impl Resource {
    pub const ALL: [Resource; 2] = [Resource::Memory, Resource::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Cpu => "cpu",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cgroup controller, whatever a version calls it (`blkio` on v1 is `io` on v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Controller {
    Cpuset,
    Memory,
    Cpu,
    /// v1's CPU accounting, which v2 folds into `cpu`: read by `stats`, never written.
    Cpuacct,
    Pids,
    Io,
    Hugetlb,
    NetCls,
    NetPrio,
}

impl From<Resource> for Controller {
    fn from(resource: Resource) -> Controller {
        match resource {
            Resource::Memory => Controller::Memory,
            Resource::Cpu => Controller::Cpu,
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
            Controller::Io => "io",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
        })
    }
}

impl Controller {
    /// The controller whose file a v2 `unified` key names, by its prefix; `None` for the core
    /// `cgroup.*` files and unknown prefixes, which move processes or reshape the tree rather
    /// than set a limit.
    pub fn of_v2_file(file: &str) -> Option<Controller> {
        Some(match file.split_once('.')?.0 {
            "cpuset" => Controller::Cpuset,
            "memory" => Controller::Memory,
            "cpu" => Controller::Cpu,
            "pids" => Controller::Pids,
            "io" => Controller::Io,
            "hugetlb" => Controller::Hugetlb,
            _ => return None,
        })
    }
}

/// The CFS period Docker uses for `--cpus`; cgbench keeps it so both paths write the same files.
pub const CPU_PERIOD_US: u64 = 100_000;
const MICRO_CPUS_PER_QUOTA_US: u64 = 1_000_000 / CPU_PERIOD_US;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resource", rename_all = "lowercase")]
pub enum Limit {
    Memory { bytes: u64 },
    Cpu { quota_us: u64, period_us: u64 },
}

impl Limit {
    /// A CPU limit of `micro_cpus` millionths of a CPU over Docker's 100 ms period. The quota has
    /// µs resolution, so the count must be a multiple of 0.00001 CPU to be exact.
    pub fn cpus(micro_cpus: u64) -> anyhow::Result<Limit> {
        anyhow::ensure!(
            micro_cpus.is_multiple_of(MICRO_CPUS_PER_QUOTA_US),
            "{} CPUs cannot be set exactly: use at most 5 decimals",
            format_cpus(micro_cpus)
        );
        anyhow::ensure!(
            micro_cpus >= 10_000,
            "{} CPUs is below the kernel's 1 ms minimum quota: use at least 0.01",
            format_cpus(micro_cpus)
        );
        Ok(Limit::Cpu { quota_us: micro_cpus / MICRO_CPUS_PER_QUOTA_US, period_us: CPU_PERIOD_US })
    }

    pub fn resource(&self) -> Resource {
        match self {
            Limit::Memory { .. } => Resource::Memory,
            Limit::Cpu { .. } => Resource::Cpu,
        }
    }

    /// The same limit nudged by `step` units of the finest resolution the path to the kernel
    /// keeps (a page of memory; a step of `grain` of quota), so that every trial writes a value of
    /// its own and its kernel event can be told apart by the bytes written — and the writers on
    /// the way write it as they would a user's value.
    pub fn nudged(&self, step: u64, grain: CpuGrain) -> Limit {
        match *self {
            Limit::Memory { bytes } => Limit::Memory { bytes: bytes + step * 4096 },
            Limit::Cpu { quota_us, period_us } => {
                Limit::Cpu { quota_us: quota_us + step * grain.quota_step_us(period_us), period_us }
            }
        }
    }

    /// Micro-CPUs of a CPU limit (quota per period).
    fn micro_cpus(quota_us: u64, period_us: u64) -> u64 {
        quota_us * 1_000_000 / period_us
    }

    /// The `docker update` arguments that set this limit. `memory_swap` is passed with every
    /// memory change, as Docker refuses a memory limit above the swap limit already set.
    pub fn docker_update_args(&self, memory_swap: u64) -> Vec<String> {
        match *self {
            Limit::Memory { bytes } => {
                vec!["--memory".into(), bytes.to_string(), "--memory-swap".into(), memory_swap.to_string()]
            }
            Limit::Cpu { quota_us, period_us } => {
                vec!["--cpus".into(), format_cpus(Self::micro_cpus(quota_us, period_us))]
            }
        }
    }

    /// The limit in the OCI runtime spec's terms, which the cgroup mappings take.
    pub fn resources(&self) -> LinuxResources {
        let mut resources = LinuxResources::default();
        match *self {
            Limit::Memory { bytes } => {
                resources.set_memory(Some(*LinuxMemory::default().set_limit(Some(bytes as i64))));
            }
            Limit::Cpu { quota_us, period_us } => {
                let mut cpu = LinuxCpu::default();
                cpu.set_quota(Some(quota_us as i64)).set_period(Some(period_us));
                resources.set_cpu(Some(cpu));
            }
        }
        resources
    }

    /// The OCI `LinuxResources` document that sets this limit: what containerd hands the shim and
    /// the shim pipes into `runc update --resources -`. It names only the limit's own resource,
    /// which runc reads as "leave the others as they are". `memory_swap` goes with every memory
    /// change, as with `docker update`.
    pub fn oci_resources(&self, memory_swap: u64) -> serde_json::Value {
        let mut resources = self.resources();
        if let Some(memory) = resources.memory() {
            resources.set_memory(Some(*memory.clone().set_swap(Some(memory_swap as i64))));
        }
        serde_json::to_value(resources).expect("LinuxResources serialises")
    }

    /// Docker's `NanoCpus` for a CPU limit.
    pub fn nano_cpus(quota_us: u64, period_us: u64) -> i64 {
        (Self::micro_cpus(quota_us, period_us) * 1000) as i64
    }
}

/// systemd keeps a unit's CPU quota as CPU time per second, in steps of this many µs (1 % of a
/// CPU).
const SYSTEMD_STEP_US_PER_S: u64 = 10_000;

/// How finely the path to the kernel keeps a CPU quota. runc and the kernel keep it to the µs.
/// Under Docker's systemd cgroup driver runc also hands the quota to systemd
/// (`CPUQuotaPerSecUSec`), rounded up to systemd's steps of 10 ms per second, and systemd writes
/// that to `cpu.max` before runc writes the exact quota — and writes it again at every later
/// update of the unit, whatever the update is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuGrain {
    Microsecond,
    SystemdStep,
}

impl CpuGrain {
    /// The grain of the path through a Docker daemon with this cgroup driver.
    pub fn of_docker_driver(cgroup_driver: &str) -> CpuGrain {
        if cgroup_driver == "systemd" { CpuGrain::SystemdStep } else { CpuGrain::Microsecond }
    }

    /// µs of quota per `period_us` in one step.
    fn quota_step_us(self, period_us: u64) -> u64 {
        match self {
            CpuGrain::Microsecond => 1,
            CpuGrain::SystemdStep => SYSTEMD_STEP_US_PER_S * period_us / 1_000_000,
        }
    }

    /// The limit as the grain keeps it: under systemd, the quota systemd writes, computed as
    /// runc's systemd driver does (quota per second, rounded up to the next step) and then
    /// systemd (back over the period). Memory is kept as it is.
    pub fn kept(self, limit: Limit) -> Limit {
        match (self, limit) {
            (CpuGrain::SystemdStep, Limit::Cpu { quota_us, period_us }) => {
                let per_s = (quota_us * 1_000_000 / period_us).next_multiple_of(SYSTEMD_STEP_US_PER_S);
                Limit::Cpu { quota_us: per_s * period_us / 1_000_000, period_us }
            }
            _ => limit,
        }
    }
}

/// A container's memory and CPU limits together, as Docker records them: what a cgbench
/// container starts with, and what a `--container` gets back at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Memory plus swap, as Docker counts it; -1 is unlimited.
    pub memory_swap_bytes: i64,
    pub cpu: Limit,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::Memory { bytes } => f.write_str(&format_bytes(bytes)),
            Limit::Cpu { quota_us, period_us } => {
                write!(f, "{} CPUs", format_cpus(Self::micro_cpus(quota_us, period_us)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_become_quota_over_docker_period() {
        assert_eq!(Limit::cpus(500_000).unwrap(), Limit::Cpu { quota_us: 50_000, period_us: 100_000 });
        assert!(Limit::cpus(500_001).unwrap_err().to_string().contains("5 decimals"));
        assert!(Limit::cpus(5_000).unwrap_err().to_string().contains("at least 0.01"));
    }

    #[test]
    fn nudges_keep_values_apart_at_the_finest_resolution() {
        let mem = Limit::Memory { bytes: 256 << 20 };
        assert_eq!(mem.nudged(3, CpuGrain::SystemdStep), Limit::Memory { bytes: (256 << 20) + 3 * 4096 });
        let cpu = Limit::cpus(500_000).unwrap();
        assert_eq!(cpu.nudged(1, CpuGrain::Microsecond), Limit::Cpu { quota_us: 50_001, period_us: 100_000 });
        assert_eq!(cpu.nudged(2, CpuGrain::SystemdStep), Limit::Cpu { quota_us: 52_000, period_us: 100_000 });
    }

    /// As seen in the VM (vm-test): runc asked for 50005 µs and 100032 µs, systemd wrote 51000
    /// and 101000 first.
    #[test]
    fn systemd_rounds_a_quota_up_to_its_steps() {
        let kept = |quota_us| match CpuGrain::SystemdStep.kept(Limit::Cpu { quota_us, period_us: 100_000 }) {
            Limit::Cpu { quota_us, .. } => quota_us,
            Limit::Memory { .. } => unreachable!(),
        };
        assert_eq!([kept(50_005), kept(100_032), kept(51_000), kept(1_000)], [51_000, 101_000, 51_000, 1_000]);
        let cpu = Limit::cpus(505_000).unwrap();
        assert_eq!(CpuGrain::Microsecond.kept(cpu), cpu);
        assert_eq!(CpuGrain::SystemdStep.kept(cpu.nudged(3, CpuGrain::SystemdStep)), Limit::cpus(540_000).unwrap());
        let mem = Limit::Memory { bytes: 268_439_553 };
        assert_eq!(CpuGrain::SystemdStep.kept(mem), mem);
        assert_eq!(CpuGrain::of_docker_driver("systemd"), CpuGrain::SystemdStep);
        assert_eq!(CpuGrain::of_docker_driver("cgroupfs"), CpuGrain::Microsecond);
    }

    #[test]
    fn docker_arguments_are_exact() {
        let cpu = Limit::cpus(500_000).unwrap().nudged(1, CpuGrain::Microsecond);
        assert_eq!(cpu.docker_update_args(0), ["--cpus", "0.50001"]);
        assert_eq!(Limit::nano_cpus(50_001, 100_000), 500_010_000);
        let mem = Limit::Memory { bytes: 268_439_552 };
        assert_eq!(mem.docker_update_args(1 << 30), ["--memory", "268439552", "--memory-swap", "1073741824"]);
    }

    #[test]
    fn oci_resources_name_only_the_limits_own_resource() {
        let mem = Limit::Memory { bytes: 268_439_552 }.oci_resources(1 << 30);
        assert_eq!(mem.to_string(), r#"{"memory":{"limit":268439552,"swap":1073741824}}"#);
        let cpu = Limit::cpus(500_000).unwrap().nudged(1, CpuGrain::Microsecond).oci_resources(1 << 30);
        assert_eq!(cpu.to_string(), r#"{"cpu":{"period":100000,"quota":50001}}"#);
    }

    #[test]
    fn limits_print_for_people() {
        assert_eq!(Limit::Memory { bytes: 256 << 20 }.to_string(), "256 MiB");
        assert_eq!(Limit::cpus(1_500_000).unwrap().to_string(), "1.5 CPUs");
    }
}
