//! `feedwatch eval DIR`: scores the detectors on labelled scenarios.
//!
//! A scenario is a TOML recipe (`DIR/*.toml`, see [`crate::scenario`]): real
//! recordings, faults to inject into them by code, and the alerts a desk
//! should get (labels). A scenario may instead name candle sources
//! (`candles = ["[trades:]VENUE:BASE/QUOTE=FILE", ...]`, the syntax of
//! `scan-candles --source`): it is then that multi-venue candle scan, with
//! its cross-venue consensus, scored the same way. Eval builds each scenario in memory, runs it through
//! the engine as a replay would, and matches alerts to labels: event-level
//! recall, false alarms (incidents of severity warning or above that no
//! label explains, counted once per incident), and detection delay per
//! kind. Nothing is stored but the recipe: the data is the recording, the
//! fault is code, so a scenario cannot drift from what it claims.
//!
//! It never panics on a bad recipe (errors name the file and the field) and
//! reads recordings as a stream into memory once per scenario.

use crate::alert::{Alert, Severity, State};
use crate::candles::{SourceSpec, scan_sources};
use crate::detect::DetectConfig;
use crate::model::{Nanos, SECOND, parse_interval};
use crate::replay::{Options, replay_scenario};
use crate::scenario::{Expect, Recipe, Scenario, ScenarioError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a scenario could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A recipe or recording could not be read or built.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The folder could not be listed.
    #[error("{0}: {1}")]
    Dir(PathBuf, std::io::Error),
}

/// How one label fared.
#[derive(Clone, Debug, Serialize)]
pub struct LabelResult {
    /// The label.
    pub expect: Expect,
    /// Detection delay (s) of the first matching alert, if any.
    pub delay_s: Option<f64>,
}

/// An alert no label explains.
#[derive(Clone, Debug, Serialize)]
pub struct FalseAlarm {
    /// Incident id.
    pub incident: String,
    /// Kind.
    pub kind: String,
    /// Highest severity it reached.
    pub severity: String,
    /// Seconds after the first record it opened.
    pub at_s: f64,
    /// Its summary.
    pub summary: String,
}

/// One scenario's score.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// Recipe file stem.
    pub name: String,
    /// Description.
    pub description: String,
    /// Records replayed.
    pub records: usize,
    /// Labels and their detection.
    pub labels: Vec<LabelResult>,
    /// Incidents of warning or above no label or allowance explains.
    pub false_alarms: Vec<FalseAlarm>,
    /// Incidents (any severity) raised.
    pub incidents: usize,
}

impl ScenarioReport {
    /// Labels detected in time.
    pub fn detected(&self) -> usize {
        self.labels.iter().filter(|l| l.delay_s.is_some()).count()
    }
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Per scenario.
    pub scenarios: Vec<ScenarioReport>,
}

/// Per-kind figures across scenarios.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindFigures {
    /// Labels of this kind.
    pub labels: usize,
    /// Detected in time.
    pub detected: usize,
    /// Delays of the detected ones (s), sorted.
    pub delays_s: Vec<f64>,
    /// False alarms of this kind.
    pub false_alarms: usize,
}

impl EvalReport {
    /// Labels detected / labels (1.0 with no label).
    pub fn recall(&self) -> f64 {
        let (d, n) = self
            .scenarios
            .iter()
            .fold((0, 0), |(d, n), s| (d + s.detected(), n + s.labels.len()));
        if n == 0 { 1.0 } else { d as f64 / n as f64 }
    }

    /// False alarms of warning or above, all scenarios.
    pub fn false_alarms(&self) -> usize {
        self.scenarios.iter().map(|s| s.false_alarms.len()).sum()
    }

    /// Figures per alert kind.
    pub fn by_kind(&self) -> BTreeMap<String, KindFigures> {
        let mut out: BTreeMap<String, KindFigures> = BTreeMap::new();
        for s in &self.scenarios {
            for l in &s.labels {
                let k = out.entry(l.expect.kind.clone()).or_default();
                k.labels += 1;
                if let Some(d) = l.delay_s {
                    k.detected += 1;
                    k.delays_s.push(d);
                }
            }
            for f in &s.false_alarms {
                out.entry(f.kind.clone()).or_default().false_alarms += 1;
            }
        }
        for k in out.values_mut() {
            k.delays_s.sort_by(f64::total_cmp);
        }
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        let v = serde_json::json!({
            "recall": self.recall(),
            "false_alarms": self.false_alarms(),
            "by_kind": self.by_kind().iter().map(|(k, f)| (k.clone(), serde_json::json!({
                "labels": f.labels,
                "detected": f.detected,
                "recall": if f.labels == 0 { 1.0 } else { f.detected as f64 / f.labels as f64 },
                "delay_p50_s": quantile(&f.delays_s, 0.5),
                "delay_p95_s": quantile(&f.delays_s, 0.95),
                "false_alarms": f.false_alarms,
            }))).collect::<serde_json::Map<_, _>>(),
            "scenarios": self.scenarios,
        });
        v.to_string()
    }
}

