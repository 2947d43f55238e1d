//! The integration tests, one binary: a module per area, sharing `util`.

#[path = "../common/mod.rs"]
mod util;

mod golden;
mod summaries;
