//! A benchmark report with fixed figures (the README's run), for the tests of its formats.

use super::{
    BenchReport, SCHEMA_VERSION,
    filtering::{Filtering, StormLoad, TargetStorm, UnrelatedStorm},
    overhead::{ModeOverhead, ProbeOverhead, SideFigures},
    runs::{Efficiency, Memory, Runs, Startup, TaxDuty},
    tax::SyscallTax,
};

/// Figures of one way of writing, from each side's median and p99.
fn mode(writes_per_side: usize, sides: [(f64, f64); 4]) -> ModeOverhead {
    let [detached, not_watched, filtered_out, captured] =
        sides.map(|(median_ns, p99_ns)| SideFigures { median_ns, p99_ns, median_ratio: median_ns / sides[0].0 });
    ModeOverhead {
        writes_per_side,
        detached,
        attached_not_watched: not_watched,
        attached_filtered_out: filtered_out,
        attached_captured: captured,
    }
}

pub fn report() -> BenchReport {
    BenchReport {
        schema_version: SCHEMA_VERSION,
        kernel: "6.18.44-fc-v445".into(),
        cpus: 2,
        probe_method: "syscall tracepoints".into(),
        probe_overhead: ProbeOverhead {
            open_write_close: mode(
                20_000,
                [(7_200.0, 12_300.0), (8_050.0, 13_100.0), (8_960.0, 15_000.0), (11_500.0, 16_000.0)],
            ),
            kept_open_pwrite: mode(
                20_000,
                [(1_020.0, 1_420.0), (1_840.0, 2_260.0), (2_380.0, 3_020.0), (3_300.0, 4_820.0)],
            ),
        },
        filtering: Filtering {
            unrelated_storm: UnrelatedStorm {
                load: StormLoad { storm_writes: 603_963, storm_writes_per_s: 201_321.0, cgbench_cpu_percent: 5.8 },
                target_writes: 2_700,
                target_events_delivered: 2_700,
                events_delivered: 2_701,
                foreign_events_delivered: 0,
                lost_events: 0,
            },
            target_storm: TargetStorm {
                load: StormLoad { storm_writes: 490_496, storm_writes_per_s: 163_048.0, cgbench_cpu_percent: 9.6 },
                events_delivered: 490_496,
                lost_events: 0,
                accounted_for: 490_496,
            },
        },
        syscall_tax: SyscallTax {
            syscalls_per_side: 1_000_000,
            detached_ns_per_syscall: 165.0,
            attached_ns_per_syscall: 247.0,
            tax_ns_per_syscall: 82.0,
            attach_median_ns: 1_280_000.0,
            detach_median_ns: 710_000_000.0,
        },
        runs: Some(Runs {
            startup: Startup {
                runs: 5,
                exec_to_first_trial_median_ns: 240_000_000.0,
                probe_load_attach_median_ns: 59_700_000.0,
            },
            efficiency_1000_iterations: Efficiency {
                wall_ns: 54_800_000_000,
                sum_of_trial_spans_ns: 52_500_000_000,
                sum_of_latencies_ns: 43_460_000_000,
                wall_over_trial_spans: 54.8 / 52.5,
                wall_over_latencies: 54.8 / 43.46,
            },
            syscall_tax_duty: TaxDuty {
                attached_ns: 50_600_000_000,
                wall_ns: 54_800_000_000,
                attached_share: 50.6 / 54.8,
                docker_family_trials_share: 50.3 / 54.8,
            },
            memory: Memory {
                peak_rss_kib_1000_all_routes: 30_208,
                peak_rss_kib_1000_raw_routes: 30_208,
                peak_rss_kib_10000_raw_routes: 30_208,
            },
        }),
    }
}
