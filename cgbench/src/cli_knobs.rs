//! The command lines of `set` and `stats`, as clap sees them. Docker's flag names and value
//! syntax wherever Docker has the knob, so people's habits work; new names only for the rest.

use clap::Args;

#[derive(Args, Debug)]
#[command(next_help_heading = "Knobs Docker has (as docker update / docker run spell them)")]
pub struct SetArgs {
    /// The running container (name or id) whose own cgroups to change.
    pub container: String,
    /// Memory limit: bytes, or a number with k, m or g (at least 6m, as Docker wants).
    #[arg(long, short = 'm', value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap; -1 for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Soft limit (v1 memory.soft_limit_in_bytes, v2 memory.low).
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// How readily the container's pages are swapped, 0-100 (v1 only).
    #[arg(long, value_name = "0-100")]
    pub memory_swappiness: Option<u64>,
    /// Number of CPUs, as a quota over Docker's 100 ms period.
    #[arg(long, value_name = "DECIMAL", conflicts_with_all = ["cpu_quota", "cpu_period"])]
    pub cpus: Option<String>,
    /// CFS period in µs (1000-1000000).
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CFS quota in µs per period (at least 1000), -1 for none.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Relative CPU weight (2-262144; v2 cpu.weight by runc's conversion).
    #[arg(long, short = 'c', value_name = "SHARES")]
    pub cpu_shares: Option<u64>,
    /// Real-time runtime in µs per real-time period (v1 only); raises the parent groups as needed.
    #[arg(long, value_name = "US")]
    pub cpu_rt_runtime: Option<i64>,
    /// Real-time period in µs (v1 only).
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<u64>,
    /// CPUs the container may run on (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Most tasks the container may have; -1 for no limit.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10-1000.
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Read rate limit of a device: PATH:RATE (bytes with k, m, g). PATH is a block device or any
    /// path on a mounted disk; 0 lifts the limit. Repeatable.
    #[arg(long, value_name = "PATH:RATE")]
    pub device_read_bps: Vec<String>,
    /// Write rate limit of a device, as --device-read-bps.
    #[arg(long, value_name = "PATH:RATE")]
    pub device_write_bps: Vec<String>,
    /// Read operations per second of a device: PATH:COUNT.
    #[arg(long, value_name = "PATH:COUNT")]
    pub device_read_iops: Vec<String>,
    /// Write operations per second of a device: PATH:COUNT.
    #[arg(long, value_name = "PATH:COUNT")]
    pub device_write_iops: Vec<String>,

    /// net_cls class id of the container's packets (v1 only): tc's MAJOR:MINOR in hex, or 0x….
    #[arg(long, value_name = "CLASSID", help_heading = "Knobs Docker lacks")]
    pub net_cls_classid: Option<String>,
    /// net_prio priority of the container's traffic on an interface (v1 only): IFACE=PRIO. Repeatable.
    #[arg(long, value_name = "IFACE=PRIO", help_heading = "Knobs Docker lacks")]
    pub net_prio: Vec<String>,
    /// Huge page limit: PAGESIZE:LIMIT (e.g. 2MB:64m). Repeatable.
    #[arg(long, value_name = "SIZE:LIMIT", help_heading = "Knobs Docker lacks")]
    pub hugetlb: Vec<String>,
    /// Any cgroup v2 file of a controller: FILE=VALUE (e.g. memory.high=268435456). Repeatable.
    #[arg(long, value_name = "FILE=VALUE", help_heading = "Knobs Docker lacks")]
    pub unified: Vec<String>,

    /// Nice value of every task of the container, -20 to 19.
    #[arg(long, value_name = "N", allow_hyphen_values = true, help_heading = "Priorities of the container's tasks")]
    pub nice: Option<i32>,
    /// Scheduling policy of every task: fifo:PRIO or rr:PRIO (1-99; v1 needs --cpu-rt-runtime), other, batch, idle.
    #[arg(long, value_name = "POLICY", help_heading = "Priorities of the container's tasks")]
    pub sched: Option<String>,
    /// OOM score adjustment of every process, -1000 to 1000.
    #[arg(long, value_name = "N", allow_hyphen_values = true, help_heading = "Priorities of the container's tasks")]
    pub oom_score_adj: Option<i32>,

    /// Check and print what would change; write nothing.
    #[arg(long, help_heading = "Output")]
    pub dry_run: bool,
    /// Print the outcome as one JSON object.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Then record the knobs Docker knows in Docker (Engine API), timed apart, so that a later
    /// docker update or a restart keeps them.
    #[arg(long, help_heading = "Output")]
    pub sync: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// The running container (name or id).
    pub container: String,
    /// Sample again every INTERVAL (e.g. 1s, 500ms) until interrupted, with rates per second.
    #[arg(long, value_name = "INTERVAL")]
    pub watch: Option<String>,
    /// One JSON object per sample.
    #[arg(long)]
    pub json: bool,
}
