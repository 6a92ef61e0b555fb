//! Under `--load`, in the terminal report and the Markdown one: per route and resource,
//! increases and decreases on rows of their own (they differ by orders of magnitude for CPU),
//! when the limit was applied and when the workload felt it, and the stage between the two.

use std::fmt::Write as _;

use super::Report;
use crate::{
    analysis::{effects::EffectGroup, stats::Summary},
    units::format_ns,
};

pub fn render(out: &mut String, r: &Report) {
    if r.effects.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nin effect (--load {}): medians over the trials whose effect was seen · the stage kernel applies → in effect: median · p99 [min, max]",
        serde_json::to_value(r.config.load).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{:<32}{:>5} {:>10} {:>10}   {:<40} seen / nothing to feel / missing / other",
        "", "n", "applied", "in effect", "kernel applies → in effect"
    );
    for g in &r.effects {
        let _ = writeln!(out, "{}", row(g));
    }
    for g in r.effects.iter().filter(|g| !g.notes.is_empty()) {
        let _ = writeln!(out, "  {} {} {}: {}", g.route.label(), g.resource, g.direction, g.notes.join("; "));
    }
}

/// The same as a Markdown table, each group's notes in its last column.
pub fn markdown(out: &mut String, r: &Report) {
    if r.effects.is_empty() {
        return;
    }
    out.push_str(
        "\n### In effect\n\nApplied and in effect: medians from the caller's start, over the trials whose effect was seen.\n\n| route | resource | direction | n | applied | in effect | kernel applies → in effect (median · p99) | seen | nothing to feel | missing | OOM kills | refused | notes |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for g in &r.effects {
        let median = |s: Option<Summary>| s.map(|s| format_ns(s.median_ns)).unwrap_or_default();
        let stage = g
            .applied_to_effect
            .map(|s| match within_the_write(&s) {
                true => WITHIN_THE_WRITE.to_owned(),
                false => format!("{} · {}", format_ns(s.median_ns), format_ns(s.p99_ns)),
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {stage} | {} | {} | {} | {} | {} | {} |",
            g.route.label(),
            g.resource,
            g.direction,
            g.trials,
            median(g.applied),
            median(g.in_effect),
            g.seen,
            g.nothing,
            g.missing,
            g.oom_kills,
            g.refused,
            g.notes.join("; ")
        );
    }
}

/// A memory decrease is in effect when its write returns (the write reclaimed): a stage of zero
/// in every trial says that better in words than as "0.00 ns".
const WITHIN_THE_WRITE: &str = "0: in effect as the write returns";

fn within_the_write(s: &Summary) -> bool {
    s.max_ns == 0.0
}

fn row(g: &EffectGroup) -> String {
    let label = format!("{:<14} {} {}", g.route.label(), g.resource, g.direction);
    let median = |s: Option<Summary>| s.map_or_else(|| "n/a".to_owned(), |s| format_ns(s.median_ns));
    let stage = g.applied_to_effect.map_or_else(
        || "n/a".to_owned(),
        |s| match within_the_write(&s) {
            true => WITHIN_THE_WRITE.to_owned(),
            false => format!(
                "{} · {} [{}, {}]",
                format_ns(s.median_ns),
                format_ns(s.p99_ns),
                format_ns(s.min_ns),
                format_ns(s.max_ns)
            ),
        },
    );
    let mut counts = format!("{} / {} / {}", g.seen, g.nothing, g.missing);
    if g.oom_kills > 0 {
        let _ = write!(counts, " / {} OOM kills", g.oom_kills);
    }
    if g.refused > 0 {
        let _ = write!(counts, " / {} refused", g.refused);
    }
    format!("{label:<32}{:>5} {:>10} {:>10}   {stage:<40} {counts}", g.trials, median(g.applied), median(g.in_effect))
}
