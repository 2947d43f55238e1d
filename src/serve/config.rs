//! `[serve]`: the desk server's settings (address, token, per-client queue,
//! how much history the dashboard gets).
//!
//! Only names and ranges live here; it never opens a socket. A token is
//! never printed (errors name the field, not its value).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The desk server (`feedwatch run|demo|replay --serve ADDR`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on (e.g. `127.0.0.1:8080`); none: no server unless
    /// `--serve` asks for one. Loopback unless configured otherwise.
    pub listen: Option<String>,
    /// Bearer token required by `/ws`, `/status` and `/metrics`.
    pub token: Option<String>,
    /// Name of an environment variable holding the token (instead of
    /// writing it into the file).
    pub token_env: Option<String>,
    /// Messages queued per desk client; a client this far behind is
    /// dropped, so a slow client never slows the engine or the others.
    pub client_queue: usize,
    /// Recent alerts kept for a new client's snapshot (timelines).
    pub recent_alerts: usize,
    /// Price samples kept per venue symbol (one per engine second).
    pub series_points: usize,
    /// Least wall time between two status pushes (ms), so a replay at full
    /// speed is not slowed by serializing status for every engine second.
    pub status_interval_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: None,
            token: None,
            token_env: None,
            client_queue: 1024,
            recent_alerts: 500,
            series_points: 900,
            status_interval_ms: 250,
        }
    }
}

impl ServeConfig {
    /// Checks ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(l) = &self.listen
            && l.parse::<SocketAddr>().is_err()
        {
            return Err(format!(
                "serve.listen must be an address such as 127.0.0.1:8080, got `{l}`"
            ));
        }
        if self.token.as_deref().is_some_and(str::is_empty) {
            return Err("serve.token must not be empty".into());
        }
        if self.token_env.as_deref().is_some_and(str::is_empty) {
            return Err("serve.token_env must not be empty".into());
        }
        if self.token.is_some() && self.token_env.is_some() {
            return Err("serve.token and serve.token_env are exclusive: set one".into());
        }
        let ranges = [
            ("serve.client_queue", self.client_queue, 1, 1_000_000),
            ("serve.recent_alerts", self.recent_alerts, 1, 100_000),
            ("serve.series_points", self.series_points, 1, 100_000),
        ];
        for (name, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{name} must be {lo}..={hi}, got {v}"));
            }
        }
        if self.status_interval_ms > 60_000 {
            return Err(format!(
                "serve.status_interval_ms must be 0..=60000, got {}",
                self.status_interval_ms
            ));
        }
        Ok(())
    }

    /// The token in force: `token`, or the value of `token_env` (an unset
    /// or empty variable is an error naming it).
    pub fn resolve_token(&self) -> Result<Option<String>, String> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        match &self.token_env {
            None => Ok(None),
            Some(var) => match std::env::var(var) {
                Ok(t) if !t.is_empty() => Ok(Some(t)),
                _ => Err(format!(
                    "serve.token_env names `{var}`, which is not set (or empty) in the environment"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_field() {
        assert!(ServeConfig::default().validate().is_ok());
        let bad = |c: ServeConfig, field: &str| {
            let e = c.validate().unwrap_err();
            assert!(e.contains(field), "{e}");
        };
        bad(
            ServeConfig {
                listen: Some("localhost".into()),
                ..ServeConfig::default()
            },
            "serve.listen",
        );
        bad(
            ServeConfig {
                client_queue: 0,
                ..ServeConfig::default()
            },
            "serve.client_queue",
        );
        bad(
            ServeConfig {
                token: Some("a".into()),
                token_env: Some("B".into()),
                ..ServeConfig::default()
            },
            "serve.token_env",
        );
        bad(
            ServeConfig {
                token: Some(String::new()),
                ..ServeConfig::default()
            },
            "serve.token",
        );
    }

    #[test]
    fn a_missing_token_variable_is_named() {
        let c = ServeConfig {
            token_env: Some("FEEDWATCH_TEST_SURELY_UNSET_TOKEN".into()),
            ..ServeConfig::default()
        };
        let e = c.resolve_token().unwrap_err();
        assert!(e.contains("FEEDWATCH_TEST_SURELY_UNSET_TOKEN"), "{e}");
        let c = ServeConfig {
            token: Some("t".into()),
            ..ServeConfig::default()
        };
        assert_eq!(c.resolve_token().unwrap().as_deref(), Some("t"));
    }
}
