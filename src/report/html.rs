//! The report page: one self-contained HTML file (inline CSS, inline SVG
//! drawn here, no script, no external asset) with a header, the incidents
//! of each venue on a timeline, price charts per symbol with anomalies
//! marked, staleness and lag per venue, and the table of alerts.
//!
//! Every text that came from data (summaries, venue ids, symbols, file
//! names) goes through [`escape`]. Chart elements carry `data-*`
//! attributes (kind, venue, times in Unix ms, the scale of each plot) so
//! tools and tests can read what is drawn without parsing pixels. It never
//! panics on any series or alert. The line chart itself is drawn in
//! `html/chart.rs`.

use super::Report;
use super::collect::Incident;
use super::svg::{Scale, escape, px, time_step_ms};
use crate::alert::{Kind, Severity, State};
use crate::model::{MILLI, Nanos, format_rfc3339_ms};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

mod chart;

use chart::{Line, Marker, Window, line_chart};

/// Width of every chart (SVG user units; the page scales it).
const W: f64 = 1100.0;
/// Left margin: lane names and axis labels.
const ML: f64 = 150.0;
/// Right margin.
const MR: f64 = 20.0;
/// Top margin of a chart.
const MT: f64 = 14.0;
/// Bottom margin: time labels and the legend.
const MB: f64 = 46.0;
/// Height of one incident bar and the gap under it.
const BAR_H: f64 = 16.0;
const BAR_GAP: f64 = 4.0;

/// Colours of venues on line charts (by position among all venues, so a
/// venue has one colour on every chart).
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#d62728",
];

/// Kinds whose moments are marked on the price charts.
const MARKER_KINDS: [Kind; 3] = [
    Kind::PriceDivergence,
    Kind::AbnormalCandle,
    Kind::CandleInvalid,
];

/// Kinds whose windows are shaded: data missing from a venue.
const OUTAGE_KINDS: [Kind; 5] = [
    Kind::VenueOutage,
    Kind::SharedOutage,
    Kind::LocalStall,
    Kind::FeedSilent,
    Kind::ConnectionLost,
];

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#c0392b",
        Severity::Warning => "#e67e22",
        Severity::Info => "#2e86c1",
    }
}

fn window_colour(k: Kind) -> &'static str {
    match k {
        Kind::FeedLagging => "#f1c40f",
        Kind::LocalStall => "#7f8c8d",
        Kind::SharedOutage => "#8e44ad",
        _ => "#e74c3c",
    }
}

fn ms(ns: Nanos) -> i64 {
    ns.div_euclid(MILLI)
}

/// `HH:MM:SS` of an engine time.
fn clock(ns: Nanos) -> String {
    let t = format_rfc3339_ms(ns);
    t.get(11..19).map_or_else(|| t.clone(), str::to_string)
}

/// The page's time range and venue colours.
struct Frame {
    t0: Nanos,
    t1: Nanos,
    colours: BTreeMap<String, &'static str>,
}

impl Frame {
    fn new(r: &Report) -> Frame {
        let mut t0 = r.sampler.first_ns;
        let mut t1 = r.sampler.last_ns;
        for a in &r.book.alerts {
            t0 = Some(t0.map_or(a.at, |t| t.min(a.at)));
            t1 = Some(t1.map_or(a.at, |t| t.max(a.at)));
        }
        let t0 = t0.unwrap_or(0);
        let t1 = t1.unwrap_or(t0).max(t0 + crate::model::SECOND);
        let mut venues: BTreeSet<String> = r.sampler.venues.iter().cloned().collect();
        venues.extend(r.book.incidents.iter().map(|i| i.venue.to_string()));
        let colours = venues
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#333")))
            .collect();
        Frame { t0, t1, colours }
    }

    fn x(&self) -> Scale {
        Scale::new(ms(self.t0) as f64, ms(self.t1) as f64, ML, W - MR)
    }

    fn colour(&self, venue: &str) -> &'static str {
        self.colours.get(venue).copied().unwrap_or("#333")
    }

    /// Where an incident's bar or window ends: resolved, else the end.
    fn end_of(&self, i: &Incident) -> Nanos {
        i.resolved_ns.unwrap_or(self.t1)
    }
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let f = Frame::new(r);
    let mut h = String::with_capacity(64 * 1024 + r.book.alerts.len() * 400);
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>feedwatch incident report</title>\n<style>\n",
    );
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n");
    header(&mut h, r, &f);
    timeline(&mut h, r, &f);
    prices(&mut h, r, &f);
    staleness(&mut h, r, &f);
    table(&mut h, r);
    h.push_str("</body>\n</html>\n");
    h
}

