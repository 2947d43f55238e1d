//! The one way to watch the engine from outside while it runs: an
//! [`Observer`] is called by whoever drives the engine (replay, the live
//! feed) after each step. It reads the engine; it never changes it and
//! never sees a record.

use super::Engine;

/// Something that watches the engine as it runs (the desk server's status,
/// the report's time series), in a replay or live. It is called after every record and every
/// batch of ticks, after that step's alerts went to the sink, so it must
/// be cheap when it has nothing to do (compare the engine clock with its
/// own next due time).
pub trait Observer {
    /// The engine after one step.
    fn observe(&mut self, engine: &Engine);
    /// The engine after the last record.
    fn finish(&mut self, engine: &Engine) {
        self.observe(engine);
    }
}
