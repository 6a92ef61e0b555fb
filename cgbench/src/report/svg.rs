//! `--plot FILE.svg`: the latency distribution of every route (CDF on a log-scale time axis) and
//! the stage breakdown of the routes runc writes on (stacked bars of stage medians). Plain SVG written by
//! hand: no plotting dependency, opens in any browser.

use std::fmt::Write as _;

use super::{Group, Report};
use crate::{resource::Resource, trial::Route, units::format_ns};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 220.0;
const CDF_TOP: f64 = 50.0;
const CDF_HEIGHT: f64 = 300.0;
const BAR_HEIGHT: f64 = 22.0;
/// One colour per stage name: routes that enter the chain lower share the stages below.
const STAGE_COLORS: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
    "#17becf", "#bcbd22",
];

fn route_color(route: Route) -> &'static str {
    match route {
        Route::DockerCli => "#d62728",
        Route::DockerApi => "#ff7f0e",
        Route::Cri => "#9467bd",
        Route::Containerd => "#8c564b",
        Route::Runc => "#e377c2",
        Route::Raw => "#1f77b4",
        Route::RawKeptOpen => "#2ca02c",
    }
}

/// `1 µs`, `10 µs`, `100 ms`: axis labels without the table's three significant figures.
fn decade_label(exponent: i32) -> String {
    let (unit, base) = match exponent {
        ..=2 => ("ns", 0),
        3..=5 => ("µs", 3),
        6..=8 => ("ms", 6),
        _ => ("s", 9),
    };
    format!("{} {unit}", 10u64.pow((exponent - base).max(0) as u32))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Sorted latencies of a group's paired trials.
fn latencies(r: &Report, g: &Group) -> Vec<f64> {
    let mut v: Vec<f64> = r
        .trials
        .iter()
        .filter(|t| t.trial.planned.route == g.route && t.trial.planned.limit.resource() == g.resource)
        .filter_map(|t| t.latency_ns())
        .map(|ns| ns as f64)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

pub fn render(r: &Report) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let chain_groups: Vec<&Group> = r.groups.iter().filter(|g| g.route.runc_writes() && g.summary.is_some()).collect();
    let bars_top = CDF_TOP + CDF_HEIGHT + 90.0;
    let legend_lines = stage_names(&chain_groups).len().div_ceil(3) as f64;
    let height = bars_top + chain_groups.len() as f64 * (BAR_HEIGHT + 12.0) + legend_lines * 18.0 + 34.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">Limit enforcement latency: CDF per route (log scale)</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="40" fill="#555">{}</text>"##,
        escape(&format!("{} · {} iterations", r.environment.headline(), r.config.iterations))
    );

    cdf(&mut s, r, plot_width);
    stage_bars(&mut s, &chain_groups, bars_top, plot_width);
    s.push_str("</svg>\n");
    s
}

