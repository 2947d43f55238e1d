//! `feedwatch run`: the configured venues watched live until SIGINT or
//! SIGTERM; alerts on stdout and the sinks, a summary on stderr at the end.
//!
//! This file only reads the arguments, opens the sinks and the optional
//! desk server, and calls the library's live consumer; it holds no
//! connection or detection logic.

use super::common::{LiveFlags, live_sinks, load_config, runtime, shutdown_signal};
use anyhow::Result;
use feedwatch::feed::{FeedError, RunOptions};
use feedwatch::serve::{Desk, serve_while};
use std::path::PathBuf;

/// The arguments of `feedwatch run` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config (`[feed]` says which venues, symbols and endpoints).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    live: LiveFlags,
}

pub fn run(args: Args) -> Result<()> {
    let mut cfg = load_config(args.config.as_ref())?;
    let mut desk = Desk::from_config(&cfg.serve, args.live.serve.as_deref())?;
    let opts = RunOptions {
        record_dir: args.live.record,
        ..Default::default()
    };
    let hub = desk.as_ref().map(|d| d.hub.clone());
    let (sink, sinks) = live_sinks(&mut cfg, args.live.sinks, desk.as_mut())?;
    let rt = runtime()?;
    let summary = rt.block_on(serve_while(
        desk,
        feedwatch::serve::run_feed(
            cfg.detect(),
            cfg.feed,
            opts,
            hub.as_ref(),
            shutdown_signal(),
            sink,
        ),
    ))?;
    match summary {
        Ok(s) => {
            let summary = sinks.finished(s);
            eprint!("{summary}");
            Ok(())
        }
        // The io::Error itself, so that main sees a closed stdout.
        Err(FeedError::Sink(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}
