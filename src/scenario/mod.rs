//! Scenario recipes: real recordings cut to a window with faults injected
//! by code ([`inject`]), and the alerts a desk should get (labels). A recipe
//! is built in memory and walked in receive-time order by `replay`,
//! `report` and `eval` alike, so a scenario cannot drift from what it
//! claims: the data is the recording, the fault is code.
//!
//! It never panics on a bad recipe (errors name the file and the field),
//! never writes anything, and reads recordings as a stream into memory once
//! per scenario. Scoring alerts against the labels is `eval`'s job.

pub mod inject;

use crate::alert::{Cause, Severity};
use crate::fixture::Merger;
use crate::model::{Nanos, SECOND};
use inject::Records;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Most records one scenario may hold in memory.
const MAX_RECORDS: usize = 5_000_000;

/// One scenario recipe.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// What the scenario stands for (shown in the report).
    pub description: String,
    /// Recordings, relative to the recipe's folder.
    #[serde(default)]
    pub recordings: Vec<PathBuf>,
    /// Candle sources instead of recordings, in `scan-candles --source`
    /// syntax (`[trades:]VENUE:BASE/QUOTE=FILE`, FILE relative to the
    /// recipe's folder): the scenario is the same multi-venue scan, with
    /// its cross-venue consensus. Takes no faults and no window.
    #[serde(default)]
    pub candles: Vec<String>,
    /// Interval of exchange candles in `candles` (`1m`, `5m`, ...; default
    /// `1m`); trade-built sources are one-minute.
    #[serde(default)]
    pub interval: Option<String>,
    /// Keep only records in `[from, to)` seconds after the first record.
    #[serde(default)]
    pub window_s: Option<[f64; 2]>,
    /// Faults injected by code, in order.
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    /// Alerts the desk must get.
    #[serde(default, rename = "expect")]
    pub expects: Vec<Expect>,
    /// Alerts that are acceptable but not required (consequences of a
    /// fault that are true but not the point of the scenario).
    #[serde(default, rename = "allow")]
    pub allows: Vec<Expect>,
}

/// A fault, injected into the recordings of `venue` (all when absent).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `silence`, `flap`, `pause`, `drift_late`, `bad_print`, `cross_bbo`, `drop_first`,
    /// `freeze_bbo`, `freeze_trades`, `widen_spread`, `thin_book`,
    /// `stale_book`, `shift_price`, `depeg_quote` (see
    /// [`crate::scenario::inject`]).
    pub kind: String,
    /// Venue id whose recordings get it.
    #[serde(default)]
    pub venue: Option<String>,
    /// Start, seconds after the scenario's first record.
    pub at_s: f64,
    /// Duration (`silence`, `cross_bbo`) or ramp (`drift_late`), seconds.
    #[serde(default)]
    pub dur_s: f64,
    /// `drift_late`: the delay reached at the end of the ramp, seconds.
    #[serde(default)]
    pub max_delay_s: f64,
    /// `bad_print`, `shift_price`, `depeg_quote`: price move in percent; `cross_bbo`:
    /// basis points.
    #[serde(default)]
    pub size: f64,
    /// `flap`: one cycle (seconds); the feed is silent for `down_s` at the
    /// start of each.
    #[serde(default)]
    pub period_s: f64,
    /// `flap`: silent part of each cycle (seconds).
    #[serde(default)]
    pub down_s: f64,
    /// Frames the fault applies to (text they contain), e.g. `@trade`;
    /// for `depeg_quote`, the markets of the quote (`usdt@`).
    #[serde(default)]
    pub needle: Option<String>,
}

/// A label: an alert of `kind` about `venue` (and `symbol`/`stream` when
/// given) opening within `within_s` seconds of `at_s`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Alert kind.
    pub kind: String,
    /// Venue id; absent for alerts about several venues (a shared outage
    /// names the venue that went first, which the label need not know).
    #[serde(default)]
    pub venue: Option<String>,
    /// Canonical symbol, if the label is about one.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Stream name, if the label is about one.
    #[serde(default)]
    pub stream: Option<String>,
    /// When the condition starts (seconds after the first record).
    pub at_s: f64,
    /// Longest acceptable detection delay (seconds).
    pub within_s: f64,
    /// The cause the desk must be told (`venue_local`, `market_move`, ...):
    /// the label is met by the first line of a matching incident (open or
    /// update) that carries it, and the delay is counted to that line.
    #[serde(default)]
    pub cause: Option<Cause>,
    /// The least severity the desk must be told (`info`, `warning`,
    /// `critical`), met like `cause`.
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// Why a scenario could not be built: the recipe, and what is wrong
/// (naming the field or recording).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    /// The recipe.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl Recipe {
    /// Reads and parses a recipe file; errors name the file.
    pub fn load(path: &Path) -> Result<Recipe, ScenarioError> {
        let bad = |message: String| ScenarioError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.to_string()))
    }
}