/// The q-quantile of sorted values (nearest rank), `None` when empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied()
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>8} {:>7} {:>8} {:>12}",
            "scenario", "records", "labels", "detected", "false alarms"
        )?;
        for s in &self.scenarios {
            writeln!(
                f,
                "{:<28} {:>8} {:>7} {:>8} {:>12}",
                s.name,
                s.records,
                s.labels.len(),
                s.detected(),
                s.false_alarms.len()
            )?;
            for l in s.labels.iter().filter(|l| l.delay_s.is_none()) {
                writeln!(
                    f,
                    "  MISSED {} {} {} {} at +{} s (within {} s)",
                    l.expect.kind,
                    l.expect.venue.as_deref().unwrap_or("*"),
                    l.expect.symbol.as_deref().unwrap_or("*"),
                    l.expect.stream.as_deref().unwrap_or("*"),
                    l.expect.at_s,
                    l.expect.within_s
                )?;
            }
            for a in &s.false_alarms {
                writeln!(
                    f,
                    "  FALSE ALARM {} ({}) at +{:.1} s: {}",
                    a.kind, a.severity, a.at_s, a.summary
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<18} {:>7} {:>8} {:>7} {:>10} {:>10} {:>12}",
            "kind", "labels", "detected", "recall", "p50 delay", "p95 delay", "false alarms"
        )?;
        let fmt_delay = |d: Option<f64>| d.map_or("-".to_string(), |d| format!("{d:.2} s"));
        for (k, fig) in self.by_kind() {
            let recall = if fig.labels == 0 {
                1.0
            } else {
                fig.detected as f64 / fig.labels as f64
            };
            writeln!(
                f,
                "{:<18} {:>7} {:>8} {:>7.2} {:>10} {:>10} {:>12}",
                k,
                fig.labels,
                fig.detected,
                recall,
                fmt_delay(quantile(&fig.delays_s, 0.5)),
                fmt_delay(quantile(&fig.delays_s, 0.95)),
                fig.false_alarms
            )?;
        }
        write!(
            f,
            "\nrecall {:.2}, {} false alarm(s) of warning or above",
            self.recall(),
            self.false_alarms()
        )
    }
}

