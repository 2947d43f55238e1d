//! `feedwatch simulate`: recorded fixtures served over WebSocket as a local
//! exchange, with faults on demand, until SIGINT/SIGTERM; what was served
//! is summarised on stderr at the end.
//!
//! This file only reads the arguments, binds the listener and calls the
//! library's simulator (`feedwatch::sim`); it never builds a frame itself.

use super::common::{parse_faults, parse_speed, runtime, shutdown_signal};
use anyhow::{Context, Result, bail};
use feedwatch::sim::{SimConfig, SimCounters};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The arguments of `feedwatch simulate` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Fixture files (plain, .gz or .zst), merged by receive time.
    #[arg(long = "fixture", required = true, num_args = 1..)]
    fixtures: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: String,
    /// `max` or a factor of recorded speed (`1`, `10`, `0.5`).
    #[arg(long, default_value = "1")]
    speed: String,
    /// Faults, e.g. `close-after=500,corrupt-every=100,conns=1`.
    #[arg(long, default_value = "")]
    faults: String,
    /// SYNTHETIC LOAD, not recorded data: also serve every recorded
    /// frame as N alias symbols made by code (BTCUSDT -> BTC0001USDT ..
    /// BTC{N:04}USDT in the stream name and the `s` field; subscribe
    /// to e.g. BTC0001/USDT). 0 serves the recording only.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=9999))]
    replicate: u32,
    /// At the end of the fixtures, start them again with time shifted
    /// (recorded pace kept) instead of idling; the connection stays open.
    #[arg(long = "loop")]
    looped: bool,
}

pub fn run(args: Args) -> Result<()> {
    let speed = parse_speed(&args.speed)?;
    let faults = parse_faults(&args.faults)?;
    for f in &args.fixtures {
        if !f.is_file() {
            bail!("fixture {} does not exist or is not a file", f.display());
        }
    }
    let cfg = SimConfig {
        fixtures: args.fixtures,
        speed,
        faults,
        replicate: args.replicate,
        looped: args.looped,
    };
    let listen = args.listen;
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("feedwatch simulate: listening on ws://{addr}/stream");
        let counters = Arc::new(SimCounters::default());
        feedwatch::sim::serve(listener, cfg, counters.clone(), shutdown_signal()).await;
        let summary = Served(&counters);
        eprint!("{summary}");
        Ok(())
    })
}

/// What a simulator served, from its counters.
struct Served<'a>(&'a SimCounters);

impl fmt::Display for Served<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = self.0;
        writeln!(
            f,
            "feedwatch simulate: {} connections served, {} refused, {} rejected with 429, {} frames sent, {} streams served, {} loops",
            get(&c.served),
            get(&c.refused),
            get(&c.rejected),
            get(&c.frames_sent),
            get(&c.streams_served),
            get(&c.loops)
        )
    }
}
