//! Detectors end to end over real recordings, with faults injected by code.

mod book_health;
mod clean_recordings;
mod faults;
mod outage_severity;
mod price_divergence;
mod unreachable;
