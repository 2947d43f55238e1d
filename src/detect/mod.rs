//! Detectors: pure checks over engine state. Each returns a [`Verdict`]
//! (quiet, fire or clear) whose finding words its own alert; the engine
//! only hands verdicts to the incident book ([`Verdict::report`]).
//!
//! One file (or folder) per family. A detector reads the engine clock it
//! is given and the state it keeps; it never does I/O and never reads the
//! wall clock.

pub mod bad_print;
pub mod book;
pub mod book_health;
pub mod candle;
pub mod config;
pub mod connection;
pub mod consensus;
pub mod divergence;
pub mod drops;
pub mod frozen;
pub mod lag;
pub mod outage;
pub mod silence;
pub mod verdict;

pub use config::{DetectConfig, EngineConfig};
pub use verdict::{Finding, Outcome, Verdict, Words};
