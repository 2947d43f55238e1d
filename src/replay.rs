//! Replay: recorded fixtures through the engine, at full speed or paced.
//!
//! Fixtures are merged by receive time and fed to the same [`Engine`] the
//! live consumer uses. Pacing only decides *when* (in wall time) a record is
//! handed over; the engine's clock is always the fixture's, and its ticks are
//! on a fixed grid of that clock, so the alerts are the same at any speed.
//! This module never changes a record and never stops on a bad one.

use crate::alert::Alert;
use crate::config::Config;
use crate::engine::{Engine, Stats};
use crate::fixture::FixtureError;
use crate::fixture::reader::{Merger, ReaderStats};
use crate::model::Nanos;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How fast to replay.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// This many times the recorded speed (1 = as recorded).
    Factor(f64),
}

impl FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "invalid speed `{s}`: use `max` or a positive factor such as 1 or 10"
            )),
        }
    }
}

/// What a replay did, for the summary on stderr.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Engine counters (frames, events, parse errors, alerts).
    pub engine: Stats,
    /// Per input: name and reader counters.
    pub inputs: Vec<(String, ReaderStats)>,
    /// Bad fixture lines and read errors (first few, verbatim).
    pub read_errors: Vec<String>,
    /// Total bad lines and read errors.
    pub read_error_count: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Wall time spent.
    pub wall: Duration,
    /// Fixture time covered (first to last record).
    pub span_ns: Nanos,
}

/// How many read errors are kept verbatim.
const READ_ERROR_SAMPLES: usize = 5;

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.engine;
        let secs = self.wall.as_secs_f64();
        let rate = if secs > 0.0 {
            e.frames as f64 / secs
        } else {
            0.0
        };
        writeln!(
            f,
            "feedwatch replay: {} frames, {} REST responses, {} connection records from {} input(s) covering {:.1} s",
            e.frames,
            e.rest,
            e.control_records,
            self.inputs.len(),
            self.span_ns as f64 / 1e9
        )?;
        let events: Vec<String> = e.events.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(f, "  events: {}", events.join(" "))?;
        writeln!(
            f,
            "  parse errors: malformed={} unknown={} unsupported={}; heartbeats={} acks={}; time regressions={}",
            e.malformed, e.unknown, e.unsupported, e.heartbeats, e.acks, e.time_regressions
        )?;
        for s in &e.error_samples {
            writeln!(f, "    {s}")?;
        }
        writeln!(f, "  fixture read errors: {}", self.read_error_count)?;
        for s in &self.read_errors {
            writeln!(f, "    {s}")?;
        }
        for (name, st) in &self.inputs {
            if st.truncated_last_line || st.stream_error || st.bad_lines > 0 {
                writeln!(
                    f,
                    "    {name}: {} bad lines, truncated last line: {}, stream error: {}",
                    st.bad_lines, st.truncated_last_line, st.stream_error
                )?;
            }
        }
        let alerts: Vec<String> = e.alerts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            f,
            "  alerts: {} ({})",
            self.alerts,
            if alerts.is_empty() {
                "none".to_string()
            } else {
                alerts.join(" ")
            }
        )?;
        write!(f, "  wall time {:.3} s, {:.0} frames/s", secs, rate)
    }
}

/// Why a replay could not run (a bad line is not one of these).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An input could not be opened.
    #[error(transparent)]
    Open(#[from] FixtureError),
    /// The alert sink failed (e.g. stdout closed).
    #[error("cannot write alerts: {0}")]
    Sink(#[from] std::io::Error),
}

/// Replays `paths` through a new engine, handing every alert to `sink` as it
/// is raised. With `Speed::Factor`, records are handed over at that multiple
/// of their recorded pace, and ticks between them are run in wall time so
/// silences are reported when they happen.
pub fn replay(
    cfg: Config,
    paths: &[PathBuf],
    speed: Speed,
    sink: &mut dyn FnMut(&Alert, bool) -> std::io::Result<()>,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let mut merger = Merger::open(paths)?;
    let mut engine = Engine::new(cfg);
    let mut out: Vec<Alert> = Vec::new();
    let mut summary = Summary::default();
    let mut first: Option<Nanos> = None;
    let mut last: Nanos = 0;
    let paced = matches!(speed, Speed::Factor(_));
    // Connections seen in each input, so that an input's end can be told to
    // the engine (the end of a recording is not silence).
    let mut conns: Vec<Vec<String>> = vec![Vec::new(); paths.len()];
    loop {
        if let Some(e) = merger.prepare() {
            summary.read_error_count += 1;
            if summary.read_errors.len() < READ_ERROR_SAMPLES {
                summary.read_errors.push(e.to_string());
            }
            continue;
        }
        for i in merger.take_ended() {
            for c in conns.get(i).into_iter().flatten() {
                engine.end_connection(c);
            }
        }
        let rec = match merger.pop() {
            None => break,
            Some((source, rec)) => {
                if let Some(list) = conns.get_mut(source)
                    && list.last().map(String::as_str) != Some(&rec.conn)
                    && !list.iter().any(|c| *c == rec.conn)
                {
                    list.push(rec.conn.to_string());
                }
                rec
            }
        };
        let t = rec.recv_ns;
        let t0 = *first.get_or_insert(t);
        last = last.max(t);
        if let Speed::Factor(f) = speed {
            // Run the ticks that fall before this record at their own wall
            // time, then wait for the record's.
            while let Some(tick) = engine.next_tick().filter(|&k| k < t) {
                wait_until(started, t0, tick, f);
                engine.advance_to(tick, &mut out);
                flush(&mut out, sink, &mut summary, true)?;
            }
            wait_until(started, t0, t, f);
        }
        engine.on_record(&rec, &mut out);
        flush(&mut out, sink, &mut summary, paced)?;
    }
    summary.engine = engine.stats();
    summary.inputs = merger
        .readers()
        .iter()
        .map(|r| (r.name().to_string(), r.stats().clone()))
        .collect();
    summary.span_ns = first.map_or(0, |f| last - f);
    summary.wall = started.elapsed();
    Ok(summary)
}

fn flush(
    out: &mut Vec<Alert>,
    sink: &mut dyn FnMut(&Alert, bool) -> std::io::Result<()>,
    summary: &mut Summary,
    paced: bool,
) -> std::io::Result<()> {
    let n = out.len();
    for (i, a) in out.drain(..).enumerate() {
        summary.alerts += 1;
        // Paced replays flush each batch so alerts show when they happen.
        sink(&a, paced && i + 1 == n)?;
    }
    Ok(())
}

/// Sleeps until fixture time `t` is due at speed `factor`.
fn wait_until(started: Instant, t0: Nanos, t: Nanos, factor: f64) {
    let due = Duration::from_secs_f64(((t - t0).max(0) as f64 / 1e9) / factor);
    let elapsed = started.elapsed();
    if due > elapsed {
        std::thread::sleep(due - elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("10".parse::<Speed>(), Ok(Speed::Factor(10.0)));
        assert_eq!("0.5".parse::<Speed>(), Ok(Speed::Factor(0.5)));
        assert!("0".parse::<Speed>().is_err());
        assert!("-1".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().unwrap_err().contains("fast"));
    }
}
