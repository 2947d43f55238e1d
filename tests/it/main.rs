//! The integration tests over recordings, replays, the engine and the
//! command line: one binary, a module per area, sharing `util`.
//!
//! The tests that need sockets and wall-clock timing are in `tests/live`,
//! the ones that need Chromium in `tests/browser` (see each `main.rs`).

mod util;

mod alert_log;
mod config_example;
mod detect;
mod eval;
mod fixture;
mod golden;
mod layers;
mod replay_cli;
mod scan;
mod summaries;
mod venues;
