//! The tests that drive a headless Chromium (`util::browser`): the report
//! page and the desk dashboard. A binary of their own so that a machine
//! without Chromium can run everything else (`cargo test --test it --test
//! live`) and these alone after `.ci/deps` (`cargo test --test browser`).

#[path = "../it/util/mod.rs"]
mod util;

mod dashboard;
mod report;
