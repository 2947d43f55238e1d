//! Transport shared by everything that talks to the outside: a small HTTP
//! client (REST snapshots, the alert webhook), the TLS setup, token-bucket
//! rate limits and the one retry schedule.
//!
//! Nothing here knows a venue, an alert or the engine: callers above decide
//! what to send and what a failure means.

pub mod backoff;
pub mod http;
pub mod limit;

pub use backoff::Backoff;

/// Installs the ring crypto provider for rustls once (a second install
/// fails harmlessly; none or two providers would panic at the first wss
/// connect).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