const CSS: &str = "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 4px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dl.meta dt{color:#666}dl.meta dd{margin:0}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right}
svg.chart{display:block;width:100%;max-width:1100px;height:auto;background:#fff;border:1px solid #ddd}
svg text{font:11px system-ui,sans-serif;fill:#333}
.axis line{stroke:#ccc}.grid{stroke:#eee}
tr.sev-critical td.sev{color:#c0392b;font-weight:600}tr.sev-warning td.sev{color:#b9770e}tr.sev-info td.sev{color:#2e86c1}
tr.state-resolved{color:#777}
.note{color:#666}
code{font-size:12px}
figure{margin:0}
";

fn header(h: &mut String, r: &Report, f: &Frame) {
    let s = &r.summary;
    h.push_str(
        "<header id=\"summary\">\n<h1>feedwatch incident report</h1>\n<dl class=\"meta\">\n",
    );
    for i in &r.inputs {
        let _ = writeln!(h, "<dt>input</dt><dd><code>{}</code></dd>", escape(i));
    }
    let _ = writeln!(
        h,
        "<dt>fixture time</dt><dd data-from-ms=\"{}\" data-to-ms=\"{}\">{} to {} ({:.1} s)</dd>",
        ms(f.t0),
        ms(f.t1),
        escape(&format_rfc3339_ms(f.t0)),
        escape(&format_rfc3339_ms(f.t1)),
        (f.t1 - f.t0) as f64 / 1e9
    );
    let _ = writeln!(
        h,
        "<dt>frames</dt><dd id=\"frames\">{} frames, {} REST responses; parse errors: {} malformed, {} unknown, {} unsupported; {} fixture read errors</dd>",
        s.engine.frames,
        s.engine.rest,
        s.engine.malformed,
        s.engine.unknown,
        s.engine.unsupported,
        s.read_error_count
    );
    let _ = writeln!(
        h,
        "<dt>alerts</dt><dd id=\"alert-count\" data-count=\"{}\">{} alerts, {} incidents</dd>",
        r.book.total,
        r.book.total,
        r.book.incidents.len() as u64 + r.book.incidents_dropped
    );
    let _ = writeln!(
        h,
        "<dt>samples</dt><dd>{} engine samples, one per second of fixture time</dd>",
        r.sampler.samples
    );
    h.push_str("</dl>\n");
    if r.book.by_kind.is_empty() {
        h.push_str("<p class=\"note\">No alerts.</p>\n");
    } else {
        h.push_str(
            "<table id=\"by-kind\">\n<tr><th>kind</th><th>incidents opened</th><th>alerts</th></tr>\n",
        );
        for (k, (opens, all)) in &r.book.by_kind {
            let _ = writeln!(
                h,
                "<tr data-kind=\"{k}\"><td>{k}</td><td class=\"num\">{opens}</td><td class=\"num\">{all}</td></tr>",
                k = escape(k)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</header>\n");
}

/// Opening tag of a chart SVG with its scales as data attributes.
fn svg_open(h: &mut String, chart: &str, extra: &str, height: f64, x: &Scale, y: Option<&Scale>) {
    let _ = write!(
        h,
        "<svg class=\"chart\" data-chart=\"{chart}\"{extra} viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" data-t0-ms=\"{}\" data-t1-ms=\"{}\" data-plot-left=\"{}\" data-plot-width=\"{}\"",
        px(W),
        px(height),
        px(W),
        px(height),
        x.d0,
        x.d1,
        px(x.r0),
        px(x.r1 - x.r0),
    );
    if let Some(y) = y {
        let _ = write!(
            h,
            " data-v0=\"{}\" data-v1=\"{}\" data-plot-top=\"{}\" data-plot-height=\"{}\"",
            y.d0,
            y.d1,
            px(y.r1),
            px(y.r0 - y.r1)
        );
    }
    h.push_str(">\n");
}

/// Vertical grid lines and time labels under a plot of `top..bottom`.
fn time_axis(h: &mut String, x: &Scale, top: f64, bottom: f64) {
    let step = time_step_ms((x.d1 - x.d0) as i64, 8);
    let first = ((x.d0 as i64).div_euclid(step) + 1) * step;
    h.push_str("<g class=\"axis time\">\n");
    let mut t = first;
    let mut n = 0;
    while (t as f64) <= x.d1 && n < 40 {
        let xp = px(x.map(t as f64));
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{xp}\" x2=\"{xp}\" y1=\"{}\" y2=\"{}\"/><text x=\"{xp}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(top),
            px(bottom),
            px(bottom + 13.0),
            clock(t * MILLI)
        );
        t += step;
        n += 1;
    }
    h.push_str("</g>\n");
}

/// One venue's lane: its name, its incidents with their row, and how many
/// rows it needs.
type Lane<'a> = (&'a str, Vec<(usize, &'a Incident)>, usize);

fn timeline(h: &mut String, r: &Report, f: &Frame) {
    h.push_str("<section id=\"timeline\">\n<h2>Incidents by venue</h2>\n");
    let x = f.x();
    let mut lanes: BTreeMap<&str, Vec<&Incident>> =
        f.colours.keys().map(|v| (v.as_str(), Vec::new())).collect();
    for i in &r.book.incidents {
        lanes.entry(i.venue).or_default().push(i);
    }
    // Rows inside each lane: an incident goes on the first row free at
    // its start, so overlapping incidents stack instead of hiding.
    let mut rows: Vec<Lane<'_>> = Vec::new();
    for (venue, incs) in &lanes {
        let mut ends: Vec<Nanos> = Vec::new();
        let mut placed = Vec::new();
        for i in incs {
            let row = match ends.iter().position(|e| *e < i.opened_ns) {
                Some(k) => k,
                None => {
                    ends.push(Nanos::MIN);
                    ends.len() - 1
                }
            };
            if let Some(e) = ends.get_mut(row) {
                *e = f.end_of(i);
            }
            placed.push((row, *i));
        }
        rows.push((venue, placed, ends.len().max(1)));
    }
    let lanes_h: f64 = rows
        .iter()
        .map(|(_, _, n)| *n as f64 * (BAR_H + BAR_GAP) + 8.0)
        .sum();
    let height = MT + lanes_h + MB;
    svg_open(h, "timeline", "", height, &x, None);
    let bottom = MT + lanes_h;
    time_axis(h, &x, MT, bottom);
    let mut y = MT;
    for (venue, placed, n) in &rows {
        let lane_h = *n as f64 * (BAR_H + BAR_GAP) + 8.0;
        let _ = writeln!(
            h,
            "<g class=\"lane\" data-venue=\"{v}\"><rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f6f6f6\" stroke=\"#e5e5e5\"/><text x=\"6\" y=\"{}\">{v}</text></g>",
            px(y),
            px(W),
            px(lane_h),
            px(y + 15.0),
            v = escape(venue)
        );
        for (row, i) in placed {
            bar(h, f, &x, y + 4.0 + *row as f64 * (BAR_H + BAR_GAP), i);
        }
        y += lane_h;
    }
    h.push_str("</svg>\n");
    if r.book.incidents_dropped > 0 {
        let _ = writeln!(
            h,
            "<p class=\"note\">{} more incidents not drawn (the report keeps the first {}).</p>",
            r.book.incidents_dropped,
            super::collect::MAX_INCIDENTS
        );
    }
    h.push_str("</section>\n");
}

/// One incident's bar: solid while the condition held, lighter while on
/// probation, to its resolve or the end of the replay.
fn bar(h: &mut String, f: &Frame, x: &Scale, y: f64, i: &Incident) {
    let end = f.end_of(i);
    let x0 = x.map(ms(i.opened_ns) as f64);
    let x1 = x.map(ms(end) as f64).max(x0 + 2.0);
    let colour = severity_colour(i.severity);
    let what = match (&i.symbol, &i.stream) {
        (Some(s), Some(st)) => format!("{} {s} {st}", i.kind),
        (Some(s), None) => format!("{} {s}", i.kind),
        (None, Some(st)) => format!("{} {st}", i.kind),
        (None, None) => i.kind.name().to_string(),
    };
    let title = format!(
        "{what}: {} to {}{}. {}",
        format_rfc3339_ms(i.opened_ns),
        format_rfc3339_ms(end),
        if i.resolved_ns.is_some() {
            ""
        } else {
            " (still open)"
        },
        i.summary
    );
    let _ = write!(
        h,
        "<rect class=\"incident-bar\" data-incident=\"{}\" data-kind=\"{}\" data-venue=\"{}\" data-symbol=\"{}\" data-stream=\"{}\" data-severity=\"{}\" data-from-ms=\"{}\" data-to-ms=\"{}\" data-open=\"{}\"",
        escape(&i.id),
        i.kind,
        escape(i.venue),
        escape(i.symbol.as_deref().unwrap_or("")),
        escape(i.stream.as_deref().unwrap_or("")),
        i.severity.name(),
        ms(i.opened_ns),
        ms(end),
        i.resolved_ns.is_none()
    );
    if let Some(c) = i.cleared_ns {
        let _ = write!(h, " data-clear-ms=\"{}\"", ms(c));
    }
    let _ = writeln!(
        h,
        " x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\" rx=\"2\"><title>{}</title></rect>",
        px(x0),
        px(y),
        px(x1 - x0),
        px(BAR_H),
        escape(&title)
    );
    // The probation part, drawn over the bar in white half-tone.
    if let Some(c) = i.cleared_ns {
        let xc = x.map(ms(c) as f64).clamp(x0, x1);
        if x1 - xc >= 1.0 {
            let _ = writeln!(
                h,
                "<rect class=\"probation\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fff\" fill-opacity=\"0.55\" pointer-events=\"none\"/>",
                px(xc),
                px(y),
                px(x1 - xc),
                px(BAR_H)
            );
        }
    }
    // The kind inside the bar when it fits, else beside it.
    let text_w = what.chars().count() as f64 * 6.2;
    let (tx, anchor, fill) = if x1 - x0 >= text_w + 6.0 {
        (x0 + 3.0, "start", "#fff")
    } else if x1 + 4.0 + text_w <= W - MR {
        (x1 + 4.0, "start", "#333")
    } else {
        (x0 - 4.0, "end", "#333")
    };
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" style=\"fill:{fill}\" pointer-events=\"none\">{}</text>",
        px(tx),
        px(y + 12.0),
        escape(&what)
    );
}

/// Whether an outage-like incident concerns a chart of `symbol` (None:
/// every symbol) over `venues`.
fn shades(i: &Incident, symbol: Option<&str>, venues: &[&str]) -> bool {
    let venue_in = |v: &str| venues.contains(&v);
    match i.kind {
        Kind::LocalStall => true,
        Kind::SharedOutage => venue_in(i.venue) || i.venues.iter().any(|v| venue_in(v)),
        _ => {
            venue_in(i.venue)
                && match (symbol, i.symbol.as_deref()) {
                    (Some(s), Some(is)) => s == is,
                    _ => true,
                }
        }
    }
}

fn windows_for<'a>(
    r: &'a Report,
    f: &Frame,
    kinds: &[Kind],
    symbol: Option<&str>,
    venues: &[&str],
) -> Vec<Window<'a>> {
    r.book
        .incidents
        .iter()
        .filter(|i| kinds.contains(&i.kind) && shades(i, symbol, venues))
        .map(|i| {
            // Shade while the condition held: to its clearing, else its
            // resolve, else the end of the replay.
            let to = i.cleared_ns.or(i.resolved_ns).unwrap_or(f.t1);
            Window {
                kind: i.kind,
                venue: i.venue,
                from: i.opened_ns,
                to,
                title: format!(
                    "{} {}: {} to {}",
                    i.kind,
                    i.venue,
                    format_rfc3339_ms(i.opened_ns),
                    format_rfc3339_ms(to)
                ),
            }
        })
        .collect()
}

fn prices(h: &mut String, r: &Report, f: &Frame) {
    h.push_str("<section id=\"prices\">\n<h2>Prices</h2>\n");
    let mut by_symbol: BTreeMap<&str, Vec<Line<'_>>> = BTreeMap::new();
    for ((venue, symbol), series) in &r.sampler.prices {
        by_symbol.entry(symbol).or_default().push(Line {
            venue,
            metric: "price",
            symbol: Some(symbol),
            series,
        });
    }
    if by_symbol.is_empty() {
        h.push_str("<p class=\"note\">No prices were seen.</p>\n");
    }
    for (symbol, lines) in &by_symbol {
        let venues: Vec<&str> = lines.iter().map(|l| l.venue).collect();
        let windows = windows_for(r, f, &OUTAGE_KINDS, Some(symbol), &venues);
        let markers: Vec<Marker<'_>> = r
            .book
            .alerts
            .iter()
            .filter(|a| {
                MARKER_KINDS.contains(&a.kind)
                    && a.state != State::Resolved
                    && a.symbol.as_deref() == Some(symbol)
            })
            .map(|a| Marker {
                kind: a.kind,
                venue: a.venue.id(),
                at: a.at,
                severity: a.severity,
                state: a.state,
                title: &a.summary,
            })
            .collect();
        let _ = writeln!(
            h,
            "<figure class=\"price\" data-symbol=\"{s}\">\n<h3>{s}</h3>",
            s = escape(symbol)
        );
        let extra = format!(" data-symbol=\"{}\"", escape(symbol));
        line_chart(h, f, "price", &extra, "", false, lines, &windows, &markers);
        h.push_str("</figure>\n");
    }
    h.push_str("</section>\n");
}

fn staleness(h: &mut String, r: &Report, f: &Frame) {
    h.push_str("<section id=\"staleness\">\n<h2>Staleness and lag by venue</h2>\n");
    h.push_str("<h3>Message age (worst stream of each venue)</h3>\n");
    let lines: Vec<Line<'_>> = r
        .sampler
        .age
        .iter()
        .map(|(venue, series)| Line {
            venue,
            metric: "age",
            symbol: None,
            series,
        })
        .collect();
    let venues: Vec<&str> = lines.iter().map(|l| l.venue).collect();
    let outage = [Kind::VenueOutage, Kind::SharedOutage, Kind::LocalStall];
    let windows = windows_for(r, f, &outage, None, &venues);
    line_chart(h, f, "age", "", " s", true, &lines, &windows, &[]);
    h.push_str("<h3>Lag beyond each stream's own baseline (worst stream of each venue)</h3>\n");
    let lines: Vec<Line<'_>> = r
        .sampler
        .lag
        .iter()
        .map(|(venue, series)| Line {
            venue,
            metric: "lag",
            symbol: None,
            series,
        })
        .collect();
    let venues: Vec<&str> = lines.iter().map(|l| l.venue).collect();
    let windows = windows_for(r, f, &[Kind::FeedLagging], None, &venues);
    line_chart(h, f, "lag", "", " s", true, &lines, &windows, &[]);
    h.push_str("</section>\n");
}

fn table(h: &mut String, r: &Report) {
    h.push_str("<section id=\"alerts\">\n<h2>Alerts</h2>\n");
    if r.book.alerts.is_empty() {
        h.push_str("<p class=\"note\">No alerts.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<table id=\"alert-table\">\n<tr><th>time (UTC)</th><th>state</th><th>phase</th><th>severity</th><th>kind</th><th>venue</th><th>symbol</th><th>stream</th><th>summary</th></tr>\n",
    );
    for a in &r.book.alerts {
        let _ = writeln!(
            h,
            "<tr class=\"alert sev-{sev} state-{st}\" data-at-ms=\"{}\" data-state=\"{st}\" data-kind=\"{k}\" data-severity=\"{sev}\" data-venue=\"{v}\" data-incident=\"{}\"><td>{}</td><td>{st}</td><td>{}</td><td class=\"sev\">{sev}</td><td>{k}</td><td>{v}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ms(a.at),
            escape(&a.incident),
            escape(&format_rfc3339_ms(a.at)),
            a.phase.name(),
            escape(a.symbol.as_deref().unwrap_or("")),
            escape(a.stream.as_deref().unwrap_or("")),
            escape(&a.summary),
            st = a.state.name(),
            sev = a.severity.name(),
            k = a.kind,
            v = escape(a.venue.id()),
        );
    }
    h.push_str("</table>\n");
    if r.book.total > r.book.alerts.len() as u64 {
        let _ = writeln!(
            h,
            "<p class=\"note\">{} more alerts not listed (the report keeps the first {}).</p>",
            r.book.total - r.book.alerts.len() as u64,
            super::collect::MAX_ALERTS
        );
    }
    h.push_str("</section>\n");
}
