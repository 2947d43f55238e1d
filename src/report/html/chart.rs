//! The report's line chart (prices, staleness, lag): the value scale, the
//! plot and its value axis, incident windows, one polyline per venue,
//! markers on the lines, and the legend.
//!
//! It draws what it is given and must never decide what is shown (the
//! sections in `html.rs` choose lines, windows and markers); every text
//! from data goes through [`escape`], and no series makes it panic.

use super::{Frame, MB, ML, MR, MT, W, ms, severity_colour, svg_open, time_axis, window_colour};
use crate::alert::{Kind, Severity, State};
use crate::model::Nanos;
use crate::report::series::Series;
use crate::report::svg::{Scale, escape, label, nice_ticks, polylines, px};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A line on a chart: one venue's series.
pub(super) struct Line<'a> {
    pub(super) venue: &'a str,
    pub(super) metric: &'static str,
    pub(super) symbol: Option<&'a str>,
    pub(super) series: &'a Series,
}

/// A shaded window on a chart.
pub(super) struct Window<'a> {
    pub(super) kind: Kind,
    pub(super) venue: &'a str,
    pub(super) from: Nanos,
    pub(super) to: Nanos,
    pub(super) title: String,
}

/// A flagged moment on a chart.
pub(super) struct Marker<'a> {
    pub(super) kind: Kind,
    pub(super) venue: &'a str,
    pub(super) at: Nanos,
    pub(super) severity: Severity,
    pub(super) state: State,
    pub(super) title: &'a str,
}

