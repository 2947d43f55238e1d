//! `feedwatch report INPUT... -o report.html`: an incident report of a
//! replay, for people who were not watching when it happened.
//!
//! The inputs (fixture files, or one scenario recipe with its faults
//! injected in memory) are replayed at full speed through the same engine
//! as `replay`; an observer samples the engine once per second of fixture
//! time (prices, message age, lag) and every alert is kept. The result is
//! one self-contained HTML file: incidents per venue on a timeline, price
//! charts with anomalies marked and outages shaded, staleness and lag per
//! venue, and the alert table.
//!
//! The report only watches: the alerts are those `replay` prints for the
//! same inputs. It never panics on bad input (a missing file or an
//! unreadable recipe is an error naming it), never fetches anything, and
//! keeps memory bounded however long the replay (see [`collect`]).

pub mod collect;
mod html;
pub mod series;
pub mod svg;

use crate::detect::DetectConfig;
use crate::replay::{Input, Options, ReplayError, Speed, Summary, replay_input};
use collect::{AlertBook, Sampler};
use std::fmt;
use std::path::{Path, PathBuf};

pub use html::render;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No input was given.
    #[error("no input: give fixture files or one scenario recipe (.toml)")]
    NoInput,
    /// An input does not exist or is not a file.
    #[error("input {0} does not exist or is not a file")]
    Missing(PathBuf),
    /// The replay could not run (a file that cannot be opened, a recipe
    /// that cannot be built); the message names the file.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The report could not be written.
    #[error("cannot write the report to {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Everything a report shows, gathered from one replay.
#[derive(Debug)]
pub struct Report {
    /// The inputs, as given.
    pub inputs: Vec<String>,
    /// The replay's summary (frames, errors, span).
    pub summary: Summary,
    /// Prices, ages and lags over time.
    pub sampler: Sampler,
    /// Every alert and the incidents they make.
    pub book: AlertBook,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feedwatch report: {} frames from {} input(s) covering {:.1} s, {} alerts in {} incidents, {} samples",
            self.summary.engine.frames,
            self.inputs.len(),
            self.summary.span_ns as f64 / 1e9,
            self.book.total,
            self.book.incidents.len() as u64 + self.book.incidents_dropped,
            self.sampler.samples
        )
    }
}

/// Replays `paths` (fixture files, or one scenario recipe) at full speed
/// and gathers what the report shows.
pub fn collect(cfg: DetectConfig, paths: &[PathBuf]) -> Result<Report, ReportError> {
    if paths.is_empty() {
        return Err(ReportError::NoInput);
    }
    // Checked up front so the error is about the file, not the replay.
    if let Some(p) = paths.iter().find(|p| !p.is_file()) {
        return Err(ReportError::Missing(p.clone()));
    }
    let input = Input::from_paths(paths)?;
    let mut sampler = Sampler::new();
    let mut book = AlertBook::new();
    let mut sink = |a: &crate::alert::Alert, _flush: bool| -> std::io::Result<()> {
        book.add(a);
        Ok(())
    };
    let opts = Options {
        speed: Some(Speed::Max),
        progress: true,
        observer: Some(&mut sampler),
    };
    let summary = replay_input(cfg, &input, opts, &mut sink)?;
    Ok(Report {
        inputs: paths.iter().map(|p| p.display().to_string()).collect(),
        summary,
        sampler,
        book,
    })
}

/// Replays `paths` and writes the HTML report to `out` (through a
/// temporary file beside it, so a failed run leaves no half page). Returns
/// what was gathered, for a summary line.
pub fn write_report(
    cfg: DetectConfig,
    paths: &[PathBuf],
    out: &Path,
) -> Result<Report, ReportError> {
    let report = collect(cfg, paths)?;
    let page = render(&report);
    let werr = |source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report.html".into());
    let tmp = out.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, page).map_err(werr)?;
    if let Err(e) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_input_is_named() {
        let e = collect(
            DetectConfig::default(),
            &[PathBuf::from("no/such/file.fixture.zst")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("no/such/file.fixture.zst"), "{e}");
        let e = collect(DetectConfig::default(), &[]).unwrap_err();
        assert!(matches!(e, ReportError::NoInput), "{e}");
    }

    #[test]
    fn an_unreadable_recipe_is_named() {
        let dir = std::env::temp_dir().join(format!("feedwatch-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recipe = dir.join("broken.toml");
        std::fs::write(
            &recipe,
            "description = \"x\"\nrecordings = [\"nope.zst\"]\n",
        )
        .unwrap();
        let e = collect(DetectConfig::default(), std::slice::from_ref(&recipe)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("broken.toml") && msg.contains("nope.zst"),
            "{msg}"
        );
        std::fs::write(&recipe, "this is not toml [").unwrap();
        let e = collect(DetectConfig::default(), std::slice::from_ref(&recipe)).unwrap_err();
        assert!(e.to_string().contains("broken.toml"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn text_from_alerts_is_escaped_everywhere() {
        use crate::alert::{Alert, Cause, Evidence, Kind, Phase, Severity, State};
        use crate::model::{SECOND, Venue};
        // A hand-made alert (not from a recording) whose text is markup.
        let a = Alert {
            at: 1_723_161_374 * SECOND,
            state: State::Open,
            kind: Kind::PriceDivergence,
            severity: Severity::Warning,
            venue: Venue::BinanceUsdm,
            symbol: Some("BTC/<b>USDT".into()),
            stream: Some("bbo\"onload=\"x".into()),
            incident: "price_divergence:<i>".into(),
            phase: Phase::Open,
            cause: Cause::Unknown,
            group: None,
            summary: "<script>alert('x')</script> & more".into(),
            evidence: Evidence::new(),
        };
        let mut book = AlertBook::new();
        book.add(&a);
        let r = Report {
            inputs: vec![],
            summary: Summary::default(),
            sampler: Sampler::new(),
            book,
        };
        let page = render(&r);
        assert!(
            !page.contains("<script"),
            "markup from an alert reached the page"
        );
        assert!(!page.contains("<b>") && !page.contains("<i>"));
        assert!(!page.contains("\"onload"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(page.contains("data-incident=\"price_divergence:&lt;i&gt;\""));
        // The timeline still draws the incident, with its times.
        assert!(page.contains("class=\"incident-bar\""));
        assert!(page.contains("data-from-ms=\"1723161374000\""));
    }

    #[test]
    fn an_empty_report_renders() {
        let r = Report {
            inputs: vec!["<odd & name>.zst".into()],
            summary: Summary::default(),
            sampler: Sampler::new(),
            book: AlertBook::new(),
        };
        let page = render(&r);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("&lt;odd &amp; name&gt;.zst"));
        assert!(!page.contains("<odd"));
        assert!(page.contains("No alerts."));
        assert!(page.ends_with("</html>\n"));
    }
}
