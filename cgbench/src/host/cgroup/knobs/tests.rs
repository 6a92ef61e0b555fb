//! The mapping on fixtures: v1 files as this machine kind shows them for a container started
//! with `--memory 300m --memory-swap 1g --cpus 0.7`, and hand-made v2 files.

use std::collections::HashMap;

use oci_spec::runtime::LinuxResources;
use serde_json::json;

use super::{Controller, KnobWrite, shows, touched, v1, v2};

/// Recorded from `/sys/fs/cgroup/*/docker/<id>/` on a hybrid host (Linux 6.18, cgroupfs driver).
const V1_FILES: &[(&str, &str)] = &[
    ("memory.limit_in_bytes", "314572800"),
    ("memory.memsw.limit_in_bytes", "1073741824"),
    ("memory.soft_limit_in_bytes", "9223372036854771712"),
    ("cpu.shares", "1024"),
    ("cpu.cfs_quota_us", "70000"),
    ("cpu.cfs_period_us", "100000"),
    ("cpu.rt_runtime_us", "0"),
    ("cpu.rt_period_us", "1000000"),
    ("blkio.bfq.weight", "100"),
    ("blkio.throttle.read_bps_device", ""),
];

const V2_FILES: &[(&str, &str)] =
    &[("memory.max", "314572800"), ("cpu.max", "70000 100000"), ("io.weight", "default 100")];

fn resources(spec: serde_json::Value) -> LinuxResources {
    serde_json::from_value(spec).expect("a LinuxResources in the spec's JSON")
}

/// Every write for `spec`, controller by controller in the version's order, as `file=value`.
fn plan(version: &str, spec: serde_json::Value) -> anyhow::Result<Vec<String>> {
    let (files, knobs, order): (_, fn(_, &_, _) -> _, &[Controller]) = match version {
        "v1" => (V1_FILES, v1::writes, &v1::ORDER),
        _ => (V2_FILES, v2::writes, &v2::ORDER),
    };
    let files: HashMap<&str, &str> = files.iter().copied().collect();
    let current = |file: &str| files.get(file).map(|v| v.to_string());
    let r = resources(spec);
    let touched = touched(&r);
    let mut out = Vec::new();
    for c in order.iter().filter(|c| touched.contains(c)) {
        out.extend(knobs(*c, &r, &current)?.into_iter().map(|w: KnobWrite| format!("{}={}", w.label(), w.value)));
    }
    Ok(out)
}

fn error(version: &str, spec: serde_json::Value) -> String {
    plan(version, spec).unwrap_err().to_string()
}

#[test]
fn v1_memory_goes_first_when_it_fits_under_the_swap_limit_set_now() {
    let lowered = plan("v1", json!({"memory": {"limit": 209715200, "swap": 419430400}})).unwrap();
    assert_eq!(lowered, ["memory.limit_in_bytes=209715200", "memory.memsw.limit_in_bytes=419430400"]);
    let raised = plan("v1", json!({"memory": {"limit": 2147483648i64, "swap": 4294967296i64}})).unwrap();
    assert_eq!(raised, ["memory.memsw.limit_in_bytes=4294967296", "memory.limit_in_bytes=2147483648"]);
    let unlimited = plan("v1", json!({"memory": {"limit": -1}})).unwrap();
    assert_eq!(
        unlimited,
        ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"],
        "lifted together, as runc does"
    );
}

#[test]
fn v1_memory_reservation_and_swappiness() {
    let spec = json!({"memory": {"reservation": 104857600, "swappiness": 10}});
    assert_eq!(plan("v1", spec).unwrap(), ["memory.soft_limit_in_bytes=104857600", "memory.swappiness=10"]);
}

