//! The parsers on fixtures: v1 files recorded on this machine kind (Linux 6.18, hybrid, Docker
//! 20.10 cgroupfs driver) from a container with `--memory 300m --cpus 0.5` while a shell in its
//! cgroups spun and read and wrote a loop device throttled at 100 MB/s; v2 files made by hand
//! after the kernel's documentation (cgroup-v2.rst).

use super::*;

const V1_CPU_STAT: &str = "nr_periods 9\nnr_throttled 6\nthrottled_time 299530684\nnr_bursts 0\nburst_time 0\n";
const V1_OOM_CONTROL: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
const V1_IO_BYTES: &str = "\
7:0 Read 4194304
7:0 Write 8388608
7:0 Sync 12582912
7:0 Async 0
7:0 Discard 0
7:0 Total 12582912
Total 12582912
";
const V1_IO_OPS: &str = "\
7:0 Read 8
7:0 Write 16
7:0 Sync 24
7:0 Async 0
7:0 Discard 0
7:0 Total 24
Total 24
";

const V2_CPU_STAT: &str = "\
usage_usec 376033
user_usec 372033
system_usec 4000
core_sched.force_idle_usec 0
nr_periods 9
nr_throttled 6
throttled_usec 299530
nr_bursts 0
burst_usec 0
";
const V2_MEMORY_EVENTS: &str = "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
const V2_IO_STAT: &str = "\
8:0 rbytes=4194304 wbytes=8388608 rios=8 wios=16 dbytes=0 dios=0
7:0 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0
";
const V2_MEMORY_PRESSURE: &str = "\
some avg10=1.50 avg60=0.30 avg300=0.06 total=123456
full avg10=0.00 avg60=0.00 avg300=0.00 total=2345
";

#[test]
fn v1_cpu_is_in_nanoseconds_and_counts_throttled_periods() {
    let cpu = cpu_v1(Some(["376033400", "375830241", "4000000"]), V1_CPU_STAT).unwrap();
    assert_eq!(
        cpu,
        Cpu {
            usage_ns: Some(376_033_400),
            user_ns: Some(375_830_241),
            system_ns: Some(4_000_000),
            periods: 9,
            throttled_periods: 6,
            throttled_ns: 299_530_684
        }
    );
}

#[test]
fn v2_cpu_is_converted_from_microseconds() {
    let cpu = cpu_v2(V2_CPU_STAT);
    assert_eq!((cpu.usage_ns, cpu.user_ns, cpu.system_ns), (Some(376_033_000), Some(372_033_000), Some(4_000_000)));
    assert_eq!((cpu.periods, cpu.throttled_periods, cpu.throttled_ns), (9, 6, 299_530_000));
}

#[test]
fn v1_memory_reports_the_limit_hits_and_oom_kills() {
    let memory = memory_v1("696320", "4079616", "314572800", "0", V1_OOM_CONTROL).unwrap();
    assert_eq!(memory.current, 696_320);
    assert_eq!(memory.peak, Some(4_079_616));
    assert_eq!(memory.limit, Some(314_572_800));
    assert_eq!(memory.events, [("failcnt".to_owned(), 0), ("oom_kill".to_owned(), 0)]);
    assert_eq!(memory_v1("1", "1", "9223372036854771712", "0", "").unwrap().limit, None, "no limit");
}

#[test]
fn v2_memory_events_and_a_kernel_without_peak() {
    let memory = memory_v2("696320\n", None, "max\n", V2_MEMORY_EVENTS).unwrap();
    assert_eq!((memory.current, memory.peak, memory.limit), (696_320, None, None));
    let events: Vec<(&str, u64)> = memory.events.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(events, [("low", 0), ("high", 12), ("max", 3), ("oom", 1), ("oom_kill", 1)]);
    assert_eq!(memory_v2("1", Some("4096"), "268435456", "").unwrap().peak, Some(4096));
}

#[test]
fn v1_io_takes_reads_and_writes_per_device_and_skips_totals() {
    let io = io_v1(V1_IO_BYTES, V1_IO_OPS).unwrap();
    assert_eq!(
        io,
        [DeviceIo { device: "7:0".into(), read_bytes: 4_194_304, write_bytes: 8_388_608, read_ops: 8, write_ops: 16 }]
    );
    assert_eq!(io_v1("Total 0\n", "Total 0\n").unwrap(), []);
}

#[test]
fn v2_io_stat_has_one_line_per_device() {
    let io = io_v2(V2_IO_STAT);
    assert_eq!(io.len(), 2);
    assert_eq!((io[0].device.as_str(), io[0].read_bytes, io[0].write_ops), ("8:0", 4_194_304, 16));
    assert_eq!((io[1].device.as_str(), io[1].write_bytes), ("7:0", 4096));
}

#[test]
fn pids_and_pressure() {
    assert_eq!(pids("1\n", "max\n").unwrap(), Pids { current: 1, max: None });
    assert_eq!(pids("3", "50").unwrap().max, Some(50));
    let psi = pressure("memory", V2_MEMORY_PRESSURE);
    assert_eq!(psi.len(), 2);
    assert_eq!((psi[0].kind.as_str(), psi[0].avg10, psi[0].total_us), ("some", 1.5, 123_456));
    assert_eq!((psi[1].kind.as_str(), psi[1].total_us), ("full", 2345));
}

/// A counter that does not read as a number is an error naming its file, never a 0; v1
/// without cpuacct has no time used rather than a time of 0.
#[test]
fn what_is_not_a_number_or_not_counted_is_not_a_zero() {
    let err = memory_v1("", "1", "1", "0", "").unwrap_err();
    assert_eq!(err.to_string(), "memory.usage_in_bytes holds \"\", not a number");
    assert!(pids("many", "max").is_err());
    assert!(
        io_v1("7:0 Read lots\n", "").unwrap_err().to_string().starts_with("blkio.throttle.io_service_bytes_recursive")
    );
    let uncounted = cpu_v1(None, V1_CPU_STAT).unwrap();
    assert_eq!((uncounted.usage_ns, uncounted.throttled_periods), (None, 6));
}
