//! The terminal report: summary table, where the time goes, honesty checks.

use std::fmt::Write as _;

use super::{Group, Report};
use crate::{
    analysis::stats::OUTLIER_Z,
    resource::{CpuGrain, Limit, Resource},
    trial::Route,
    units::{format_ns, format_signed_ns},
};

const BAR_WIDTH: f64 = 40.0;

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.environment.headline());
    let _ = writeln!(
        out,
        "{} iterations (+{} warm-up) · routes shuffled in each iteration, seed {}",
        r.config.iterations, r.config.warmup, r.config.seed
    );
    if let Some(reason) = &r.ended_early {
        let _ = writeln!(out, "PARTIAL RUN: {} trials measured before the run ended early: {reason}", r.trials.len());
    }
    let _ = writeln!(
        out,
        "{:<22}{:>5}  {:<20} {:<30} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "n", "mean ± σ", "median [95% CI]", "p90", "p99", "p99.9", "min", "max"
    );
    for g in &r.groups {
        let _ = writeln!(out, "{}", row(g));
    }
    if r.groups.iter().any(|g| g.route.runc_writes() && g.summary.is_some()) {
        let _ = writeln!(
            out,
            "\nwhere the time goes (median · p99 per stage; bars: medians, to scale within a row; the first stage is where the route enters the chain)"
        );
        for g in r.groups.iter().filter(|g| g.route.runc_writes()) {
            waterfall(&mut out, g);
        }
    }
    super::effect_table::render(&mut out, r);
    out.push('\n');
    super::floor_lines::render(&mut out, r);
    footer(&mut out, r);
    let _ = writeln!(
        out,
        "span: the caller starts (docker CLI or runc spawned, API call made, cgbench writes) → the kernel has applied the limit"
    );
    if r.groups.iter().any(|g| g.route == Route::Cri) {
        let _ = writeln!(
            out,
            "cri: measured on a pod cgbench runs on the CRI runtime (CRI cannot update Docker's containers); every other route on the Docker container"
        );
    }
    out
}

/// After the tables: the daemon's span, the speed-ups, what each layer adds, the checks and any
/// noise warning.
fn footer(out: &mut String, r: &Report) {
    let daemon: Vec<String> = r
        .groups
        .iter()
        .filter_map(|g| Some(format!("{} {} {}", g.route.label(), g.resource, format_ns(g.daemon_summary?.median_ns))))
        .collect();
    if !daemon.is_empty() {
        let _ = writeln!(
            out,
            "dockerd → applied (dockerd has read the request → the kernel has applied the limit), medians: {}",
            daemon.join(" · ")
        );
    }
    if !r.speedups.is_empty() {
        let ratios: Vec<String> =
            r.speedups.iter().map(|s| format!("{} {} ×{:.0}", s.route.label(), s.resource, s.median_ratio)).collect();
        let _ = writeln!(out, "speed-up over raw write (medians): {}", ratios.join(" · "));
    }
    layers(out, r);
    let h = &r.honesty;
    let _ = writeln!(
        out,
        "checks: lost events {} · unpaired trials {} · failed trials {} · out-of-order trials {}{}",
        h.lost_events,
        h.unpaired_trials,
        h.failed_trials,
        h.out_of_order_trials,
        if h.clean() { " · all clean" } else { " · NOT CLEAN" }
    );
    let noisy = r.noisy_groups();
    if !noisy.is_empty() {
        let list: Vec<String> =
            noisy.iter().map(|(g, outliers, n)| format!("{} {} {outliers}/{n}", g.route.label(), g.resource)).collect();
        let _ = writeln!(
            out,
            "warning: outliers (modified Z-score > {OUTLIER_Z}): {}. The machine was noisy: compare medians, or rerun on a quieter host.",
            list.join(", ")
        );
    }
    systemd_rounding(out, r);
}

