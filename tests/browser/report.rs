//! `feedwatch report` end to end: the AWS-style outage scenario (real
//! Binance recordings, spot silenced for 60 s by injected code) becomes an
//! HTML page whose charts show the outage where it happened, whose table
//! lists every alert a plain replay emits, and which a real browser lays
//! out.

use crate::util::{aws_outage, browser, json};

use feedwatch::replay::Input;
use feedwatch::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario() -> PathBuf {
    aws_outage()
}

/// The alerts a plain replay of the scenario emits, as JSON.
fn replay_alerts(path: &Path) -> Vec<serde_json::Value> {
    let (alerts, _) = crate::util::replay_alerts(&Input::Scenario(path.to_path_buf()));
    alerts.iter().map(json).collect()
}

/// Undoes the page's HTML escaping of an attribute value or cell text.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The attributes of every tag of `html` that starts with `open` (e.g.
/// `<rect class="incident-bar"`), in document order.
fn tags(html: &str, open: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        let tag = &rest[i + 1..];
        let end = tag.find('>').expect("unterminated tag");
        out.push(attributes(&tag[..end]));
        rest = &tag[end..];
    }
    out
}

/// `name="value"` pairs of one tag's text.
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit(' ').next().unwrap().to_string();
        let after = &rest[eq + 2..];
        let close = after.find('"').expect("unterminated attribute");
        m.insert(name, unescape(&after[..close]));
        rest = &after[close + 1..];
    }
    m
}

fn num(m: &BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} is not a number in {m:?}"))
}

/// The SVG chart `data-chart="{chart}"` (and symbol, if given): its
/// attributes and its text up to `</svg>`.
fn chart<'a>(html: &'a str, chart: &str) -> (BTreeMap<String, String>, &'a str) {
    let key = format!("<svg class=\"chart\" data-chart=\"{chart}\"");
    let i = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {chart} chart"));
    let body = &html[i..];
    let end = body.find("</svg>").unwrap();
    let attrs = tags(body, "<svg class=\"chart\"").remove(0);
    (attrs, &body[..end])
}

/// The (unix ms, value) points a chart draws for `venue`, read back from
/// the polylines' pixels through the chart's own scale.
fn drawn_points(attrs: &BTreeMap<String, String>, body: &str, venue: &str) -> Vec<(f64, f64)> {
    let (t0, t1) = (num(attrs, "data-t0-ms"), num(attrs, "data-t1-ms"));
    let (left, width) = (num(attrs, "data-plot-left"), num(attrs, "data-plot-width"));
    let (v0, v1) = (num(attrs, "data-v0"), num(attrs, "data-v1"));
    let (top, height) = (num(attrs, "data-plot-top"), num(attrs, "data-plot-height"));
    let mut pts = Vec::new();
    for line in tags(body, "<polyline class=\"series\"") {
        if line.get("data-venue").map(String::as_str) != Some(venue) {
            continue;
        }
        for xy in line["points"].split(' ') {
            let (x, y) = xy.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            let t = t0 + (x - left) / width * (t1 - t0);
            // Pixels grow downwards: the bottom of the plot is v0.
            let v = v0 + (top + height - y) / height * (v1 - v0);
            pts.push((t, v));
        }
    }
    pts
}

