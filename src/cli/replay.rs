//! `feedwatch replay`: recorded fixtures (or one scenario recipe) through
//! the engine, alerts on stdout and the sinks, a summary on stderr; with
//! `--serve`, the desk server watches and keeps serving the final state.
//!
//! This file only reads the arguments and calls the library's replay; it
//! holds no detection logic and formats no alert.

use super::common::{
    Finished, SinkFlags, load_config, more_sinks, open_sinks, parse_speed, runtime, shutdown_signal,
};
use anyhow::Result;
use feedwatch::alert::Alert;
use feedwatch::config::Config;
use feedwatch::replay::{Input, Options, ReplayError, Speed, replay_input};
use feedwatch::serve::Desk;
use feedwatch::sink::BoxSink;
use feedwatch::sink::Sinks;
use std::path::PathBuf;

/// The arguments of `feedwatch replay` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config (defaults apply to anything it does not set).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `max` (default) or a factor of recorded speed (`1`, `10`, `0.5`).
    #[arg(long, default_value = "max")]
    speed: String,
    /// Serve the desk feed, status, metrics and dashboard on this
    /// address (e.g. `127.0.0.1:8080`; overrides `[serve] listen`);
    /// the server keeps serving the final state after the replay until
    /// SIGINT/SIGTERM.
    #[arg(long, value_name = "ADDR")]
    serve: Option<String>,
    /// Fixture files (plain, .gz or .zst), merged by receive time; or
    /// one scenario recipe (`fixtures/scenarios/*.toml`), replayed with
    /// its faults injected.
    #[arg(required = true)]
    fixtures: Vec<PathBuf>,
    #[command(flatten)]
    sinks: SinkFlags,
}

pub fn run(args: Args) -> Result<()> {
    let mut cfg = load_config(args.config.as_ref())?;
    let speed = parse_speed(&args.speed)?;
    let mut sinks = open_sinks(&mut cfg, args.sinks)?;
    let more_sinks = more_sinks(&cfg);
    if let Some(desk) = Desk::from_config(&cfg.serve, args.serve.as_deref())? {
        let input = Input::from_paths(&args.fixtures)?;
        return replay_served(cfg, input, speed, desk, sinks);
    }
    let input = Input::from_paths(&args.fixtures)?;
    let opts = Options {
        speed: Some(speed),
        progress: true,
        observer: None,
    };
    let result = replay_input(
        cfg.detect(),
        &input,
        opts,
        &mut |a: &Alert, flush_now: bool| sinks.write(a, flush_now),
    );
    // Closed on every path: the log synced, the webhook flushed.
    let closed = sinks.close();
    let summary = match result {
        Ok(s) => s,
        // The io::Error itself, so that main sees a closed stdout.
        Err(ReplayError::Sink(e)) => return Err(e.into()),
        Err(e) => return Err(e.into()),
    };
    let stats = closed?;
    let finished = Finished {
        summary,
        sinks: more_sinks.then_some(stats),
    };
    eprint!("{finished}");
    Ok(())
}

/// `replay --serve`: the replay on a blocking thread feeding the desk
/// server, alerts on stdout as they come; then the final state is served
/// until SIGINT/SIGTERM.
fn replay_served(
    cfg: Config,
    input: Input,
    speed: Speed,
    mut desk: Desk,
    sinks: Sinks,
) -> Result<()> {
    desk.server.sources.push(sinks.counters());
    // Someone is watching: every alert goes out (and stdout is flushed) as
    // it comes; the sinks close when the replay's thread drops them.
    let mut sinks = sinks;
    let sink: BoxSink = Box::new(move |a: &Alert, _flush: bool| sinks.write(a, true));
    let rt = runtime()?;
    let result = rt.block_on(feedwatch::serve::replay_served(
        cfg.detect(),
        input,
        speed,
        desk,
        sink,
        shutdown_signal(),
        |s| eprintln!("{s}"),
    ));
    // An interrupted replay's thread is not waited for.
    rt.shutdown_background();
    match result {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            eprintln!("feedwatch replay: interrupted");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