/// Under Docker's systemd driver, CPU values between systemd's steps: runc asks systemd for the
/// quota rounded up, systemd writes that first, then runc writes the value asked for. The cpu
/// rows time runc's write; and since systemd writes every property of the unit at every update,
/// each later update through Docker — of memory too, which runc then does not follow with a
/// cpu.max write — leaves systemd's rounded quota in force.
fn systemd_rounding(out: &mut String, r: &Report) {
    let grain = CpuGrain::of_docker_driver(&r.environment.docker_cgroup_driver);
    let rounded: Vec<(Limit, Limit)> = r
        .trials
        .iter()
        .filter(|t| t.trial.planned.route.through_dockerd())
        .map(|t| t.trial.planned.limit)
        .filter_map(|asked| Some((asked, grain.kept(asked))).filter(|(asked, kept)| asked != kept))
        .collect();
    if let Some((asked, kept)) = rounded.first() {
        let _ = writeln!(
            out,
            "warning: Docker's systemd cgroup driver keeps CPU limits in steps of 0.01 CPU: {} docker cpu trials asked for one between steps, which systemd rounded up and set first (e.g. {asked} → {kept}) before runc set the value asked; the cpu rows time runc's write, and every later update through Docker, of memory too, set systemd's rounded value again.",
            rounded.len()
        );
    }
}

/// What each layer of the chain adds, one line per resource.
fn layers(out: &mut String, r: &Report) {
    if r.layers.is_empty() {
        return;
    }
    let _ = writeln!(out, "what each layer adds (difference of medians, route above − route below):");
    for resource in Resource::ALL {
        let of_resource: Vec<String> = r
            .layers
            .iter()
            .filter(|l| l.resource == resource)
            .map(|l| {
                format!("{} {} ({} − {})", l.name, format_signed_ns(l.median_added_ns), l.above.flag(), l.below.flag())
            })
            .collect();
        if !of_resource.is_empty() {
            let _ = writeln!(out, "  {:<7} {}", resource.to_string(), of_resource.join(" · "));
        }
    }
}

fn row(g: &Group) -> String {
    let label = format!("{:<14} {}", g.route.label(), g.resource);
    let mut line = match &g.summary {
        Some(s) => format!(
            "{label:<22}{:>5}  {:<20} {:<30} {:>9} {:>9} {:>9} {:>9} {:>9}",
            s.n,
            format!("{} ± {}", format_ns(s.mean_ns), format_ns(s.stddev_ns)),
            format!(
                "{} [{}, {}]",
                format_ns(s.median_ns),
                format_ns(s.median_ci95_ns[0]),
                format_ns(s.median_ci95_ns[1])
            ),
            format_ns(s.p90_ns),
            format_ns(s.p99_ns),
            format_ns(s.p999_ns),
            format_ns(s.min_ns),
            format_ns(s.max_ns)
        ),
        None => format!("{label:<22}{:>5}  no paired trial", 0),
    };
    if g.unpaired + g.failed > 0 {
        let _ = write!(line, "  ({} unpaired, {} failed)", g.unpaired, g.failed);
    }
    line.trim_end().to_owned()
}

fn waterfall(out: &mut String, g: &Group) {
    let _ = writeln!(out, "  {} {}", g.route.label(), g.resource);
    let total: f64 = g.stages.iter().filter_map(|s| s.median_ns).sum();
    let mut offset = 0.0;
    for stage in &g.stages {
        match (stage.median_ns, stage.p99_ns) {
            (Some(median), Some(p99)) => {
                let start = if total > 0.0 { (offset / total * BAR_WIDTH).round() as usize } else { 0 };
                let len = if total > 0.0 { ((median / total * BAR_WIDTH).round() as usize).max(1) } else { 1 };
                offset += median;
                let _ = writeln!(
                    out,
                    "    {:<42}{:>9} · {:>9}  {}{}",
                    stage.name,
                    format_ns(median),
                    format_ns(p99),
                    " ".repeat(start),
                    "█".repeat(len)
                );
            }
            _ => {
                let why = stage.missing.as_deref().unwrap_or("not seen");
                let _ = writeln!(out, "    {:<42}{:>9}   ({why})", stage.name, "n/a");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_from_fixture() {
        insta::assert_snapshot!(super::render(&super::super::fixtures::report()));
    }

    /// The fixture's docker cpu trials asked for 0.50001, 0.50003 and 0.50005 CPUs.
    #[test]
    fn under_the_systemd_driver_rounded_cpu_values_are_reported() {
        let mut report = super::super::fixtures::report();
        assert!(!super::render(&report).contains("systemd"));
        report.environment.docker_cgroup_driver = "systemd".into();
        let table = super::render(&report);
        assert!(
            table.contains("3 docker cpu trials asked for one between steps, which systemd rounded up and set first (e.g. 0.50001 CPUs → 0.51 CPUs)"),
            "{table}"
        );
    }
}