#[test]
fn v1_quota_and_period_are_ordered_so_the_ratio_in_between_stays_within_both_ends() {
    // 0.7 CPU now. Raising to 1.5 over a shorter period: the quota first gives 75000/100000 in
    // between, the period first 70000/50000 = 1.4, above both ends: the quota goes first.
    let shorter = plan("v1", json!({"cpu": {"quota": 75000, "period": 50000}})).unwrap();
    assert_eq!(shorter, ["cpu.cfs_quota_us=75000", "cpu.cfs_period_us=50000"]);
    // Lowering to 0.2 over a longer period: the period first would give 70000/200000 = 0.35, the
    // quota first 40000/100000 = 0.4: the period first again.
    let longer = plan("v1", json!({"cpu": {"quota": 40000, "period": 200000}})).unwrap();
    assert_eq!(longer, ["cpu.cfs_period_us=200000", "cpu.cfs_quota_us=40000"]);
    // Lowering to 0.1 over a shorter period: the period first would give 70000/10000 = 7 CPUs.
    let both_down = plan("v1", json!({"cpu": {"quota": 1000, "period": 10000}})).unwrap();
    assert_eq!(both_down, ["cpu.cfs_quota_us=1000", "cpu.cfs_period_us=10000"]);
    let unlimited = plan("v1", json!({"cpu": {"quota": -1, "period": 10000}})).unwrap();
    assert_eq!(unlimited, ["cpu.cfs_period_us=10000", "cpu.cfs_quota_us=-1"]);
}

#[test]
fn v1_cpu_shares_then_bandwidth_then_real_time() {
    let spec = json!({"cpu": {"shares": 512, "quota": 50000, "realtimeRuntime": 95000, "realtimePeriod": 1000000}});
    assert_eq!(
        plan("v1", spec).unwrap(),
        ["cpu.shares=512", "cpu.cfs_quota_us=50000", "cpu.rt_period_us=1000000", "cpu.rt_runtime_us=95000"]
    );
}

#[test]
fn v1_cpuset_before_memory_and_pids_after_cpu() {
    let spec =
        json!({"cpu": {"cpus": "0", "mems": "0", "shares": 2}, "memory": {"limit": 104857600}, "pids": {"limit": 0}});
    assert_eq!(
        plan("v1", spec).unwrap(),
        ["cpuset.cpus=0", "cpuset.mems=0", "memory.limit_in_bytes=104857600", "cpu.shares=2", "pids.max=max"]
    );
}

#[test]
fn v1_block_io_weight_goes_where_the_kernel_has_it_and_throttles_per_device() {
    let spec = json!({"blockIO": {
        "weight": 300,
        "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 0}],
    }});
    assert_eq!(
        plan("v1", spec).unwrap(),
        [
            "blkio.bfq.weight=300",
            "blkio.throttle.read_bps_device [7:0]=1048576",
            "blkio.throttle.write_iops_device [7:0]=0"
        ]
    );
}

#[test]
fn v1_network_hugepages_and_no_unified() {
    let spec = json!({
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 67108864}],
    });
    assert_eq!(
        plan("v1", spec).unwrap(),
        ["hugetlb.2MB.limit_in_bytes=67108864", "net_cls.classid=1048577", "net_prio.ifpriomap [eth0]=5"]
    );
    assert_eq!(
        error("v1", json!({"unified": {"memory.high": "1g"}})),
        "--unified memory.high: the memory controller is on cgroup v1 on this host, which has no such file; use its own flag"
    );
}

#[test]
fn v2_swap_is_apart_from_memory_and_reservation_is_memory_low() {
    let spec = json!({"memory": {"limit": 209715200, "swap": 419430400, "reservation": 104857600}});
    assert_eq!(
        plan("v2", spec).unwrap(),
        ["memory.swap.max=209715200", "memory.max=209715200", "memory.low=104857600"]
    );
    assert_eq!(plan("v2", json!({"memory": {"limit": -1}})).unwrap(), ["memory.swap.max=max", "memory.max=max"]);
    assert_eq!(
        error("v2", json!({"memory": {"limit": 419430400, "swap": 209715200}})),
        "--memory-swap must be at least --memory (it counts memory plus swap)"
    );
    assert!(error("v2", json!({"memory": {"swappiness": 0}})).starts_with("--memory-swappiness: cgroup v2 has no"));
}

