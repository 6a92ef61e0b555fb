//! The terminal report's lines on the instrument: how each route was timed, each raw route
//! against its floor, and what the syscall tracepoints cost the host.

use std::fmt::Write as _;

use super::Report;
use crate::{analysis::TimedBy, units::format_ns};

pub fn render(out: &mut String, r: &Report) {
    let timed_by = |by: TimedBy| {
        let mut routes: Vec<&str> = r.groups.iter().filter(|g| g.timed_by == by).map(|g| g.route.label()).collect();
        routes.dedup();
        (!routes.is_empty()).then(|| format!("{} ({})", by.label(), routes.join(", ")))
    };
    let ways: Vec<String> = [TimedBy::KernelEvents, TimedBy::CallerClock].into_iter().filter_map(timed_by).collect();
    if ways.len() > 1 || r.groups.iter().any(|g| g.timed_by == TimedBy::CallerClock) {
        let _ = writeln!(out, "timed by: {}", ways.join(" · "));
    }
    if !r.floor.is_empty() {
        let floors: Vec<String> = r
            .floor
            .iter()
            .map(|f| {
                let ratio = f.route_over_floor.map(|x| format!(" (route ×{x:.2})")).unwrap_or_default();
                format!("{} {} {}{ratio}", f.route.label(), f.resource, format_ns(f.median_ns))
            })
            .collect();
        let _ = writeln!(
            out,
            "floor (the same writes beside each raw trial, outside it, nothing of cgbench around them), medians: {}",
            floors.join(" · ")
        );
    }
    if let Some(tax) = r.syscall_tax.filter(|t| t.detaches > 0) {
        let _ = writeln!(
            out,
            "syscall tracepoints (a tax on every syscall of the host) attached {} in all: detached {}× ({} in all), attached {}× ({})",
            format_ns(tax.attached_ns as f64),
            tax.detaches,
            format_ns(tax.detach_ns as f64),
            tax.attaches,
            format_ns(tax.attach_ns as f64)
        );
    }
}
