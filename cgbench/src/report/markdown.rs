//! `--markdown FILE`: the summary and the stage breakdown as GitHub-flavoured Markdown tables,
//! to paste into an issue or a pull request.

use std::fmt::Write as _;

use super::{Group, Report};
use crate::units::{format_ns, format_signed_ns};

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · {} iterations (+{} warm-up), seed {}\n",
        r.environment.headline(),
        r.config.iterations,
        r.config.warmup,
        r.config.seed
    );
    if let Some(reason) = &r.ended_early {
        let _ =
            writeln!(out, "**Partial run**: {} trials measured before the run ended early: {reason}\n", r.trials.len());
    }
    out.push_str(
        "Latency: the caller starts → the kernel has applied the limit. Last column: dockerd → applied (dockerd has read the request → the kernel has applied the limit), median.\n\n",
    );
    out.push_str(
        "| route | resource | n | mean ± σ | median [95% CI] | p90 | p99 | p99.9 | min | max | unpaired | failed | dockerd → applied |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for g in &r.groups {
        let _ = writeln!(out, "{}", summary_row(g));
    }
    out.push_str(
        "\n### Where the time goes\n\n| route | resource | stage | n | median | p99 |\n|---|---|---|--:|--:|--:|\n",
    );
    for g in &r.groups {
        for s in &g.stages {
            let (median, p99) = match (s.median_ns, s.p99_ns) {
                (Some(m), Some(p)) => (format_ns(m), format_ns(p)),
                _ => (format!("n/a ({})", s.missing.as_deref().unwrap_or("not seen")), String::new()),
            };
            let _ = writeln!(out, "| {} | {} | {} | {} | {median} | {p99} |", g.route.label(), g.resource, s.name, s.n);
        }
    }
    if !r.layers.is_empty() {
        out.push_str(
            "\n### What each layer adds\n\nDifference of the median latencies of two routes that enter the chain one layer apart.\n\n| layer | resource | routes | median added |\n|---|---|---|--:|\n",
        );
        for l in &r.layers {
            let added = format_signed_ns(l.median_added_ns);
            let _ =
                writeln!(out, "| {} | {} | {} − {} | {added} |", l.name, l.resource, l.above.flag(), l.below.flag());
        }
    }
    super::effect_table::markdown(&mut out, r);
    let h = &r.honesty;
    let _ = writeln!(
        out,
        "\nChecks: lost events {} · unpaired trials {} · failed trials {} · out-of-order trials {}",
        h.lost_events, h.unpaired_trials, h.failed_trials, h.out_of_order_trials
    );
    out
}

/// A group's line of the summary table.
fn summary_row(g: &Group) -> String {
    let stats = match &g.summary {
        Some(s) => format!(
            "{} | {} ± {} | {} [{}, {}] | {} | {} | {} | {} | {}",
            s.n,
            format_ns(s.mean_ns),
            format_ns(s.stddev_ns),
            format_ns(s.median_ns),
            format_ns(s.median_ci95_ns[0]),
            format_ns(s.median_ci95_ns[1]),
            format_ns(s.p90_ns),
            format_ns(s.p99_ns),
            format_ns(s.p999_ns),
            format_ns(s.min_ns),
            format_ns(s.max_ns)
        ),
        None => "0 | | | | | | | |".to_owned(),
    };
    let daemon = g.daemon_summary.map(|d| format_ns(d.median_ns)).unwrap_or_default();
    format!("| {} | {} | {stats} | {} | {} | {daemon} |", g.route.label(), g.resource, g.unpaired, g.failed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_from_fixture() {
        insta::assert_snapshot!(super::render(&super::super::fixtures::report()));
    }
}