/// A recordings scenario built in memory: its recordings cut to its window
/// with its faults injected, ready to be walked in receive-time order (by
/// eval, and by `replay` and `report`, which take a recipe as an input).
pub struct Scenario {
    /// The recipe.
    pub recipe: Recipe,
    /// Each recording's records, in its own order.
    pub inputs: Vec<Records>,
    /// Records read from the recordings.
    pub total: usize,
    /// The earliest record's receive time (the recipe's second 0).
    pub t0: Nanos,
    /// The latest record's receive time.
    pub t_end: Nanos,
}

/// One step of a scenario walk.
pub enum Step<'a> {
    /// A connection of an input that has ended: what follows is not its
    /// silence.
    End(&'a str),
    /// The next record.
    Record(&'a crate::record::Record<'static>),
}

impl Scenario {
    /// Builds the recordings scenario of the recipe file `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::build(path, Recipe::load(path)?)
    }

    /// Builds the recordings scenario of `recipe`, read from `path`.
    pub fn build(path: &Path, recipe: Recipe) -> Result<Scenario, ScenarioError> {
        let bad = |message: String| ScenarioError {
            path: path.to_path_buf(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        if !recipe.candles.is_empty() {
            return Err(bad(
                "a `candles` scenario has no recordings to replay: run it with `eval`".into(),
            ));
        }
        if recipe.recordings.is_empty() {
            return Err(bad(
                "no `recordings` and no `candles`: nothing to replay".into()
            ));
        }
        if recipe.interval.is_some() {
            return Err(bad("`interval` is for `candles` scenarios only".into()));
        }
        let mut inputs: Vec<Records> = Vec::new();
        let mut total = 0usize;
        for rel in &recipe.recordings {
            let p = base.join(rel);
            let mut m = Merger::open(std::slice::from_ref(&p))
                .map_err(|e| bad(format!("recording {}: {e}", p.display())))?;
            let mut recs: Records = Vec::new();
            while let Some(r) = m.next_record() {
                match r {
                    Ok(rec) => recs.push(rec.into_owned()),
                    Err(e) => return Err(bad(format!("recording {}: {e}", p.display()))),
                }
                total += 1;
                if total > MAX_RECORDS {
                    return Err(bad(format!("more than {MAX_RECORDS} records")));
                }
            }
            inputs.push(recs);
        }
        let t0 = inputs
            .iter()
            .filter_map(|r| r.first().map(|x| x.recv_ns))
            .min()
            .ok_or_else(|| bad("no records in the recordings".into()))?;
        let at = |s: f64| t0 + (s * SECOND as f64) as Nanos;
        if let Some([from, to]) = recipe.window_s {
            for recs in &mut inputs {
                recs.retain(|r| r.recv_ns >= at(from) && r.recv_ns < at(to));
            }
        }
        for (i, f) in recipe.faults.iter().enumerate() {
            let mut touched = 0;
            for recs in &mut inputs {
                let venue = recs.first().map(|r| r.venue.id());
                if f.venue.as_deref().is_some_and(|v| Some(v) != venue) {
                    continue;
                }
                touched += f
                    .inject(recs, at)
                    .map_err(|m| bad(format!("fault {}: {m}", i + 1)))?;
            }
            if touched == 0 {
                return Err(bad(format!(
                    "fault {} ({}) changed nothing: check its venue and time",
                    i + 1,
                    f.kind
                )));
            }
        }
        let t_end = inputs
            .iter()
            .flat_map(|r| r.iter().map(|x| x.recv_ns))
            .max()
            .unwrap_or(t0);
        Ok(Scenario {
            recipe,
            inputs,
            total,
            t0,
            t_end,
        })
    }

    /// Walks the records merged by receive time (stable: input order breaks
    /// ties), telling `visit` an input's connections once time has passed
    /// its end, as a replay of files does. Stops at `visit`'s first error.
    pub fn walk<E>(&self, mut visit: impl FnMut(Step<'_>) -> Result<(), E>) -> Result<(), E> {
        let inputs = &self.inputs;
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(inputs.iter().map(Vec::len).sum());
        for (i, recs) in inputs.iter().enumerate() {
            merged.extend((0..recs.len()).map(|j| (i, j)));
        }
        let time =
            |&(i, j): &(usize, usize)| inputs.get(i).and_then(|r| r.get(j)).map(|r| r.recv_ns);
        merged.sort_by_key(|k| (time(k), k.0));
        let last: Vec<Option<Nanos>> = inputs.iter().map(|r| r.last().map(|x| x.recv_ns)).collect();
        let mut ended = vec![false; inputs.len()];
        for k in &merged {
            let Some(rec) = inputs.get(k.0).and_then(|r| r.get(k.1)) else {
                continue;
            };
            for (i, l) in last.iter().enumerate() {
                if !ended.get(i).copied().unwrap_or(true) && l.is_some_and(|l| l < rec.recv_ns) {
                    if let Some(e) = ended.get_mut(i) {
                        *e = true;
                    }
                    let conns: BTreeSet<&str> = inputs
                        .get(i)
                        .map(|r| r.iter().map(|x| &*x.conn).collect())
                        .unwrap_or_default();
                    for c in conns {
                        visit(Step::End(c))?;
                    }
                }
            }
            visit(Step::Record(rec))?;
        }
        Ok(())
    }
}

impl Fault {
    /// Injects this fault into one recording's records; how many it
    /// touched. `at` turns the recipe's seconds into receive times.
    pub fn inject(&self, recs: &mut Records, at: impl Fn(f64) -> Nanos) -> Result<usize, String> {
        let f = self;
        let secs = |s: f64| (s * SECOND as f64) as Nanos;
        let needle = f.needle.as_deref();
        let inj = match f.kind.as_str() {
            "silence" => inject::silence_where(recs, at(f.at_s), secs(f.dur_s), needle),
            "pause" => inject::pause(recs, at(f.at_s), secs(f.dur_s)),
            "flap" => inject::flap(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                secs(f.period_s),
                secs(f.down_s),
                needle,
            ),
            "drift_late" => {
                inject::drift_late(recs, at(f.at_s), secs(f.dur_s), secs(f.max_delay_s))
            }
            "bad_print" => inject::bad_print(recs, at(f.at_s), needle.unwrap_or("@trade"), f.size),
            "cross_bbo" => inject::cross_bbo(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("@bookTicker"),
                f.size,
            ),
            "drop_first" => inject::drop_first(recs, at(f.at_s), needle.unwrap_or("depthUpdate")),
            "freeze_bbo" => inject::freeze(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("@bookTicker"),
                &["b", "B", "a", "A"],
            ),
            "freeze_trades" => inject::freeze(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("@trade"),
                &["t", "p", "q", "T"],
            ),
            "widen_spread" => inject::widen_spread(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("@bookTicker"),
                f.size,
            ),
            "thin_book" => inject::thin_book(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("\"e\":\"depthUpdate\""),
                f.size,
            ),
            "stale_book" => inject::stale_book(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("@bookTicker"),
                f.size,
            ),
            "shift_price" => inject::shift_price(
                recs,
                at(f.at_s),
                secs(f.dur_s),
                needle.unwrap_or("\"stream\":"),
                f.size,
            ),
            "depeg_quote" => match needle {
                Some(n) if !n.is_empty() => inject::depeg_quote(recs, at(f.at_s), n, f.size),
                _ => {
                    return Err(
                        "depeg_quote needs `needle`, the quote's markets (e.g. \"usdt@\")".into(),
                    );
                }
            },
            other => {
                return Err(format!(
                    "unknown fault kind `{other}` (silence, flap, pause, drift_late, bad_print, cross_bbo, drop_first, freeze_bbo, freeze_trades, widen_spread, thin_book, stale_book, shift_price, depeg_quote)"
                ));
            }
        };
        Ok(inj.touched)
    }
}
