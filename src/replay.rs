//! Replay: recorded fixtures through the engine, at full speed or paced.
//!
//! Fixtures are merged by receive time and fed to the same [`Engine`] the
//! live consumer uses. Pacing only decides *when* (in wall time) a record is
//! handed over; the engine's clock is always the fixture's, and its ticks are
//! on a fixed grid of that clock, so the alerts are the same at any speed.
//! This module never changes a record and never stops on a bad one.

use crate::alert::Alert;
use crate::detect::DetectConfig;
use crate::engine::{Engine, Observer, Stats};
use crate::fixture::{FileProgress, FixtureError};
use crate::fixture::{Merger, ReaderStats};
use crate::model::{Nanos, format_rfc3339_ms};
use crate::record::Record;
use crate::scenario::{Scenario, ScenarioError, Step};
use crate::sink::AlertSink;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
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
    /// A scenario recipe could not be built.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The inputs mix a scenario recipe with other inputs.
    #[error("a scenario recipe ({0}) is replayed on its own: it names its recordings itself")]
    Mixed(String),
    /// The alert sink failed (e.g. stdout closed).
    #[error("cannot write alerts: {0}")]
    Sink(#[from] std::io::Error),
}

/// What to replay.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Fixture files (plain, .gz or .zst), merged by receive time.
    Files(Vec<PathBuf>),
    /// A scenario recipe (`.toml`, as `eval` reads): its recordings with
    /// its faults injected by code, in memory.
    Scenario(PathBuf),
}

impl Input {
    /// The input named by command-line paths: one `.toml` file is a
    /// scenario recipe, anything else is fixture files.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Input, ReplayError> {
        let is_recipe = |p: &PathBuf| p.extension().is_some_and(|x| x == "toml");
        match paths.iter().find(|p| is_recipe(p)) {
            Some(r) if paths.len() == 1 => Ok(Input::Scenario(r.clone())),
            Some(r) => Err(ReplayError::Mixed(r.display().to_string())),
            None => Ok(Input::Files(paths.to_vec())),
        }
    }
}

/// How to replay, beyond the config and the inputs.
#[derive(Default)]
pub struct Options<'a> {
    /// Pace (`Speed::Max` when `None`).
    pub speed: Option<Speed>,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Watches the engine as it goes.
    pub observer: Option<&'a mut dyn Observer>,
}

/// Replays `paths` through a new engine, handing every alert to `sink` as it
/// is raised. With `Speed::Factor`, records are handed over at that multiple
/// of their recorded pace, and ticks between them are run in wall time so
/// silences are reported when they happen.
pub fn replay(
    cfg: DetectConfig,
    paths: &[PathBuf],
    speed: Speed,
    sink: &mut dyn AlertSink,
) -> Result<Summary, ReplayError> {
    let opts = Options {
        speed: Some(speed),
        ..Options::default()
    };
    replay_input(cfg, &Input::Files(paths.to_vec()), opts, sink)
}

/// Replays `input` (fixture files or a scenario recipe) through a new
/// engine, as [`replay`] does, with an optional observer and progress bar.
pub fn replay_input(
    cfg: DetectConfig,
    input: &Input,
    opts: Options<'_>,
    sink: &mut dyn AlertSink,
) -> Result<Summary, ReplayError> {
    let mut d = Driver::new(cfg, opts, sink);
    match input {
        Input::Files(paths) => d.files(paths)?,
        Input::Scenario(path) => d.scenario(&Scenario::load(path)?, path)?,
    }
    Ok(d.finish().1)
}

/// Replays a scenario already built in memory (`eval` scores its alerts).
pub fn replay_scenario(
    cfg: DetectConfig,
    scenario: &Scenario,
    name: &Path,
    opts: Options<'_>,
    sink: &mut dyn AlertSink,
) -> Result<Summary, ReplayError> {
    let mut d = Driver::new(cfg, opts, sink);
    d.scenario(scenario, name)?;
    Ok(d.finish().1)
}

/// THE drive loop: one engine over records, at full speed or paced, every
/// alert handed to a sink as it is raised. Every way of running the engine
/// over recorded records goes through here: [`replay`], [`replay_input`]
/// and [`replay_scenario`] (hence `eval`, `report`, `serve`), the
/// integration tests (records built in memory, one at a time) and the
/// replay bench, and the live feed's engine thread (records from its
/// queue as they arrive, with [`Driver::advance_to`] on its wall-clock
/// ticks).
///
/// Records are handed over with [`Driver::record`] (or a whole input with
/// [`Driver::files`] / [`Driver::scenario`]); [`Driver::finish`] gives the
/// engine back with the run's [`Summary`]. At `Speed::Max` a record goes
/// straight to `Engine::on_record`, which first runs the ticks due before
/// it: no tick runs between records beyond those, and none after the last
/// record. At `Speed::Factor` the ticks before a record run at their own
/// wall time, then the record waits for its own.
///
/// `S` is where alerts go: a `&mut dyn AlertSink`, a closure
/// (`FnMut(&Alert, bool) -> io::Result<()>`) or any other [`AlertSink`].
pub struct Driver<'a, S> {
    started: Instant,
    engine: Engine,
    out: Vec<Alert>,
    summary: Summary,
    first: Option<Nanos>,
    last: Nanos,
    speed: Speed,
    sink: S,
    observer: Option<&'a mut dyn Observer>,
    progress: Progress,
}

