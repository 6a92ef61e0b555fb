//! Docker's record of a container's limits, which a direct cgroup write does not change: a later
//! `docker update` or a restart applies the record again. `set --sync` writes the knobs Docker
//! knows into it through the Engine API.

use anyhow::anyhow;
use bollard::models::ContainerUpdateBody;

use super::DockerHost;
use crate::{host::system::monotonic_ns, settings::Settings};

/// What `--sync` told Docker, and how long the Engine API call took.
pub struct Recorded {
    /// Docker's names of the fields sent.
    pub fields: Vec<&'static str>,
    pub took_ns: u64,
}

/// The part of `settings` Docker's update takes (moby's `UpdateContainer` copies exactly these),
/// by Docker's field names. A `--cpus` is sent as Docker records it (NanoCpus), since Docker
/// refuses a quota for a container that has NanoCpus and the other way round.
pub fn update_body(settings: &Settings) -> (ContainerUpdateBody, Vec<&'static str>) {
    let r = &settings.resources;
    let mut body = ContainerUpdateBody::default();
    let mut fields = Vec::new();
    let mut put = |name: &'static str, set: bool| {
        if set {
            fields.push(name);
        }
    };
    if let Some(m) = r.memory() {
        body.memory = m.limit();
        body.memory_swap = m.swap();
        body.memory_reservation = m.reservation();
        put("Memory", m.limit().is_some());
        put("MemorySwap", m.swap().is_some());
        put("MemoryReservation", m.reservation().is_some());
    }
    if let Some(c) = r.cpu() {
        body.cpu_shares = c.shares().map(|s| s as i64);
        body.cpuset_cpus = c.cpus().clone();
        body.cpuset_mems = c.mems().clone();
        body.cpu_realtime_runtime = c.realtime_runtime();
        body.cpu_realtime_period = c.realtime_period().map(|p| p as i64);
        match settings.docker_cpus {
            Some(micro_cpus) => body.nano_cpus = Some(micro_cpus as i64 * 1000),
            None => {
                body.cpu_quota = c.quota();
                body.cpu_period = c.period().map(|p| p as i64);
            }
        }
        put("CpuShares", body.cpu_shares.is_some());
        put("NanoCpus", body.nano_cpus.is_some());
        put("CpuQuota", body.cpu_quota.is_some());
        put("CpuPeriod", body.cpu_period.is_some());
        put("CpusetCpus", body.cpuset_cpus.is_some());
        put("CpusetMems", body.cpuset_mems.is_some());
        put("CpuRealtimeRuntime", body.cpu_realtime_runtime.is_some());
        put("CpuRealtimePeriod", body.cpu_realtime_period.is_some());
    }
    if let Some(p) = r.pids() {
        body.pids_limit = Some(p.limit());
        put("PidsLimit", true);
    }
    if let Some(weight) = r.block_io().as_ref().and_then(|b| b.weight()) {
        body.blkio_weight = Some(weight);
        put("BlkioWeight", true);
    }
    (body, fields)
}

impl DockerHost {
    /// Records in Docker what `set` wrote, for the knobs Docker knows; `None` when there are none.
    pub async fn record(&self, id: &str, settings: &Settings) -> anyhow::Result<Option<Recorded>> {
        let (body, fields) = update_body(settings);
        if fields.is_empty() {
            return Ok(None);
        }
        let start = monotonic_ns();
        let updated = self.api.update_container(id, body).await;
        let took_ns = monotonic_ns() - start;
        updated.map_err(|e| anyhow!("--sync: Docker refused to record {}: {e}", fields.join(", ")))?;
        Ok(Some(Recorded { fields, took_ns }))
    }
}
