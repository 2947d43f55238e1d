//! feedwatch: a market-data anomaly detector.
//!
//! Raw frames from live venue connections or from recorded fixtures flow into
//! one deterministic [`engine::Engine`]: a venue adapter turns each frame into
//! normalized events, per-stream state (ring buffers, order books, candle
//! builders) is updated, detectors check that state, and an incident book
//! turns findings into alerts (`open`, `update`, `resolved`) for the desk.
//! The engine owns no I/O and reads no wall clock: time is a parameter, so a
//! replay gives the alerts the live run gave, byte for byte, at any speed.

pub mod alert;
pub mod candles;
pub mod config;
pub mod demo;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod feed;
pub mod fixture;
pub mod model;
pub mod net;
pub mod record;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod serve;
pub mod sim;
pub mod sink;
pub mod state;
pub mod venues;
