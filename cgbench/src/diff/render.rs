//! A diff for the terminal, and as Markdown for a pull-request comment.

use std::fmt::Write as _;

use super::{
    compare::{Change, Diff, Verdict},
    read::Run,
};
use crate::units::format_ns;

pub fn table(diff: &Diff) -> String {
    let mut out = String::new();
    for (side, run) in [("base", &diff.base), ("new ", &diff.new)] {
        let _ = writeln!(out, "{side}  {} · {}", run.path.display(), environment(run));
    }
    if let Some(warning) = environment_warning(diff) {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(out, "{}", what_counts(diff));
    let _ = writeln!(
        out,
        "{:<22}{:>11}  {:>11}  {:>11}  {:<30}verdict",
        "", "n base/new", "base median", "new median", "change [95% CI]"
    );
    for c in &diff.changes {
        let label = format!("{:<14} {}", c.route.label(), c.resource);
        let verdict = if c.verdict == Verdict::Regressed { "REGRESSED" } else { c.verdict.word() };
        let _ = writeln!(
            out,
            "{label:<22}{:>11}  {:>11}  {:>11}  {:<30}{verdict}",
            format!("{}/{}", c.n[0], c.n[1]),
            format_ns(c.base_median_ns),
            format_ns(c.new_median_ns),
            format!("{} [{}, {}]", percent(c.percent), percent(c.percent_ci95[0]), percent(c.percent_ci95[1])),
        );
    }
    if let Some(list) = not_compared(diff) {
        let _ = writeln!(out, "not compared: {list}");
    }
    let _ = writeln!(out, "{}", counts(diff));
    out
}

pub fn markdown(diff: &Diff) -> String {
    let mut out = format!("### cgbench diff: {}\n\n", counts(diff));
    for (side, run) in [("Base", &diff.base), ("New", &diff.new)] {
        let _ = writeln!(out, "{side}: `{}` · {}  ", run.path.display(), environment(run));
    }
    if let Some(warning) = environment_warning(diff) {
        let _ = writeln!(out, "**Warning**: {warning}  ");
    }
    let _ = writeln!(out, "{}.\n", what_counts(diff));
    out.push_str("| route | resource | n base / new | base median | new median | change | 95% CI | verdict |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|---|\n");
    for c in &diff.changes {
        let _ = writeln!(out, "{}", markdown_row(c));
    }
    if let Some(list) = not_compared(diff) {
        let _ = writeln!(out, "\nNot compared: {list}.");
    }
    out
}

fn markdown_row(c: &Change) -> String {
    let verdict = match c.verdict {
        Verdict::Regressed => "**regressed**",
        other => other.word(),
    };
    format!(
        "| {} | {} | {} / {} | {} | {} | {} | {} … {} | {verdict} |",
        c.route.label(),
        c.resource,
        c.n[0],
        c.n[1],
        format_ns(c.base_median_ns),
        format_ns(c.new_median_ns),
        percent(c.percent),
        percent(c.percent_ci95[0]),
        percent(c.percent_ci95[1])
    )
}

fn environment(run: &Run) -> String {
    let e = &run.environment;
    format!(
        "cgbench {} · kernel {} · cgroups {} ({} driver) · probes: {}",
        e.cgbench_version, e.kernel, e.cgroup_layout, e.docker_cgroup_driver, e.probe_method
    )
}

fn environment_warning(diff: &Diff) -> Option<String> {
    let differences = diff.environment_differences.as_ref()?;
    Some(format!("the runs differ in {differences}: compared all the same (--force)"))
}

fn what_counts(diff: &Diff) -> String {
    format!(
        "Median latency (the caller starts → the kernel has applied the limit), new against base: a change counts when its 95% confidence interval (bootstrap of each run) excludes 0 and it is past {}%",
        diff.threshold_percent
    )
}

fn not_compared(diff: &Diff) -> Option<String> {
    let groups: Vec<String> = diff
        .not_compared
        .iter()
        .map(|(route, resource, why)| format!("{} {resource} ({why})", route.label()))
        .collect();
    (!groups.is_empty()).then(|| groups.join(", "))
}

fn counts(diff: &Diff) -> String {
    [Verdict::Regressed, Verdict::Improved, Verdict::Unchanged]
        .map(|verdict| format!("{} {}", diff.count(verdict), verdict.word()))
        .join(", ")
}

/// A change in percent, signed: `+4.2%`, `-12.0%`.
fn percent(change: f64) -> String {
    format!("{change:+.1}%")
}
