//! Detectors end to end over real recordings, with faults injected by code.

mod bad_print;
mod book_health;
mod clean_recordings;
mod faults;
mod frozen_quotes;
mod outage_severity;
mod price_divergence;
mod unreachable;
