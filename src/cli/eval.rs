//! `feedwatch eval`: the detectors scored on the labelled scenarios of a
//! folder, as a table (or JSON) on stdout; fails when a label is missed or
//! an alert of warning or above is not explained.
//!
//! This file only reads the arguments, calls the library's evaluation and
//! turns its verdict into the exit status; it never scores anything itself.

use super::common::load_config;
use anyhow::{Result, bail};
use std::path::PathBuf;

/// The arguments of `feedwatch eval` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// The scenario folder.
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let cfg = load_config(args.config.as_ref())?;
    let report = feedwatch::eval::eval_dir(&cfg.detect(), &args.dir)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    if report.recall() < 1.0 || report.false_alarms() > 0 {
        bail!(
            "recall {:.2} with {} false alarm(s): see the table",
            report.recall(),
            report.false_alarms()
        );
    }
    Ok(())
}
