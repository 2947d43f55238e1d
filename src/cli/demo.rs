//! `feedwatch demo`: the live consumer against local simulators serving the
//! bundled real recordings, in one process with no internet; stops after
//! `--duration` or on SIGINT/SIGTERM.
//!
//! This file only reads the arguments, checks the fixtures exist, and calls
//! the library's demo (`feedwatch::demo`); it holds no simulator,
//! connection or detection logic.

use super::common::{
    LiveFlags, live_sinks, load_config, parse_faults, parse_speed, runtime, shutdown_signal,
};
use anyhow::{Result, bail};
use feedwatch::demo::{DemoError, DemoOptions};
use feedwatch::feed::FeedError;
use feedwatch::serve::{Desk, serve_while};
use feedwatch::sim::Faults;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `feedwatch demo` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config (its `[feed]` venues and endpoints are replaced by
    /// the simulators).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Fixtures to serve, one simulator per venue.
    #[arg(long = "fixture", num_args = 1.., default_values = [
        "fixtures/replay/binance-spot-btcusdt-2024-08-08.fixture.zst",
        "fixtures/replay/binance-usdm-btcusdt-2024-08-08.fixture.zst",
        "fixtures/replay/binance-coinm-btcusd_perp-2024-08-08.fixture.zst",
    ])]
    fixtures: Vec<PathBuf>,
    /// `max` or a factor of recorded speed.
    #[arg(long, default_value = "1")]
    speed: String,
    /// Faults injected by the first fixture's simulator (see
    /// `simulate`); the default closes its first connection after 3,000
    /// frames (`none` for none).
    #[arg(long, default_value = "close-after=3000,conns=1")]
    faults: String,
    /// Seconds to run (0: until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    #[command(flatten)]
    live: LiveFlags,
}

pub fn run(args: Args) -> Result<()> {
    let mut cfg = load_config(args.config.as_ref())?;
    let mut desk = Desk::from_config(&cfg.serve, args.live.serve.as_deref())?;
    let speed = parse_speed(&args.speed)?;
    let faults = if args.faults == "none" {
        Faults::default()
    } else {
        parse_faults(&args.faults)?
    };
    for f in &args.fixtures {
        if !f.is_file() {
            bail!(
                "fixture {} does not exist or is not a file (run the demo from the repository root)",
                f.display()
            );
        }
    }
    let plan = Plan {
        fixtures: args.fixtures.len(),
        duration: args.duration,
        faults: (faults != Faults::default()).then_some(args.faults.as_str()),
    };
    eprint!("{plan}");
    let opts = DemoOptions {
        fixtures: args.fixtures,
        speed,
        faults,
        record_dir: args.live.record,
        hub: desk.as_ref().map(|d| d.hub.clone()),
    };
    let (sink, sinks) = live_sinks(&mut cfg, args.live.sinks, desk.as_mut())?;
    let rt = runtime()?;
    let stop = stop_after(args.duration);
    match rt.block_on(serve_while(
        desk,
        feedwatch::demo::run(cfg, opts, stop, sink),
    ))? {
        Ok(s) => {
            let summary = sinks.finished(s);
            eprint!("{summary}");
            Ok(())
        }
        // The io::Error itself, so that main sees a closed stdout.
        Err(DemoError::Feed(FeedError::Sink(e))) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}

/// Completes on SIGINT/SIGTERM, or after `secs` seconds unless `secs` is 0.
async fn stop_after(secs: u64) {
    if secs == 0 {
        shutdown_signal().await;
    } else {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
        }
    }
}

/// What the demo is about to do, said before it starts.
struct Plan<'a> {
    /// Recordings served, one simulator each.
    fixtures: usize,
    /// Seconds to run, 0 for until interrupted.
    duration: u64,
    /// The faults as given, `None` when there are none.
    faults: Option<&'a str>,
}

impl fmt::Display for Plan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feedwatch demo: simulators on 127.0.0.1 serve {} real recording(s) for ",
            self.fixtures
        )?;
        if self.duration == 0 {
            f.write_str("until interrupted")?;
        } else {
            write!(f, "{} s", self.duration)?;
        }
        writeln!(
            f,
            "; faults injected into the first one's simulator: {}",
            self.faults.unwrap_or("none")
        )
    }
}
