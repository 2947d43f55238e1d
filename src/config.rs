//! TOML configuration with documented defaults and validation.
//!
//! Every threshold a detector uses lives here with its default, so a replay
//! needs no config file and a config file need only name what it changes.
//! Unknown keys are an error (a misspelt threshold must not be silently
//! ignored).

use crate::detect::candle::CandleConfig;
use serde::Deserialize;
use std::path::Path;

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Candle checks.
    pub candle: CandleConfig,
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

    /// Checks ranges that the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
