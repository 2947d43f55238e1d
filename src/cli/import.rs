//! `feedwatch import`: foreign recordings (hftbacktest, cryptofeed) into the
//! fixture format, with a summary of what was read and written on stderr.
//!
//! This file only reads the arguments and calls the library's importer; it
//! never parses a recording itself.

use anyhow::{Context, Result};
use feedwatch::fixture::import::{ImportFormat, ImportStats, import};
use feedwatch::model::Venue;
use std::fmt;
use std::path::{Path, PathBuf};

/// The arguments of `feedwatch import` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source format: `hftbacktest` or `cryptofeed`.
    #[arg(long)]
    from: String,
    /// Venue the recording came from (e.g. `binance-spot`).
    #[arg(long)]
    venue: String,
    /// Output fixture (`.gz` or `.zst` to compress).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Input files; several hftbacktest files are one connection.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let format: ImportFormat = args.from.parse()?;
    let venue = Venue::parse(&args.venue)?;
    let stats = import(format, venue, &args.inputs, &args.output)
        .with_context(|| format!("importing into {}", args.output.display()))?;
    let summary = Imported {
        stats: &stats,
        output: &args.output,
    };
    eprint!("{summary}");
    Ok(())
}

/// The summary of an import: counts, where they went, and the first bad
/// lines.
struct Imported<'a> {
    stats: &'a ImportStats,
    output: &'a Path,
}

impl fmt::Display for Imported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats;
        writeln!(
            f,
            "feedwatch import: {} lines -> {} records ({} frames, {} sent, {} REST, {} connections) in {}; {} bad lines",
            s.lines,
            s.records,
            s.frames,
            s.sent,
            s.rest,
            s.opens,
            self.output.display(),
            s.bad_lines
        )?;
        for sample in &s.bad_line_samples {
            writeln!(f, "  {sample}")?;
        }
        Ok(())
    }
}