/// Evaluates every `*.toml` recipe in `dir`, in name order.
pub fn eval_dir(cfg: &DetectConfig, dir: &Path) -> Result<EvalReport, EvalError> {
    let mut recipes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EvalError::Dir(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    recipes.sort();
    if recipes.is_empty() {
        return Err(EvalError::Dir(
            dir.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no *.toml scenario here"),
        ));
    }
    let mut scenarios = Vec::new();
    for r in recipes {
        scenarios.push(eval_file(cfg, &r)?);
    }
    Ok(EvalReport { scenarios })
}

/// Evaluates one recipe file.
pub fn eval_file(cfg: &DetectConfig, path: &Path) -> Result<ScenarioReport, EvalError> {
    let recipe = Recipe::load(path)?;
    if !recipe.candles.is_empty() {
        let base = path.parent().unwrap_or(Path::new("."));
        return eval_candles(cfg, path, base, &recipe);
    }
    let scenario = Scenario::build(path, recipe)?;
    let mut alerts: Vec<Alert> = Vec::new();
    let mut keep = |a: &Alert, _: bool| {
        alerts.push(a.clone());
        Ok(())
    };
    // Nothing here can fail: the scenario is built and the sink keeps all.
    replay_scenario(cfg.clone(), &scenario, path, Options::default(), &mut keep).map_err(|e| {
        ScenarioError {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    Ok(score(
        path,
        &scenario.recipe,
        &alerts,
        scenario.total,
        scenario.t0,
    ))
}

/// A scenario built from candle sources: the multi-venue candle scan of
/// `scan-candles --source`, scored like any other. Times are seconds after
/// the earliest candle of any source.
fn eval_candles(
    cfg: &DetectConfig,
    path: &Path,
    base: &Path,
    recipe: &Recipe,
) -> Result<ScenarioReport, EvalError> {
    let bad = |message: String| {
        EvalError::from(ScenarioError {
            path: path.to_path_buf(),
            message,
        })
    };
    if !recipe.recordings.is_empty() {
        return Err(bad(
            "a scenario is built from `recordings` or from `candles`, not both".into(),
        ));
    }
    if !recipe.faults.is_empty() {
        return Err(bad(
            "`fault` injects into recordings; a `candles` scenario takes none".into(),
        ));
    }
    if recipe.window_s.is_some() {
        return Err(bad(
            "`window_s` is for recordings; a `candles` scenario takes none".into(),
        ));
    }
    let interval = recipe.interval.as_deref().unwrap_or("1m");
    let interval_secs = parse_interval(interval)
        .ok_or_else(|| bad(format!("interval `{interval}`: use e.g. 1m, 5m, 1h")))?;
    let mut specs = Vec::with_capacity(recipe.candles.len());
    for (i, c) in recipe.candles.iter().enumerate() {
        let mut spec: SourceSpec = c.parse().map_err(|e| bad(format!("candles[{i}]: {e}")))?;
        if spec.path.is_relative() {
            spec.path = base.join(&spec.path);
        }
        specs.push(spec);
    }
    let report = scan_sources(&cfg.candle, &cfg.consensus, interval_secs, &specs)
        .map_err(|e| bad(format!("candles: {e}")))?;
    if report.bad_row_count > 0 {
        return Err(bad(format!(
            "candles: {} bad row(s), first: {}",
            report.bad_row_count,
            report.bad_rows.first().map_or("", String::as_str)
        )));
    }
    let t0 = report
        .sources
        .iter()
        .filter_map(|s| s.first_open_ns)
        .min()
        .ok_or_else(|| bad("no candles in the sources".into()))?;
    Ok(score(path, recipe, &report.alerts, report.candles, t0))
}

fn matches(e: &Expect, a: &Alert) -> bool {
    let said = if e.cause.is_some() || e.severity.is_some() {
        a.state != State::Resolved
            && e.cause.is_none_or(|c| a.cause == c)
            && e.severity.is_none_or(|least| a.severity >= least)
    } else {
        a.state == State::Open
    };
    said && a.kind.name() == e.kind
        && e.venue.as_deref().is_none_or(|v| a.venue.id() == v)
        && e.symbol
            .as_ref()
            .is_none_or(|s| a.symbol.as_ref() == Some(s))
        && e.stream
            .as_ref()
            .is_none_or(|s| a.stream.as_ref() == Some(s))
}

fn score(
    path: &Path,
    recipe: &Recipe,
    alerts: &[Alert],
    records: usize,
    t0: Nanos,
) -> ScenarioReport {
    let rel = |t: Nanos| (t - t0) as f64 / SECOND as f64;
    let mut explained: BTreeSet<&str> = BTreeSet::new();
    let mut labels = Vec::new();
    for e in &recipe.expects {
        let mut delay: Option<f64> = None;
        for a in alerts.iter().filter(|a| matches(e, a)) {
            let d = rel(a.at) - e.at_s;
            if (0.0..=e.within_s).contains(&d) {
                explained.insert(&a.incident);
                delay = Some(delay.map_or(d, |x: f64| x.min(d)));
            }
        }
        labels.push(LabelResult {
            expect: e.clone(),
            delay_s: delay,
        });
    }
    for e in &recipe.allows {
        for a in alerts.iter().filter(|a| matches(e, a)) {
            let d = rel(a.at) - e.at_s;
            if (0.0..=e.within_s).contains(&d) {
                explained.insert(&a.incident);
            }
        }
    }
    // Highest severity per incident, and when it opened.
    let mut incidents: BTreeMap<&str, (&Alert, Severity)> = BTreeMap::new();
    for a in alerts {
        let e = incidents.entry(&a.incident).or_insert((a, a.severity));
        if a.severity > e.1 {
            e.1 = a.severity;
        }
    }
    let false_alarms = incidents
        .iter()
        .filter(|(id, (_, sev))| *sev >= Severity::Warning && !explained.contains(*id))
        .map(|(id, (a, sev))| FalseAlarm {
            incident: id.to_string(),
            kind: a.kind.name().to_string(),
            severity: sev.name().to_string(),
            at_s: rel(a.at),
            summary: a.summary.clone(),
        })
        .collect();
    ScenarioReport {
        name: path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        description: recipe.description.clone(),
        records,
        labels,
        false_alarms,
        incidents: incidents.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.0));
        assert_eq!(quantile(&v, 0.95), Some(4.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn bad_recipes_name_the_file_and_field() {
        let dir = std::env::temp_dir().join(format!("feedwatch-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.toml");
        std::fs::write(&p, "description = \"x\"\nrecordings = []\nbogus = 1\n").unwrap();
        let e = eval_file(&DetectConfig::default(), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.toml") && e.contains("bogus"), "{e}");
        std::fs::write(&p, "description = \"x\"\nrecordings = [\"nope.zst\"]\n").unwrap();
        let e = eval_file(&DetectConfig::default(), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.zst"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
