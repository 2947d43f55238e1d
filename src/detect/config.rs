//! The detection settings the engine takes: every check's section and the
//! engine's clock, by value at start. The application's config composes
//! them with the other sections (feed, sinks, desk server); nothing here
//! knows those, so the engine never sees more than it needs.
//!
//! Values are validated here, each error naming its `section.key`.

use super::book::BookConfig;
use super::candle::CandleConfig;
use super::consensus::ConsensusConfig;
use super::frozen::FrozenConfig;
use super::lag::LagConfig;
use super::outage::OutageConfig;
use super::silence::SilenceConfig;
use crate::alert::IncidentConfig;
use serde::{Deserialize, Serialize};

/// Everything the engine and its checks are configured by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectConfig {
    /// The engine's clock and bookkeeping.
    pub engine: EngineConfig,
    /// `feed_silent`.
    pub silence: SilenceConfig,
    /// `feed_lagging`.
    pub lag: LagConfig,
    /// `feed_frozen`.
    pub frozen: FrozenConfig,
    /// `book_gap`, `book_crossed`, `spread_blowout`, `depth_collapse`,
    /// `book_stale`.
    pub book: BookConfig,
    /// `candle_invalid`, `candle_gap`, `abnormal_candle`.
    pub candle: CandleConfig,
    /// Cross-venue consensus (`scan-candles --source`, price divergence).
    pub consensus: ConsensusConfig,
    /// `venue_outage`, `shared_outage`, `local_stall`.
    pub outage: OutageConfig,
    /// Incident lifecycle: probation, identification, flap damping.
    pub incidents: IncidentConfig,
}

impl DetectConfig {
    /// Checks ranges that the types cannot express; the error names the
    /// key.
    pub fn validate(&self) -> Result<(), String> {
        let e = &self.engine;
        if !(1..=60_000).contains(&e.tick_ms) {
            return Err(format!(
                "engine.tick_ms must be 1..=60000, got {}",
                e.tick_ms
            ));
        }
        if e.trade_candle_interval_s == 0 || 86_400 % e.trade_candle_interval_s != 0 {
            return Err(format!(
                "engine.trade_candle_interval_s must divide a day, got {}",
                e.trade_candle_interval_s
            ));
        }
        if e.trade_candle_grace_s < 0 {
            return Err("engine.trade_candle_grace_s must be >= 0".into());
        }
        let s = &self.silence;
        let positive = [
            ("silence.phi", s.phi),
            ("silence.tail_share", s.tail_share),
            ("silence.min_silence_s", s.min_silence_s),
            ("silence.max_silence_s", s.max_silence_s),
            ("silence.half_life_s", s.half_life_s),
            ("silence.critical_after_s", s.critical_after_s),
            ("lag.floor_s", self.lag.floor_s),
            ("lag.factor", self.lag.factor),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if s.tail_share >= 0.5 {
            return Err(format!(
                "silence.tail_share must be below 0.5, got {}",
                s.tail_share
            ));
        }
        if s.min_silence_s > s.max_silence_s {
            return Err("silence.min_silence_s must not exceed silence.max_silence_s".into());
        }
        if !(s.min_tail_scale_s.is_finite() && s.min_tail_scale_s >= 0.0) {
            return Err("silence.min_tail_scale_s must be >= 0".into());
        }
        if !(1..=86_400).contains(&self.lag.window_s) {
            return Err(format!(
                "lag.window_s must be 1..=86400, got {}",
                self.lag.window_s
            ));
        }
        if self.book.max_pending == 0 || self.book.max_levels == 0 {
            return Err("book.max_pending and book.max_levels must be at least 1".into());
        }
        if !(100..=3_600_000).contains(&self.book.resync_interval_ms) {
            return Err(format!(
                "book.resync_interval_ms must be 100..=3600000, got {}",
                self.book.resync_interval_ms
            ));
        }
        self.frozen.validate().and_then(|()| self.book.validate())?;
        self.candle.validate()?;
        self.consensus
            .validate()
            .and_then(|()| self.outage.validate())
            .and_then(|()| self.incidents.validate())?;
        Ok(())
    }
}

/// Engine settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Resolution of time-based checks (ms): a silence is noticed on this
    /// grid of the engine clock, between frames.
    pub tick_ms: i64,
    /// Interval of the candles built from trades (seconds).
    pub trade_candle_interval_s: u32,
    /// A trade candle closes this long after its interval ends when no later
    /// trade has closed it (seconds).
    pub trade_candle_grace_s: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            tick_ms: 100,
            trade_candle_interval_s: 60,
            trade_candle_grace_s: 5,
        }
    }
}
