//! `cgbench set` for real on this host: every knob it has applied to a container and read back,
//! block I/O throttles on a loop device, real-time runtime with its parent chain, priorities of
//! the container's tasks, net_cls/net_prio on a hierarchy mounted for the test, `--sync`; a write
//! the kernel refuses and a `set` killed midway leave every file as it was.

mod common;

use std::{path::Path, process::Command};

use cgbench::resource::Controller::{self, *};
use common::{LoopDevice, USER_CONTAINER_RECORD, UserContainer, cgbench, docker, stderr};
use serde_json::Value;

/// Runs `set` on the container with `--json` and returns its report.
fn set(container: &UserContainer, knobs: &[&str]) -> Value {
    let args: Vec<&str> = ["set", &container.name, "--json"].iter().copied().chain(knobs.iter().copied()).collect();
    let out = cgbench(&args);
    assert!(out.status.success(), "set {knobs:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each file the report says was written, by label, with its new value.
fn written(report: &Value) -> Vec<(String, String)> {
    report["writes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| !w["write_ns"].is_null())
        .map(|w| (w["label"].as_str().unwrap().to_owned(), w["new"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn every_knob_this_host_has_is_written_in_order_and_read_back() {
    common::assert_root();
    let c = UserContainer::start("set-all");
    let knobs = [
        ["--memory", "400m"],
        ["--memory-swap", "800m"],
        ["--memory-reservation", "100m"],
        ["--memory-swappiness", "10"],
        ["--cpus", "1.5"],
        ["--cpu-shares", "512"],
        ["--cpuset-cpus", "0"],
        ["--cpuset-mems", "0"],
        ["--pids-limit", "50"],
        ["--blkio-weight", "300"],
    ];
    let report = set(&c, &knobs.concat());
    assert_eq!(
        written(&report).iter().map(|(label, _)| label.as_str()).collect::<Vec<_>>(),
        [
            "cpuset.cpus",
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "cpu.shares",
            "cpu.cfs_quota_us",
            "pids.max",
            "blkio.bfq.weight"
        ],
        "runc's order; cpuset.mems and cpu.cfs_period_us already held the value"
    );
    let expected: &[(Controller, &str, &str)] = &[
        (Memory, "memory.limit_in_bytes", "419430400"),
        (Memory, "memory.memsw.limit_in_bytes", "838860800"),
        (Memory, "memory.soft_limit_in_bytes", "104857600"),
        (Memory, "memory.swappiness", "10"),
        (Cpu, "cpu.cfs_quota_us", "150000"),
        (Cpu, "cpu.cfs_period_us", "100000"),
        (Cpu, "cpu.shares", "512"),
        (Cpuset, "cpuset.cpus", "0"),
        (Cpuset, "cpuset.mems", "0"),
        (Pids, "pids.max", "50"),
        (Io, "blkio.bfq.weight", "300"),
    ];
    for &(controller, file, value) in expected {
        assert_eq!(c.cgroup_file(controller, file), value, "{file}");
    }
    assert!(report["writes"].as_array().unwrap().iter().filter_map(|w| w["write_ns"].as_u64()).all(|ns| ns > 0));
    assert_eq!(c.docker_record(), USER_CONTAINER_RECORD, "a direct write is invisible to Docker");
    assert!(report["note"].as_str().unwrap().starts_with("Docker's record does not know these values"));

    // Lowering both memory limits goes memory first, as the new memory fits under the old swap.
    let lowered = set(&c, &["--memory", "200m", "--memory-swap", "300m"]);
    let labels: Vec<String> = written(&lowered).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
}

#[test]
fn the_human_report_gives_old_new_and_the_time_of_each_write() {
    common::assert_root();
    let c = UserContainer::start("set-human");
    let out =
        cgbench(&["set", &c.name, "--memory", "400m", "--memory-swap", "1g", "--cpus", "1", "--pids-limit", "64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("container {} ({})", c.name, &c.id[..12]));
    assert!(lines[1].starts_with("  memory.limit_in_bytes  ") && lines[1].contains("314572800 → 419430400"), "{text}");
    assert!(lines[1].trim_end().ends_with("µs") || lines[1].trim_end().ends_with(" ns"), "{text}");
    assert!(text.contains("memory.memsw.limit_in_bytes  1073741824 → 1073741824"), "{text}");
    assert!(text.contains("unchanged"), "{text}");
    assert!(text.contains("3 files written in "), "{text}");
    assert!(text.contains("Docker's record does not know these values"), "{text}");

    let dry = cgbench(&["set", &c.name, "--memory", "500m", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("419430400 → 524288000"));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("dry run: nothing was written"));
    assert_eq!(c.cgroup_file(Memory, "memory.limit_in_bytes"), "419430400");
}

#[test]
fn block_io_throttles_on_a_loop_device_by_node_and_by_a_path_on_it() {
    common::assert_root();
    let disk = LoopDevice::new("set-blkio");
    let c = UserContainer::start("set-blkio");
    let on_disk = disk.mount_point.join("data");
    std::fs::write(&on_disk, b"x").unwrap();
    let read_bps = format!("{}:1mb", disk.device);
    let write_bps = format!("{}:2mb", on_disk.display());
    let read_iops = format!("{}:100", disk.device);
    let write_iops = format!("{}:200", disk.mount_point.display());
    let knobs = ["--device-read-bps", &read_bps, "--device-write-bps", &write_bps];
    set(&c, &[&knobs[..], &["--device-read-iops", &read_iops, "--device-write-iops", &write_iops]].concat());
    let n = &disk.number;
    for (file, value) in
        [("read_bps", "1048576"), ("write_bps", "2097152"), ("read_iops", "100"), ("write_iops", "200")]
    {
        assert_eq!(c.cgroup_file(Io, &format!("blkio.throttle.{file}_device")), format!("{n} {value}"), "{file}");
    }
    // 0 lifts a throttle: the kernel drops the device's line.
    let lifted = set(&c, &["--device-read-bps", &format!("{}:0", disk.device)]);
    assert_eq!(written(&lifted), [(format!("blkio.throttle.read_bps_device [{n}]"), "0".to_owned())]);
    assert_eq!(c.cgroup_file(Io, "blkio.throttle.read_bps_device"), "");
}

/// The container's tasks get the priorities; real-time needs runtime, which needs room in
/// `docker`'s group: raised, said, and all put back by the test.
#[test]
fn real_time_runtime_raises_the_parent_and_the_tasks_get_their_priorities() {
    common::assert_root();
    let c = UserContainer::start("set-rt");
    let parent = c.cgroup_dir(Cpu).parent().unwrap().join("cpu.rt_runtime_us");
    let parent_before = std::fs::read_to_string(&parent).unwrap();
    let report = set(&c, &["--cpu-rt-runtime", "95000", "--sched", "fifo:10", "--nice", "5", "--oom-score-adj", "300"]);
    let first = &report["writes"][0];
    assert_eq!(first["ancestor"], true);
    assert_eq!(first["path"].as_str().map(Path::new), Some(parent.as_path()));
    assert_eq!(c.cgroup_file(Cpu, "cpu.rt_runtime_us"), "95000");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.pid)).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // Fields 19 (nice), 40 (rt_priority) and 41 (policy) of proc(5), counted from field 3.
    assert_eq!((fields[16], fields[37], fields[38]), ("5", "10", "1"), "nice 5, SCHED_FIFO at 10");
    assert_eq!(std::fs::read_to_string(format!("/proc/{}/oom_score_adj", c.pid)).unwrap().trim(), "300");
    let tasks: Vec<&str> = report["tasks"].as_array().unwrap().iter().map(|t| t["what"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["sched", "nice", "oom_score_adj"]);

    set(&c, &["--sched", "other", "--nice", "0", "--oom-score-adj", "0"]);
    set(&c, &["--cpu-rt-runtime", "0"]);
    drop(c);
    std::fs::write(&parent, parent_before.trim()).unwrap();
}

/// net_cls and net_prio have no hierarchy on this host: the test mounts one before the container
/// starts (so that runc gives it a cgroup there) and removes both after.
#[test]
fn net_cls_and_net_prio_on_a_hierarchy_mounted_for_the_test() {
    common::assert_root();
    let hierarchy = Path::new("/sys/fs/cgroup/net_cls,net_prio");
    std::fs::create_dir_all(hierarchy).unwrap();
    let mounted =
        Command::new("mount").args(["-t", "cgroup", "-o", "net_cls,net_prio", "none"]).arg(hierarchy).status();
    assert!(mounted.unwrap().success());
    let c = UserContainer::start("set-net");
    let report = set(&c, &["--net-cls-classid", "10:1", "--net-prio", "lo=5"]);
    let values = (c.cgroup_file(NetCls, "net_cls.classid"), c.cgroup_file(NetPrio, "net_prio.ifpriomap"));
    drop(c);
    let _ = std::fs::remove_dir(hierarchy.join("docker"));
    assert!(Command::new("umount").arg(hierarchy).status().unwrap().success());
    std::fs::remove_dir(hierarchy).unwrap();
    assert_eq!(written(&report).len(), 2);
    assert_eq!(values.0, "1048577");
    assert!(values.1.lines().any(|l| l == "lo 5"), "{}", values.1);
}

/// `--sync` records what Docker knows: `docker inspect` agrees, and a restart, which applies
/// Docker's record, keeps the values; without it a restart puts Docker's old ones back.
#[test]
fn sync_records_the_knobs_docker_knows_and_they_survive_a_restart() {
    common::assert_root();
    let c = UserContainer::start("set-sync");
    let report =
        set(&c, &["--memory", "400m", "--memory-swap", "800m", "--cpus", "1.5", "--pids-limit", "60", "--sync"]);
    assert_eq!(report["synced"]["fields"], serde_json::json!(["Memory", "MemorySwap", "NanoCpus", "PidsLimit"]));
    assert!(report["synced"]["took_ns"].as_u64().unwrap() > 0);
    let format = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}";
    assert_eq!(docker(&["inspect", "-f", format, &c.id]), "419430400 838860800 1500000000 60");
    set(&c, &["--cpu-shares", "300"]);
    docker(&["restart", "-t", "0", &c.id]);
    let mut c = c;
    c.pid = docker(&["inspect", "-f", "{{.State.Pid}}", &c.id]).parse().unwrap();
    assert_eq!(c.cgroup_file(Memory, "memory.limit_in_bytes"), "419430400");
    assert_eq!(c.cgroup_file(Cpu, "cpu.cfs_quota_us"), "150000");
    assert_eq!(c.cgroup_file(Pids, "pids.max"), "60");
    assert_eq!(c.cgroup_file(Cpu, "cpu.shares"), "1024", "not synced: the restart put Docker's back");
}