impl<'a, S: AlertSink> Driver<'a, S> {
    /// A run of a new engine with `cfg`, alerts to `sink`.
    pub fn new(cfg: DetectConfig, opts: Options<'a>, sink: S) -> Driver<'a, S> {
        Driver::with_engine(Engine::new(cfg), opts, sink)
    }

    /// A run of `engine` as it stands (its clock, streams and incidents),
    /// alerts to `sink`.
    pub fn with_engine(engine: Engine, opts: Options<'a>, sink: S) -> Driver<'a, S> {
        Driver {
            started: Instant::now(),
            engine,
            out: Vec::new(),
            summary: Summary::default(),
            first: None,
            last: 0,
            speed: opts.speed.unwrap_or(Speed::Max),
            sink,
            observer: opts.observer,
            progress: Progress::new(opts.progress),
        }
    }

    /// The engine, to be asked mid-run (stats, streams, books).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The sink the alerts went to.
    pub fn sink(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Ends the run: clears the progress bar, gives the observer its last
    /// look, and returns the engine with the run's summary.
    pub fn finish(mut self) -> (Engine, Summary) {
        self.progress.clear();
        if let Some(o) = self.observer.as_mut() {
            o.finish(&self.engine);
        }
        let mut summary = self.summary;
        summary.engine = self.engine.stats();
        summary.span_ns = self.first.map_or(0, |f| self.last - f);
        summary.wall = self.started.elapsed();
        (self.engine, summary)
    }

    /// Lets engine time pass to `t` without a record: the ticks due run
    /// and their alerts go to the sink (a live feed's clock). Fails only
    /// if the sink does.
    pub fn advance_to(&mut self, t: Nanos) -> std::io::Result<()> {
        self.engine.advance_to(t, &mut self.out);
        flush(&mut self.out, &mut self.sink, &mut self.summary, false)?;
        if let Some(o) = self.observer.as_mut() {
            o.observe(&self.engine);
        }
        Ok(())
    }

    /// The books that want a fresh snapshot since the last call (a live
    /// feed fetches them; a replay has them in its recording).
    pub fn take_resyncs(&mut self, into: &mut Vec<crate::engine::ResyncRequest>) {
        self.engine.take_resyncs(into);
    }

    /// Tells the engine connection `conn` ended (the end of a recording
    /// is not silence).
    pub fn end_connection(&mut self, conn: &str) {
        self.engine.end_connection(conn);
    }

    /// A scenario's records, with its inputs' ends told to the engine.
    pub fn scenario(&mut self, scenario: &Scenario, name: &Path) -> Result<(), ReplayError> {
        let (t0, t_end) = (scenario.t0, scenario.t_end);
        let span = (t_end - t0).max(1) as f64;
        scenario.walk(|step| match step {
            Step::End(conn) => {
                self.end_connection(conn);
                Ok(())
            }
            Step::Record(rec) => {
                self.record(rec)?;
                let frac = (rec.recv_ns - t0) as f64 / span;
                self.progress.show(frac, &self.summary, rec.recv_ns);
                Ok::<(), ReplayError>(())
            }
        })?;
        self.summary.inputs = vec![(
            name.display().to_string(),
            ReaderStats {
                records: scenario.total as u64,
                ..ReaderStats::default()
            },
        )];
        Ok(())
    }

    /// Fixture files, merged by receive time, each input's connections
    /// ended where the input ends.
    pub fn files(&mut self, paths: &[PathBuf]) -> Result<(), ReplayError> {
        let mut merger = Merger::open(paths)?;
        let files: Vec<FileProgress> = merger
            .readers()
            .iter()
            .filter_map(|r| r.progress().cloned())
            .collect();
        // Connections seen in each input, so that an input's end can be
        // told to the engine (the end of a recording is not silence).
        let mut conns: Vec<Vec<String>> = vec![Vec::new(); paths.len()];
        loop {
            if let Some(e) = merger.prepare() {
                self.summary.read_error_count += 1;
                if self.summary.read_errors.len() < READ_ERROR_SAMPLES {
                    self.summary.read_errors.push(e.to_string());
                }
                continue;
            }
            for i in merger.take_ended() {
                for c in conns.get(i).into_iter().flatten() {
                    self.end_connection(c);
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
            self.record(&rec)?;
            if self.progress.due() {
                let (read, size) = files.iter().fold((0, 0), |(r, s), f| {
                    let (fr, fs) = f.get();
                    (r + fr, s + fs)
                });
                self.progress
                    .show(read as f64 / size.max(1) as f64, &self.summary, t);
            }
        }
        self.summary.inputs = merger
            .readers()
            .iter()
            .map(|r| (r.name().to_string(), r.stats().clone()))
            .collect();
        Ok(())
    }

    /// One record: the ticks before it (paced), then the record itself;
    /// its alerts go to the sink. Fails only when the sink does.
    pub fn record(&mut self, rec: &Record<'_>) -> std::io::Result<()> {
        let t = rec.recv_ns;
        let t0 = *self.first.get_or_insert(t);
        self.last = self.last.max(t);
        let paced = matches!(self.speed, Speed::Factor(_));
        if let Speed::Factor(f) = self.speed {
            // Run the ticks that fall before this record at their own wall
            // time, then wait for the record's.
            while let Some(tick) = self.engine.next_tick().filter(|&k| k < t) {
                wait_until(self.started, t0, tick, f);
                self.engine.advance_to(tick, &mut self.out);
                flush(&mut self.out, &mut self.sink, &mut self.summary, true)?;
                if let Some(o) = self.observer.as_mut() {
                    o.observe(&self.engine);
                }
            }
            wait_until(self.started, t0, t, f);
        }
        self.engine.on_record(rec, &mut self.out);
        // Most records raise nothing: skip the flush then.
        if !self.out.is_empty() {
            flush(&mut self.out, &mut self.sink, &mut self.summary, paced)?;
        }
        if let Some(o) = self.observer.as_mut() {
            o.observe(&self.engine);
        }
        Ok(())
    }
}

fn flush(
    out: &mut Vec<Alert>,
    sink: &mut impl AlertSink,
    summary: &mut Summary,
    paced: bool,
) -> std::io::Result<()> {
    let n = out.len();
    for (i, a) in out.drain(..).enumerate() {
        summary.alerts += 1;
        // Paced replays flush each batch so alerts show when they happen.
        sink.send(&a, paced && i + 1 == n)?;
    }
    Ok(())
}

/// A one-line progress bar on stderr, redrawn at most a few times a second,
/// and only when stderr is a terminal (a log file gets no carriage
/// returns).
struct Progress {
    enabled: bool,
    started: Instant,
    next: Instant,
    drawn: bool,
}

/// Redraws per second.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

impl Progress {
    fn new(wanted: bool) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            started: now,
            next: now + PROGRESS_EVERY,
            drawn: false,
        }
    }

    /// Whether a redraw is due (a flag when disabled; a clock read when
    /// enabled, which only a terminal user watching a replay pays for).
    fn due(&self) -> bool {
        self.enabled && Instant::now() >= self.next
    }

    /// Redraws with `frac` done, if due.
    fn show(&mut self, frac: f64, summary: &Summary, t: Nanos) {
        if !self.due() {
            return;
        }
        let now = Instant::now();
        self.next = now + PROGRESS_EVERY;
        let line = progress_line(frac, summary.alerts, t, now - self.started);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Removes the bar before the summary is printed.
    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// `replay  42% [########            ] 00:03:04 UTC  12 alerts  0:08 left`.
fn progress_line(frac: f64, alerts: u64, t: Nanos, elapsed: Duration) -> String {
    const WIDTH: usize = 24;
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
    let clock = format_rfc3339_ms(t);
    let clock = clock.get(11..19).unwrap_or(&clock);
    let left = if frac > 0.01 {
        let secs = elapsed.as_secs_f64() * (1.0 - frac) / frac;
        format!(
            "  {}:{:02} left",
            (secs / 60.0) as u64,
            (secs % 60.0) as u64
        )
    } else {
        String::new()
    };
    format!(
        "replay {:>3.0}% [{}{}] {clock} UTC  {alerts} alerts{left}",
        frac * 100.0,
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
    )
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

    #[test]
    fn a_recipe_is_replayed_alone() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            Input::from_paths(&[p("s/aws.toml")]).unwrap(),
            Input::Scenario(p("s/aws.toml"))
        );
        assert_eq!(
            Input::from_paths(&[p("a.zst"), p("b.gz")]).unwrap(),
            Input::Files(vec![p("a.zst"), p("b.gz")])
        );
        let e = Input::from_paths(&[p("a.zst"), p("s/aws.toml")]).unwrap_err();
        assert!(e.to_string().contains("s/aws.toml"), "{e}");
    }

    #[test]
    fn the_progress_line_is_bounded_and_says_what_is_left() {
        let l = progress_line(0.5, 3, 0, Duration::from_secs(10));
        assert!(
            l.starts_with("replay  50% [############            ]"),
            "{l}"
        );
        assert!(l.contains("3 alerts") && l.contains("0:10 left"), "{l}");
        // Out-of-range fractions are clamped, never a panic or a long bar.
        assert_eq!(
            progress_line(7.0, 0, 0, Duration::ZERO).len(),
            progress_line(1.0, 0, 0, Duration::ZERO).len()
        );
        assert!(progress_line(f64::NAN, 0, 0, Duration::ZERO).contains("  0%"));
    }
}
