//! The benchmark's figures for people, with the target each is held to.

use std::fmt::Write as _;

use super::{
    BenchReport,
    filtering::Filtering,
    overhead::{ProbeOverhead, Side},
    runs::Runs,
    tax::SyscallTax,
};
use crate::units::format_ns;

const KIB_PER_MIB: f64 = 1024.0;

pub fn render(report: &BenchReport) -> String {
    let mut out = format!(
        "cgbench bench · kernel {} · {} CPUs · probes: {}\n\n",
        report.kernel, report.cpus, report.probe_method
    );
    overhead(&mut out, &report.probe_overhead);
    filtering(&mut out, &report.filtering);
    tax(&mut out, &report.syscall_tax);
    if let Some(runs) = &report.runs {
        self::runs(&mut out, runs);
    }
    out
}

fn overhead(out: &mut String, overhead: &ProbeOverhead) {
    out.push_str("probe overhead on raw writes, interleaved blocks: median / p99 (ratio of medians to detached; target for captured ≤ 1.05)\n");
    let _ = write!(out, "  {:<18}{:>8}", "", "writes");
    for side in Side::ALL {
        let _ = write!(out, "  {:>30}", side.label());
    }
    out.push('\n');
    for (mode, figures) in
        [("open write close", &overhead.open_write_close), ("kept open pwrite", &overhead.kept_open_pwrite)]
    {
        let _ = write!(out, "  {mode:<18}{:>8}", figures.writes_per_side);
        for side in Side::ALL {
            let side = figures.side(side);
            let cell = format!("{} / {} ({:.2})", format_ns(side.median_ns), format_ns(side.p99_ns), side.median_ratio);
            let _ = write!(out, "  {cell:>30}");
        }
        out.push('\n');
    }
}

fn filtering(out: &mut String, filtering: &Filtering) {
    let u = &filtering.unrelated_storm;
    let _ = writeln!(
        out,
        "\nstorm on an unrelated cgroup + a plain file: {:.0} writes/s · foreign events delivered {} (target 0) · lost {} (target 0) · cgbench CPU {:.1} %",
        u.load.storm_writes_per_s, u.foreign_events_delivered, u.lost_events, u.load.cgbench_cpu_percent
    );
    let t = &filtering.target_storm;
    let _ = writeln!(
        out,
        "storm on the target itself: {:.0} writes/s (target ≥ 200000) · delivered {} + lost {} (target 0) = {} of {} writes · cgbench CPU {:.1} %",
        t.load.storm_writes_per_s,
        t.events_delivered,
        t.lost_events,
        t.accounted_for,
        t.load.storm_writes,
        t.load.cgbench_cpu_percent
    );
}

fn tax(out: &mut String, tax: &SyscallTax) {
    let _ = writeln!(
        out,
        "\nsyscall tax on a process cgbench does not watch (getppid, {} a side): {} detached → {} attached, +{} per syscall · attach {} · detach {}",
        tax.syscalls_per_side,
        format_ns(tax.detached_ns_per_syscall),
        format_ns(tax.attached_ns_per_syscall),
        format_ns(tax.tax_ns_per_syscall),
        format_ns(tax.attach_median_ns),
        format_ns(tax.detach_median_ns)
    );
}

fn runs(out: &mut String, runs: &Runs) {
    let s = &runs.startup;
    let _ = writeln!(
        out,
        "\nstart-up (median of {}): exec → first trial {} (target ≤ 1 s) · probe load + attach {}",
        s.runs,
        format_ns(s.exec_to_first_trial_median_ns),
        format_ns(s.probe_load_attach_median_ns)
    );
    let e = &runs.efficiency_1000_iterations;
    let _ = writeln!(
        out,
        "1000-iteration run (all routes): wall {} · Σ trial spans {} · wall/Σ spans {:.3} (target ≤ 1.15) · wall/Σ latencies {:.3}",
        format_ns(e.wall_ns as f64),
        format_ns(e.sum_of_trial_spans_ns as f64),
        e.wall_over_trial_spans,
        e.wall_over_latencies
    );
    let d = &runs.syscall_tax_duty;
    let _ = writeln!(
        out,
        "the host pays the syscall tax {:.1} % of that run ({} of {}; target: only the docker-family trials' share, {:.1} %)",
        d.attached_share * 100.0,
        format_ns(d.attached_ns as f64),
        format_ns(d.wall_ns as f64),
        d.docker_family_trials_share * 100.0
    );
    let m = &runs.memory;
    let _ = writeln!(
        out,
        "peak RSS: 1000 iterations all routes {:.1} MiB (target ≤ 50) · raw routes 1000 → 10000 iterations: {:.1} → {:.1} MiB (target: the same ± 1 MiB, ≤ 30)",
        m.peak_rss_kib_1000_all_routes as f64 / KIB_PER_MIB,
        m.peak_rss_kib_1000_raw_routes as f64 / KIB_PER_MIB,
        m.peak_rss_kib_10000_raw_routes as f64 / KIB_PER_MIB
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_fixture() {
        insta::assert_snapshot!(render(&super::super::fixture::report()));
    }
}