#[test]
fn v2_cpu_weight_and_max_keep_what_is_not_given() {
    assert_eq!(plan("v2", json!({"cpu": {"shares": 1024}})).unwrap(), ["cpu.weight=39"]);
    assert_eq!(plan("v2", json!({"cpu": {"shares": 2}})).unwrap(), ["cpu.weight=1"]);
    assert_eq!(plan("v2", json!({"cpu": {"shares": 262144}})).unwrap(), ["cpu.weight=10000"]);
    assert_eq!(plan("v2", json!({"cpu": {"period": 50000}})).unwrap(), ["cpu.max=70000 50000"]);
    assert_eq!(plan("v2", json!({"cpu": {"quota": -1}})).unwrap(), ["cpu.max=max 100000"]);
    assert!(
        error("v2", json!({"cpu": {"realtimeRuntime": 1000}})).contains("cgroup v2 has no real-time group scheduling")
    );
}

#[test]
fn v2_io_weight_is_converted_and_throttles_share_io_max() {
    let spec = json!({"blockIO": {
        "weight": 1000,
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
    }});
    assert_eq!(plan("v2", spec).unwrap(), ["io.weight=10000", "io.max [8:0]=rbps=1048576", "io.max [8:0]=wbps=max"]);
}

#[test]
fn v2_hugepages_unified_last_and_no_network_controllers() {
    let spec = json!({
        "hugepageLimits": [{"pageSize": "1GB", "limit": -1}],
        "memory": {"limit": 209715200},
        "unified": {"memory.high": "167772160", "memory.oom.group": "1"},
    });
    assert_eq!(
        plan("v2", spec).unwrap(),
        ["memory.max=209715200", "memory.high=167772160", "memory.oom.group=1", "hugetlb.1GB.max=max"]
    );
    assert_eq!(
        error("v2", json!({"network": {"classID": 1}})),
        "cgroup v2 has no net_cls controller (it exists only in cgroup v1)"
    );
}

#[test]
fn fields_cgbench_does_not_map_are_refused_by_name() {
    let spec = json!({"memory": {"kernel": 1}});
    assert_eq!(error("v1", spec), "the resource field memory.kernel is not something cgbench set can change");
    assert!(error("v2", json!({"blockIO": {"leafWeight": 10}})).contains("blockIO.leafWeight"));
}

#[test]
fn entries_are_read_from_files_that_list_every_device() {
    let v1 = KnobWrite::keyed(Controller::Io, "blkio.throttle.read_bps_device", "7:0".into(), "0", "1048576".into());
    assert_eq!(v1.current_in("8:0 100\n7:0 2097152\n"), "2097152");
    assert_eq!(v1.current_in(""), "0");
    assert_eq!(v1.bytes("0"), "7:0 0");
    let v2 = KnobWrite::keyed(Controller::Io, "io.max", "8:0".into(), "max", "wbps=1048576".into());
    assert_eq!(v2.current_in("8:0 rbps=1 wbps=4096 riops=max wiops=max\n"), "wbps=4096");
    assert_eq!(v2.current_in("8:16 rbps=1 wbps=4096 riops=max wiops=max\n"), "wbps=max");
    let prio = KnobWrite::keyed(Controller::NetPrio, "net_prio.ifpriomap", "eth0".into(), "0", "5".into());
    assert_eq!(prio.current_in("lo 0\neth0 3\n"), "3");
}

#[test]
fn touched_controllers_include_those_named_by_unified_files() {
    let r = resources(json!({"pids": {"limit": 10}, "unified": {"io.weight": "50", "memory.high": "1"}}));
    let mut touched = touched(&r);
    touched.sort();
    assert_eq!(touched, [Controller::Memory, Controller::Pids, Controller::Io]);
}

#[test]
fn read_backs_agree_in_the_kernel_spelling() {
    assert!(shows("314572801", "314572800"), "memory is rounded down to a page");
    assert!(shows("-1", "9223372036854771712"));
    assert!(shows("-1", "max"));
    assert!(shows("0,1", "0-1"));
    assert!(shows("max 100000", "max 100000"));
    assert!(!shows("300", "200"));
    assert!(!shows("0-1", "0"));
    assert!(!shows("1024", "1023"));
}
