//! `cgbench set`: the fast path as a tool. A container's knobs written straight into its cgroup
//! files — validated first, in an order the kernel cannot refuse midway, each write timed, read
//! back, put back whole on any failure, journaled so that a killed `set` is undone by the next
//! cgbench — and, with `--sync`, recorded in Docker afterwards, timed apart.

mod apply;
mod plan;
mod realtime;
mod render;
mod validate;

use anyhow::Context as _;
use render::{DOCKER_DOES_NOT_KNOW, FileReport, SetReport};

use crate::{
    host::{
        cgroup::Host,
        docker::DockerHost,
        journal::{Journal, Owner},
        system::ensure_root,
    },
    recovery,
    settings::Settings,
};

/// `set`'s options, checked (see `options_knobs.rs`).
#[derive(Clone, Debug)]
pub struct SetOptions {
    pub container: String,
    pub settings: Settings,
    pub dry_run: bool,
    pub json: bool,
    pub sync: bool,
}

pub async fn set(opts: &SetOptions) -> anyhow::Result<()> {
    ensure_root()?;
    let docker = DockerHost::connect().await?;
    docker.refuse_rootless()?;
    let mut journal = match opts.dry_run {
        true => None,
        false => {
            let journal = Journal::open(Owner::this_process()?)?;
            for line in recovery::recover(Some(&docker), false).await.lines {
                eprintln!("cgbench: {line}");
            }
            Some(journal)
        }
    };
    let (container, _) = docker.running_container(&opts.container).await?;
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", container.pid))
        .with_context(|| format!("reading /proc/{}/cgroup of container {}", container.pid, container.name))?;
    let plan = plan::plan(&Host::detect()?, &proc_cgroup, &opts.settings)?;
    let report = SetReport {
        container: &container.name,
        container_id: &container.id,
        dry_run: opts.dry_run,
        writes: Vec::new(),
        tasks: &[],
        synced: None,
        docker_cannot_record: docker_cannot_record(&opts.settings),
        note: DOCKER_DOES_NOT_KNOW,
    };
    let Some(journal) = journal.as_mut() else {
        let writes = plan.steps.iter().map(|step| FileReport { step, write_ns: None }).collect();
        return print(&SetReport { writes, ..report }, opts.json);
    };
    let applied = apply::apply(plan, &opts.settings.priorities, &container.name, journal)?;
    // The files hold the new values whatever Docker says: the report comes first, then
    // Docker's refusal, if any.
    let (synced, refused) = match opts.sync {
        true => match docker.record(&container.id, &opts.settings).await {
            Ok(recorded) => (recorded.map(Into::into), None),
            Err(e) => (None, Some(e)),
        },
        false => (None, None),
    };
    let writes = applied.writes.iter().map(|(step, write_ns)| FileReport { step, write_ns: *write_ns }).collect();
    print(&SetReport { writes, tasks: &applied.tasks, synced, ..report }, opts.json)?;
    refused.map_or(Ok(()), Err)
}

fn print(report: &SetReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

/// Knobs Docker has no update field for: `--sync` cannot record them, and Docker's own values
/// come back with a restart.
fn docker_cannot_record(settings: &Settings) -> Vec<String> {
    let r = &settings.resources;
    let io = r.block_io().as_ref();
    let network = r.network().as_ref();
    [
        (
            "device throttles",
            io.is_some_and(|b| {
                b.throttle_read_bps_device().is_some()
                    || b.throttle_write_bps_device().is_some()
                    || b.throttle_read_iops_device().is_some()
                    || b.throttle_write_iops_device().is_some()
            }),
        ),
        ("memory swappiness", r.memory().as_ref().is_some_and(|m| m.swappiness().is_some())),
        ("huge page limits", r.hugepage_limits().is_some()),
        ("the net_cls class id", network.is_some_and(|n| n.class_id().is_some())),
        ("net_prio priorities", network.is_some_and(|n| n.priorities().is_some())),
        ("unified files", r.unified().is_some()),
        ("task priorities", settings.priorities.any()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(what, _)| what.to_owned())
    .collect()
}
