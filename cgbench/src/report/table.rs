//! The terminal table.

use std::fmt::Write as _;

use super::Report;
use crate::{plan::Route, units::format_ns};

pub fn render(r: &Report) -> String {
    let env = &r.environment;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cgbench {} · kernel {} · {} · docker {} (CLI {}) · probes: {}",
        env.cgbench_version,
        env.kernel,
        env.cgroup_layout,
        env.docker_server_version,
        env.docker_cli_version,
        env.probe_method
    );
    let _ = writeln!(
        out,
        "{:<22}{:>6}  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "n", "mean", "median", "p90", "p99", "min", "max"
    );
    for g in &r.groups {
        let label = format!("{:<14} {}", g.route.label(), g.resource);
        match &g.summary {
            Some(s) => {
                let _ = write!(
                    out,
                    "{label:<22}{:>6}  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    s.n,
                    format_ns(s.mean_ns),
                    format_ns(s.median_ns),
                    format_ns(s.p90_ns),
                    format_ns(s.p99_ns),
                    format_ns(s.min_ns),
                    format_ns(s.max_ns)
                );
            }
            None => {
                let _ = write!(out, "{label:<22}{:>6}  no paired trial", 0);
            }
        }
        let missing = g.unpaired + g.failed;
        if missing > 0 {
            let _ = write!(out, "  ({} unpaired, {} failed)", g.unpaired, g.failed);
        }
        out.push('\n');
    }
    let speedups: Vec<String> = r.speedups.iter().map(|s| format!("{} ×{:.0}", s.resource, s.median_ratio)).collect();
    let _ = writeln!(
        out,
        "speed-up (median): {} · lost events {} · unpaired trials {}{}",
        if speedups.is_empty() { "n/a".into() } else { speedups.join(", ") },
        r.lost_events,
        r.unpaired_trials,
        if r.failed_trials > 0 { format!(" · failed trials {}", r.failed_trials) } else { String::new() }
    );
    let _ = writeln!(
        out,
        "spans: {} = dockerd reads the request → the kernel has applied the limit; {} = open() → the kernel has applied the limit",
        Route::DockerCli.label(),
        Route::Raw.label()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_fixture() {
        let expected = "\
cgbench 0.1.0 · kernel 6.18.44 · cgroup v1 (hybrid) · docker 20.10.24+dfsg1 (CLI 28.2.2) · probes: tracepoints
                           n       mean    median       p90       p99       min       max
docker update  memory      2    30.8 ms   30.8 ms   31.1 ms   31.2 ms   30.4 ms   31.2 ms
docker update  cpu         1    32.0 ms   32.0 ms   32.0 ms   32.0 ms   32.0 ms   32.0 ms  (1 unpaired, 0 failed)
raw write      memory      2    6.00 µs   6.00 µs   6.08 µs   6.10 µs   5.90 µs   6.10 µs
raw write      cpu         2    5.10 µs   5.10 µs   5.26 µs   5.30 µs   4.90 µs   5.30 µs
speed-up (median): memory ×5133, cpu ×6275 · lost events 0 · unpaired trials 1
spans: docker update = dockerd reads the request → the kernel has applied the limit; raw write = open() → the kernel has applied the limit
";
        assert_eq!(render(&super::super::fixtures::report()), expected);
    }
}