/// Every stage name of the groups drawn, in order of first appearance: one colour each.
fn stage_names<'a>(chain_groups: &[&'a Group]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in chain_groups.iter().flat_map(|g| g.stages.iter().map(|st| st.name)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The latency CDF of every group, on a log-scale time axis, with its legend. Long, because
/// the grid and the curves share the two axis transforms (`x`, `y`), closures over the decade
/// range: split, they would have to be passed around for no gain in reading.
fn cdf(s: &mut String, r: &Report, plot_width: f64) {
    let all: Vec<f64> = r.groups.iter().flat_map(|g| latencies(r, g)).filter(|&v| v > 0.0).collect();
    if let (Some(lo), Some(hi)) = (all.iter().copied().reduce(f64::min), all.iter().copied().reduce(f64::max)) {
        let (lo_dec, hi_dec) = (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0));
        let x = |ns: f64| LEFT + (ns.max(1.0).log10() - lo_dec) / (hi_dec - lo_dec) * plot_width;
        let y = |q: f64| CDF_TOP + CDF_HEIGHT - q * CDF_HEIGHT;
        // Axes, decade grid and labels.
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{CDF_TOP}" width="{plot_width}" height="{CDF_HEIGHT}" fill="none" stroke="#333"/>"##
        );
        for dec in (lo_dec as i32)..=(hi_dec as i32) {
            let ns = 10f64.powi(dec);
            let gx = x(ns);
            let _ = writeln!(
                s,
                r##"<line x1="{gx:.1}" y1="{CDF_TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                CDF_TOP + CDF_HEIGHT,
                CDF_TOP + CDF_HEIGHT + 16.0,
                decade_label(dec)
            );
        }
        for q in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
            let gy = y(q);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{q}</text>"##,
                LEFT + plot_width,
                LEFT - 6.0,
                gy + 4.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency (time to enforced limit)</text>"#,
            LEFT + plot_width / 2.0,
            CDF_TOP + CDF_HEIGHT + 34.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">fraction of trials</text>"#,
            CDF_TOP + CDF_HEIGHT / 2.0
        );
        // One step curve per group, with its legend entry.
        for (i, g) in r.groups.iter().enumerate() {
            let v = latencies(r, g);
            if v.is_empty() {
                continue;
            }
            let mut d = format!("M{:.1},{:.1}", x(v[0]), y(0.0));
            for (k, ns) in v.iter().enumerate() {
                let _ = write!(
                    d,
                    " L{:.1},{:.1} L{:.1},{:.1}",
                    x(*ns),
                    y(k as f64 / v.len() as f64),
                    x(*ns),
                    y((k + 1) as f64 / v.len() as f64)
                );
            }
            let dash = if g.resource == Resource::Cpu { r#" stroke-dasharray="6 3""# } else { "" };
            let color = route_color(g.route);
            let _ = writeln!(s, r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#);
            let ly = CDF_TOP + 12.0 + i as f64 * 18.0;
            let lx = LEFT + plot_width + 14.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{} {}</text>"#,
                lx + 24.0,
                lx + 30.0,
                ly + 4.0,
                g.route.label(),
                g.resource
            );
        }
    }
}

/// The stage breakdown of the routes runc writes on: stacked medians, each bar scaled to its
/// own total, and the legend of stage colours.
fn stage_bars(s: &mut String, chain_groups: &[&Group], bars_top: f64, plot_width: f64) {
    let stage_names = stage_names(chain_groups);
    let color =
        |name: &str| STAGE_COLORS[stage_names.iter().position(|&n| n == name).unwrap_or(0) % STAGE_COLORS.len()];
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-size="15" font-weight="bold">Where the time goes: stage medians (each bar to its own total)</text>"#,
        bars_top - 20.0
    );
    for (row, g) in chain_groups.iter().enumerate() {
        let top = bars_top + row as f64 * (BAR_HEIGHT + 12.0);
        let total: f64 = g.stages.iter().filter_map(|st| st.median_ns).sum();
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{} {}</text>"#,
            LEFT + 150.0 - 6.0,
            top + BAR_HEIGHT / 2.0 + 4.0,
            g.route.label(),
            g.resource
        );
        let mut offset = LEFT + 150.0;
        let width = plot_width - 150.0;
        for st in &g.stages {
            let Some(median) = st.median_ns.filter(|_| total > 0.0) else { continue };
            let w = median / total * width;
            let _ = writeln!(
                s,
                r#"<rect x="{offset:.1}" y="{top:.1}" width="{w:.1}" height="{BAR_HEIGHT}" fill="{}"><title>{}: {}</title></rect>"#,
                color(st.name),
                escape(st.name),
                format_ns(median)
            );
            offset += w;
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            offset + 6.0,
            top + BAR_HEIGHT / 2.0 + 4.0,
            format_ns(total)
        );
    }
    let legend_top = bars_top + chain_groups.len() as f64 * (BAR_HEIGHT + 12.0) + 10.0;
    for (k, name) in stage_names.iter().enumerate() {
        let (col, line) = (k % 3, k / 3);
        let lx = LEFT + col as f64 * 280.0;
        let ly = legend_top + line as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            color(name),
            lx + 18.0,
            ly + 10.0,
            escape(name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_has_a_curve_per_group_and_a_bar_per_docker_group() {
        let r = super::super::fixtures::report();
        let svg = render(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let curves = svg.matches("<path ").count();
        assert_eq!(curves, r.groups.iter().filter(|g| g.summary.is_some()).count());
        assert!(svg.contains("docker update memory"));
        assert!(svg.contains("kernel applies the limit"));
        assert!(!svg.contains("NaN"), "no NaN may reach the picture");
    }

    #[test]
    fn decades_are_labelled_plainly() {
        assert_eq!(decade_label(3), "1 µs");
        assert_eq!(decade_label(7), "10 ms");
        assert_eq!(decade_label(2), "100 ns");
        assert_eq!(decade_label(9), "1 s");
    }
}
