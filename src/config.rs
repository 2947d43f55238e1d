//! The application's TOML configuration: it composes every section (the
//! detection sections the engine takes as a [`DetectConfig`], the live
//! feed, the sinks and the desk server) with documented defaults and
//! validation. Only the command line and the demo read it; everything
//! below takes its own section.
//!
//! Every threshold a detector uses lives here with its default, so a replay
//! needs no config file and a config file need only name what it changes.
//! Unknown keys are an error (a misspelt threshold must not be silently
//! ignored).

use crate::alert::IncidentConfig;
use crate::detect::DetectConfig;
use crate::detect::EngineConfig;
use crate::detect::book::BookConfig;
use crate::detect::candle::CandleConfig;
use crate::detect::consensus::ConsensusConfig;
use crate::detect::frozen::FrozenConfig;
use crate::detect::lag::LagConfig;
use crate::detect::outage::OutageConfig;
use crate::detect::silence::SilenceConfig;
use crate::feed::FeedConfig;
use crate::serve::ServeConfig;
use crate::sink::SinksConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
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
    /// The live consumer (`feedwatch run`).
    pub feed: FeedConfig,
    /// Where alerts go: stdout, an alert log, a webhook.
    pub sinks: SinksConfig,
    /// The desk server (`--serve`): WebSocket feed, status, metrics.
    pub serve: ServeConfig,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is invalid or names an unknown key.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said (includes line and key).
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Which key and why.
        message: String,
    },
}

impl Config {
    /// Reads and validates a TOML config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: name.clone(),
                message,
            },
            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                path: name.clone(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The detection sections, as the engine takes them.
    pub fn detect(&self) -> DetectConfig {
        DetectConfig {
            engine: self.engine.clone(),
            silence: self.silence.clone(),
            lag: self.lag.clone(),
            frozen: self.frozen.clone(),
            book: self.book.clone(),
            candle: self.candle.clone(),
            consensus: self.consensus.clone(),
            outage: self.outage.clone(),
            incidents: self.incidents.clone(),
        }
    }

    /// Checks ranges that the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.detect()
            .validate()
            .and_then(|()| self.feed.validate())
            .and_then(|()| self.sinks.validate())
            .and_then(|()| self.serve.validate())
            .map_err(|message| ConfigError::Invalid {
                path: String::new(),
                message,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn a_partial_section_keeps_other_defaults() {
        let c = Config::from_toml("[silence]\nphi = 6.0\n").unwrap();
        assert_eq!(c.silence.phi, 6.0);
        assert_eq!(
            c.silence.max_silence_s,
            SilenceConfig::default().max_silence_s
        );
        assert_eq!(c.lag, LagConfig::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::from_toml("[silence]\nphy = 6.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("phy"), "{e}");
        let e = Config::from_toml("[engine]\ntick_ms = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("engine.tick_ms"), "{e}");
        let e = Config::from_toml("[lag]\nfloor_s = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lag.floor_s"), "{e}");
        let e = Config::from_toml("[silence]\nphi = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("phi"), "{e}");
    }

    #[test]
    fn sinks_parse_and_bad_values_are_named() {
        let c = Config::from_toml(
            "[sinks]\nstdout = false\n[sinks.log]\npath = \"a.jsonl\"\nfsync = \"interval\"\n[sinks.webhook]\nurl = \"https://hooks.example/x\"\n",
        )
        .unwrap();
        assert!(!c.sinks.stdout);
        let log = c.sinks.log.unwrap();
        assert_eq!(log.fsync, crate::sink::Fsync::Interval);
        assert_eq!(log.keep, 5);
        assert_eq!(c.sinks.webhook.unwrap().max_retry_s, 600);
        for (text, key) in [
            ("[sinks.log]\nfsync = \"sometimes\"\n", "sometimes"),
            (
                "[sinks.log]\nfsync_interval_ms = 0\n",
                "sinks.log.fsync_interval_ms",
            ),
            ("[sinks.log]\nrotate = 1\n", "rotate"),
            ("[sinks.webhook]\nqueue = 5\n", "sinks.webhook.url"),
            (
                "[sinks.webhook]\nurl = \"hooks.example\"\n",
                "sinks.webhook.url",
            ),
            (
                "[sinks.webhook]\nurl = \"http://127.0.0.1:1/\"\nqueue = 0\n",
                "sinks.webhook.queue",
            ),
        ] {
            let e = Config::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let e = Config::load(Path::new("/nonexistent/feedwatch.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/feedwatch.toml"), "{e}");
    }
}
