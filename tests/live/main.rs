//! The integration tests that run on 127.0.0.1 sockets against wall-clock
//! deadlines: the exchange simulator and the live consumer (also against
//! venues that cannot be reached), the `run`, `simulate` and `demo`
//! commands, the status server, the webhook and the soak. A binary of their own, apart from `tests/it`: their timing bounds
//! (backoffs, ping timeouts, `Retry-After`, a receiver down for 30 s) were
//! set with only each other running, not next to the CPU-heavy replays of
//! `tests/it`; and the soak reads this process's RSS and CPU
//! (`cargo test --release --test live soak:: -- --ignored --nocapture`).

#[path = "../it/util/mod.rs"]
mod util;

mod cli;
mod drill;
mod serve;
mod sim;
mod soak;
mod unreachable;
mod webhook;