#[test]
fn the_report_shows_the_aws_spot_outage_where_it_happened() {
    let path = scenario();
    let t0_ms = (Scenario::load(&path).unwrap().t0 / 1_000_000) as f64;
    let out_start = t0_ms + 120_000.0;
    let out_end = t0_ms + 180_000.0;
    let expected = replay_alerts(&path);
    assert!(
        expected.iter().any(|a| a["kind"] == "venue_outage"),
        "the scenario's replay raises a venue outage"
    );

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-aws-spot-outage.html");
    let _ = std::fs::remove_file(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .arg("report")
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "feedwatch report failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(&out).unwrap();

    // Self-contained: nothing is fetched.
    for external in [
        "<script",
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(external), "the page has {external}");
    }

    // The timeline: binance-spot's venue outage from about t0+120 s to at
    // least the end of the silence.
    let bars = tags(&html, "<rect class=\"incident-bar\"");
    let outage: Vec<_> = bars
        .iter()
        .filter(|b| b["data-kind"] == "venue_outage" && b["data-venue"] == "binance-spot")
        .collect();
    assert_eq!(outage.len(), 1, "one venue outage bar: {bars:?}");
    let from = num(outage[0], "data-from-ms");
    let to = num(outage[0], "data-to-ms");
    assert!(
        (from - out_start).abs() <= 5_000.0,
        "the outage bar starts {:.1} s after t0",
        (from - t0_ms) / 1000.0
    );
    assert!(
        to >= out_end,
        "the outage bar ends {:.1} s after t0, before the silence did",
        (to - t0_ms) / 1000.0
    );
    assert!(
        bars.iter().all(|b| b["data-venue"] != "binance-usdm"),
        "no incident on the futures that kept streaming"
    );

    // The BTC/USDT price chart shades spot's outage over the same time.
    let (price, price_body) = chart(&html, "price\" data-symbol=\"BTC/USDT");
    assert_eq!(price["data-symbol"], "BTC/USDT");
    let windows = tags(price_body, "<rect class=\"window\"");
    assert!(
        windows.iter().any(|w| w["data-kind"] == "venue_outage"
            && w["data-venue"] == "binance-spot"
            && (num(w, "data-from-ms") - out_start).abs() <= 5_000.0
            && num(w, "data-to-ms") >= out_end - 5_000.0),
        "outage window shaded on the BTC/USDT chart: {windows:?}"
    );
    for venue in ["binance-spot", "binance-usdm"] {
        let pts = drawn_points(&price, price_body, venue);
        assert!(
            pts.len() > 100,
            "{venue} price line drawn ({} points)",
            pts.len()
        );
        assert!(
            pts.iter().all(|p| (50_000.0..80_000.0).contains(&p.1)),
            "{venue} prices read back as BTC prices"
        );
    }

    // Staleness: spot's message age climbs to about 60 s inside the
    // outage; the futures stay fresh throughout.
    let (age, age_body) = chart(&html, "age");
    let spot = drawn_points(&age, age_body, "binance-spot");
    let usdm = drawn_points(&age, age_body, "binance-usdm");
    assert!(!spot.is_empty() && !usdm.is_empty());
    let (peak_t, peak_v) = spot
        .iter()
        .copied()
        .fold((0.0, f64::MIN), |m, p| if p.1 > m.1 { p } else { m });
    assert!(
        (55.0..=66.0).contains(&peak_v),
        "spot's staleness peaks at {peak_v:.1} s"
    );
    assert!(
        peak_t >= out_start && peak_t <= out_end + 5_000.0,
        "spot's staleness peaks {:.1} s after t0, outside the outage",
        (peak_t - t0_ms) / 1000.0
    );
    let before: f64 = spot
        .iter()
        .filter(|p| p.0 < out_start - 5_000.0)
        .map(|p| p.1)
        .fold(0.0, f64::max);
    assert!(
        before < 10.0,
        "spot was fresh before the outage ({before:.1} s)"
    );
    let usdm_max = usdm.iter().map(|p| p.1).fold(0.0, f64::max);
    assert!(
        usdm_max < 10.0,
        "binance-usdm's staleness stays low ({usdm_max:.1} s)"
    );
    assert!(
        num(
            &tags(
                age_body,
                "<polyline class=\"series\" data-venue=\"binance-spot\""
            )[0],
            "data-max"
        ) > 55.0
    );

    // The table: one row per alert of the replay, with its summary.
    let rows = tags(&html, "<tr class=\"alert ");
    assert_eq!(rows.len(), expected.len(), "one row per alert");
    for a in &expected {
        let at = chrono_ms(a["at"].as_str().unwrap());
        let row = rows.iter().position(|r| {
            num(r, "data-at-ms") == at
                && r["data-state"] == a["state"].as_str().unwrap()
                && r["data-kind"] == a["kind"].as_str().unwrap()
                && r["data-venue"] == a["venue"].as_str().unwrap()
                && r["data-incident"] == a["incident"].as_str().unwrap()
        });
        assert!(row.is_some(), "no row for alert {a}");
        let summary = a["summary"].as_str().unwrap();
        let escaped = summary
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        assert!(html.contains(&escaped), "summary missing: {summary}");
    }

    // A real browser lays it out: every chart has a size, the outage bar
    // is visible, and nothing failed to parse.
    let mut b = browser::Browser::launch(1280, 900);
    b.navigate(&format!("file://{}", out.display()));
    b.wait_for(
        "the report's charts laid out",
        r#"(() => {
            if (document.readyState !== 'complete') return false;
            const charts = [...document.querySelectorAll('svg.chart')];
            if (charts.length < 5) return false;
            if (!charts.every(c => { const r = c.getBoundingClientRect(); return r.width > 300 && r.height > 50; })) return false;
            const bar = document.querySelector('rect.incident-bar[data-kind="venue_outage"][data-venue="binance-spot"]');
            if (!bar) return false;
            const r = bar.getBoundingClientRect();
            const lines = document.querySelectorAll('svg.chart[data-chart="age"] polyline.series');
            return r.width > 20 && r.height > 5 && lines.length >= 3
                && document.querySelectorAll('#alert-table tr.alert').length === ALERTS;
        })()"#
            .replace("ALERTS", &expected.len().to_string())
            .as_str(),
        r#"({
            readyState: document.readyState,
            charts: [...document.querySelectorAll('svg.chart')].map(c => {
                const r = c.getBoundingClientRect();
                return [c.dataset.chart, r.width, r.height];
            }),
            bars: [...document.querySelectorAll('rect.incident-bar')].map(b => [b.dataset.kind, b.getBoundingClientRect().width]),
            rows: document.querySelectorAll('#alert-table tr.alert').length
        })"#,
        browser::PAGE_TIMEOUT,
    );
    let shot = browser::target_dir().join("report-aws-spot-outage.png");
    b.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn a_missing_input_is_named_and_nothing_is_written() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-missing.html");
    let _ = std::fs::remove_file(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["report", "no-such-recording.fixture.zst", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("no-such-recording.fixture.zst"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists());
}

/// Unix milliseconds of an alert's RFC 3339 `at` (`...T23:56:14.900Z`).
fn chrono_ms(at: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .timestamp_millis() as f64
}