/// A line chart over the page's time range.
#[allow(clippy::too_many_arguments)]
pub(super) fn line_chart(
    h: &mut String,
    f: &Frame,
    chart: &str,
    extra: &str,
    unit: &str,
    zero_floor: bool,
    lines: &[Line<'_>],
    windows: &[Window<'_>],
    markers: &[Marker<'_>],
) {
    let plot_h = 220.0;
    let height = MT + plot_h + MB;
    let x = f.x();
    let y = value_scale(lines, zero_floor, plot_h);
    svg_open(h, chart, extra, height, &x, Some(&y));
    plot_area(h, &y, unit, plot_h);
    time_axis(h, &x, MT, MT + plot_h);
    window_rects(h, &x, windows, plot_h);
    series_lines(h, f, &x, &y, lines);
    marker_marks(h, &x, &y, lines, markers, plot_h);
    legend(h, f, lines, plot_h);
    h.push_str("</svg>\n");
}

/// The value scale of a chart: the lines' range padded by 5 %, or from
/// zero (and up to at least 1) when `zero_floor`.
fn value_scale(lines: &[Line<'_>], zero_floor: bool, plot_h: f64) -> Scale {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for l in lines {
        if let Some((_, v)) = l.series.min() {
            lo = lo.min(v);
        }
        if let Some((_, v)) = l.series.max() {
            hi = hi.max(v);
        }
    }
    if zero_floor {
        lo = if lo.is_finite() { lo.min(0.0) } else { 0.0 };
        if !hi.is_finite() || hi < 1.0 {
            hi = 1.0;
        }
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.0 };
    let y0 = if zero_floor { lo } else { lo - pad };
    Scale::new(y0, hi + pad, MT + plot_h, MT)
}

/// The plot's frame and its value axis: grid lines and labels in `unit`.
fn plot_area(h: &mut String, y: &Scale, unit: &str, plot_h: f64) {
    let _ = writeln!(
        h,
        "<rect class=\"plot\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#ccc\"/>",
        px(ML),
        px(MT),
        px(W - ML - MR),
        px(plot_h)
    );
    h.push_str("<g class=\"axis value\">\n");
    for v in nice_ticks(y.d0, y.d1, 5) {
        let yp = px(y.map(v));
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{yp}\" y2=\"{yp}\"/><text x=\"{}\" y=\"{yp}\" dy=\"4\" text-anchor=\"end\">{}{}</text>",
            px(ML),
            px(W - MR),
            px(ML - 6.0),
            escape(&label(v)),
            escape(unit)
        );
    }
    h.push_str("</g>\n");
}

/// Incident windows shaded over the plot.
fn window_rects(h: &mut String, x: &Scale, windows: &[Window<'_>], plot_h: f64) {
    for w in windows {
        let x0 = x.map(ms(w.from) as f64);
        let x1 = x.map(ms(w.to) as f64).max(x0 + 1.0);
        let _ = writeln!(
            h,
            "<rect class=\"window\" data-kind=\"{}\" data-venue=\"{}\" data-from-ms=\"{}\" data-to-ms=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.15\"><title>{}</title></rect>",
            w.kind,
            escape(w.venue),
            ms(w.from),
            ms(w.to),
            px(x0),
            px(MT),
            px(x1 - x0),
            px(plot_h),
            window_colour(w.kind),
            escape(&w.title)
        );
    }
}

/// One polyline per line, broken where the series has a gap.
fn series_lines(h: &mut String, f: &Frame, x: &Scale, y: &Scale, lines: &[Line<'_>]) {
    for l in lines {
        let colour = f.colour(l.venue);
        let gap = (l.series.width_ms() * 3).max(5_000);
        let (max_at, max_v) = l.series.max().unwrap_or((0, f64::NAN));
        for pts in polylines(&l.series.points(), x, y, gap) {
            let _ = writeln!(
                h,
                "<polyline class=\"series\" data-venue=\"{}\" data-metric=\"{}\" data-symbol=\"{}\" data-max=\"{}\" data-max-at-ms=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{pts}\"/>",
                escape(l.venue),
                l.metric,
                escape(l.symbol.unwrap_or("")),
                max_v,
                max_at
            );
        }
    }
}

/// Flagged moments: a dashed line and a dot per marker.
fn marker_marks(
    h: &mut String,
    x: &Scale,
    y: &Scale,
    lines: &[Line<'_>],
    markers: &[Marker<'_>],
    plot_h: f64,
) {
    // Markers sit on their venue's line at that moment, or at the top
    // when the venue has no line here.
    let mut point_cache: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
    for m in markers {
        let pts = point_cache.entry(m.venue).or_insert_with(|| {
            lines
                .iter()
                .find(|l| l.venue == m.venue)
                .map(|l| l.series.points())
                .unwrap_or_default()
        });
        let t = ms(m.at);
        let i = pts.partition_point(|p| p.0 <= t);
        let v = pts.get(i.saturating_sub(1)).map(|p| p.1);
        let xp = x.map(t as f64);
        let yp = v.map_or(MT + 6.0, |v| y.map(v));
        let _ = writeln!(
            h,
            "<line class=\"marker-line\" x1=\"{xp}\" x2=\"{xp}\" y1=\"{}\" y2=\"{}\" stroke=\"{c}\" stroke-dasharray=\"3,3\"/><circle class=\"marker\" data-kind=\"{}\" data-venue=\"{}\" data-state=\"{}\" data-severity=\"{}\" data-at-ms=\"{t}\" cx=\"{xp}\" cy=\"{}\" r=\"5\" fill=\"{c}\" stroke=\"#fff\"><title>{}</title></circle>",
            px(MT),
            px(MT + plot_h),
            m.kind,
            escape(m.venue),
            m.state.name(),
            m.severity.name(),
            px(yp),
            escape(m.title),
            xp = px(xp),
            c = severity_colour(m.severity),
        );
    }
}

/// The legend under the plot (one swatch per line), or "no samples".
fn legend(h: &mut String, f: &Frame, lines: &[Line<'_>], plot_h: f64) {
    // Legend: one swatch per line.
    let mut lx = ML;
    let ly = MT + plot_h + 32.0;
    for l in lines {
        let name = escape(l.venue);
        let _ = writeln!(
            h,
            "<g class=\"legend\" data-venue=\"{name}\"><rect x=\"{}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{name}</text></g>",
            px(lx),
            px(ly - 4.0),
            f.colour(l.venue),
            px(lx + 18.0),
            px(ly),
        );
        lx += 30.0 + l.venue.len() as f64 * 6.5;
    }
    if lines.is_empty() {
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no samples</text>",
            px((ML + W - MR) / 2.0),
            px(MT + plot_h / 2.0)
        );
    }
}
