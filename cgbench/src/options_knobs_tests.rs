//! `set`'s and `stats`' flags turned into options, without the host.

use clap::Parser as _;
use serde_json::json;

use super::*;
use crate::cli::{Cli, Command};

fn set_options(args: &[&str]) -> Result<SetOptions, String> {
    let cli = Cli::try_parse_from(["cgbench", "set", "web"].iter().chain(args)).map_err(|e| e.to_string())?;
    let Command::Set(args) = cli.command else { unreachable!("a set command line") };
    SetOptions::from_args(&args).map_err(|e| e.to_string())
}

#[test]
fn docker_flags_become_the_specs_resources() {
    let opts =
        set_options(&["--memory", "400m", "--memory-swap", "-1", "--cpus", "0.5", "--pids-limit", "-1"]).unwrap();
    let spec = serde_json::to_value(&opts.settings.resources).unwrap();
    assert_eq!(
        spec,
        json!({"memory": {"limit": 419430400, "swap": -1}, "cpu": {"quota": 50000, "period": 100000}, "pids": {"limit": 0}})
    );
    assert_eq!(opts.settings.docker_cpus, Some(500_000), "--sync sends --cpus as NanoCpus");
    let opts = set_options(&[
        "--cpu-quota",
        "20000",
        "--net-cls-classid",
        "10:1",
        "--unified",
        "memory.high=1",
        "--nice",
        "-5",
    ])
    .unwrap();
    let spec = serde_json::to_value(&opts.settings.resources).unwrap();
    assert_eq!(spec["cpu"], json!({"quota": 20000}));
    assert_eq!(spec["network"], json!({"classID": 0x0010_0001}));
    assert_eq!(spec["unified"], json!({"memory.high": "1"}));
    assert_eq!((opts.settings.priorities.nice, opts.settings.docker_cpus), (Some(-5), None));
}

#[test]
fn docker_rules_are_kept_before_the_host_is_asked() {
    let refused = |args: &[&str]| set_options(args).unwrap_err();
    assert_eq!(
        refused(&["--memory", "400m", "--memory-swap", "200m"]),
        "--memory-swap must be at least --memory (it counts memory plus swap), or -1 for unlimited swap"
    );
    assert_eq!(
        refused(&["--memory", "400m", "--memory-reservation", "500m"]),
        "--memory-reservation must be below --memory"
    );
    assert_eq!(
        refused(&["--cpu-rt-runtime", "2000", "--cpu-rt-period", "1000"]),
        "--cpu-rt-runtime must not exceed --cpu-rt-period"
    );
    assert_eq!(refused(&["--oom-score-adj", "1001"]), "--oom-score-adj 1001 is out of range: use -1000 to 1000");
    assert_eq!(refused(&["--hugetlb", "3MB:1m"]), "--hugetlb: `3MB` is not a huge page size (e.g. 2MB, 1GB)");
}

#[test]
fn intervals_in_seconds_or_milliseconds() {
    assert_eq!(parse_interval("1s").unwrap(), Duration::from_secs(1));
    assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
    assert!(parse_interval("1ms").unwrap_err().to_string().contains("too short"));
    assert!(parse_interval("soon").unwrap_err().to_string().contains("not an interval"));
}
