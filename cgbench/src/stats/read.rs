//! Where a container's counters are and how to read them: each controller's directory found once
//! (a controller the host lacks leaves its section out), every file read through `host::cgroup::io`.

use std::path::{Path, PathBuf};

use super::sample::{self, Sample};
use crate::host::cgroup::{Host, ResourceDir, Version, io, knobs::Controller};

pub struct Sources {
    cpu: Option<ResourceDir>,
    cpuacct: Option<ResourceDir>,
    memory: Option<ResourceDir>,
    io: Option<ResourceDir>,
    pids: Option<ResourceDir>,
    /// The cgroup2 directory, when its files report pressure.
    pressure: Option<PathBuf>,
}

fn read(dir: &Path, file: &str) -> anyhow::Result<String> {
    io::read_value(&io::control_file(dir, file)?)
}

impl Sources {
    pub fn find(host: &Host, proc_cgroup: &str) -> Sources {
        let dir = |c: Controller| host.container_dir(proc_cgroup, c).ok();
        let pressure = host.unified_dir_of(proc_cgroup).ok().filter(|d| d.join("cpu.pressure").exists());
        Sources {
            cpu: dir(Controller::Cpu),
            cpuacct: dir(Controller::Cpuacct),
            memory: dir(Controller::Memory),
            io: dir(Controller::Io),
            pids: dir(Controller::Pids),
            pressure,
        }
    }

    /// Whether the container's cgroups are still there: they go with the container.
    pub fn alive(&self) -> bool {
        [&self.cpu, &self.memory, &self.pids].iter().filter_map(|d| d.as_ref()).all(|d| d.path.exists())
    }

    pub fn sample(&self) -> anyhow::Result<Sample> {
        let mut s = Sample::default();
        if let Some(cpu) = &self.cpu {
            s.cpu = Some(match (cpu.version, &self.cpuacct) {
                (Version::V2, _) => sample::cpu_v2(&read(&cpu.path, "cpu.stat")?),
                (Version::V1, Some(acct)) => {
                    let acct = |f| read(&acct.path, f);
                    let (usage, user, system) =
                        (acct("cpuacct.usage")?, acct("cpuacct.usage_user")?, acct("cpuacct.usage_sys")?);
                    sample::cpu_v1(Some([&usage, &user, &system]), &read(&cpu.path, "cpu.stat")?)?
                }
                (Version::V1, None) => sample::cpu_v1(None, &read(&cpu.path, "cpu.stat")?)?,
            });
        }
        if let Some(memory) = &self.memory {
            let m = |f| read(&memory.path, f);
            s.memory = Some(match memory.version {
                Version::V1 => sample::memory_v1(
                    &m("memory.usage_in_bytes")?,
                    &m("memory.max_usage_in_bytes")?,
                    &m("memory.limit_in_bytes")?,
                    &m("memory.failcnt")?,
                    &m("memory.oom_control")?,
                )?,
                Version::V2 => sample::memory_v2(
                    &m("memory.current")?,
                    m("memory.peak").ok().as_deref(),
                    &m("memory.max")?,
                    &m("memory.events")?,
                )?,
            });
        }
        if let Some(io) = &self.io {
            s.io = match io.version {
                Version::V1 => sample::io_v1(
                    &read(&io.path, "blkio.throttle.io_service_bytes_recursive")?,
                    &read(&io.path, "blkio.throttle.io_serviced_recursive")?,
                )?,
                Version::V2 => sample::io_v2(&read(&io.path, "io.stat")?),
            };
        }
        if let Some(pids) = &self.pids {
            s.pids = Some(sample::pids(&read(&pids.path, "pids.current")?, &read(&pids.path, "pids.max")?)?);
        }
        if let Some(dir) = &self.pressure {
            for resource in ["cpu", "memory", "io"] {
                s.pressure.extend(sample::pressure(resource, &read(dir, &format!("{resource}.pressure"))?));
            }
        }
        Ok(s)
    }
}
