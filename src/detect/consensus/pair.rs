//! The stateful form of the consensus the live engine keeps per pair: the
//! latest observation of each venue, with each venue's divergent flag
//! (hysteresis), assessed with [`assess`](super::assess).

use super::{Assessment, ConsensusConfig, MAX_VENUES, Observation, assess, usable};
use crate::model::{Nanos, Venue};

/// The latest observation of each venue of one pair, with each venue's
/// divergent flag: the stateful form the live engine keeps per pair.
#[derive(Debug, Default)]
pub struct PairConsensus {
    slots: Vec<Slot>,
    peers: Vec<Observation>,
    scratch: Vec<f64>,
}

#[derive(Copy, Clone, Debug)]
struct Slot {
    obs: Observation,
    divergent: bool,
}

/// Why an observation was not taken.
#[derive(Copy, Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejected {
    /// The price is NaN, infinite, zero or negative.
    #[error("price {0} is not a finite positive number")]
    BadPrice(f64),
    /// The pair already holds [`MAX_VENUES`] venues.
    #[error("more than {MAX_VENUES} venues for one pair")]
    TooManyVenues,
}

impl PairConsensus {
    /// An empty pair.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a venue's latest price. Bad prices are rejected and leave the
    /// venue's previous observation in place (it goes stale on its own).
    pub fn observe(&mut self, venue: Venue, price: f64, at: Nanos) -> Result<(), Rejected> {
        if !usable(price) {
            return Err(Rejected::BadPrice(price));
        }
        let obs = Observation {
            venue,
            price,
            observed_at: at,
        };
        match self.slots.iter_mut().find(|s| s.obs.venue == venue) {
            Some(s) => s.obs = obs,
            None => {
                if self.slots.len() >= MAX_VENUES {
                    return Err(Rejected::TooManyVenues);
                }
                self.slots.push(Slot {
                    obs,
                    divergent: false,
                });
            }
        }
        Ok(())
    }

    /// Assesses `venue` at `now` and updates its divergent flag. `None`
    /// when the venue has never been observed.
    pub fn assess(
        &mut self,
        cfg: &ConsensusConfig,
        venue: Venue,
        now: Nanos,
    ) -> Option<Assessment> {
        let i = self.slots.iter().position(|s| s.obs.venue == venue)?;
        let slot = *self.slots.get(i)?;
        self.peers.clear();
        self.peers.extend(self.slots.iter().map(|s| s.obs));
        let a = assess(
            cfg,
            &slot.obs,
            &self.peers,
            now,
            slot.divergent,
            0.0,
            &mut self.scratch,
        );
        if let Some(s) = self.slots.get_mut(i) {
            s.divergent = a.divergent;
        }
        Some(a)
    }

    /// Assesses a price of `subject.venue` that need not be its recorded
    /// observation (a single trade print, or another symbol of the venue in
    /// the same quote family) against the other venues' observations. No
    /// flag is changed: `was_divergent` is the caller's own (hysteresis).
    pub fn assess_price(
        &mut self,
        cfg: &ConsensusConfig,
        subject: &Observation,
        now: Nanos,
        was_divergent: bool,
    ) -> Assessment {
        self.peers.clear();
        self.peers.extend(self.slots.iter().map(|s| s.obs));
        assess(
            cfg,
            subject,
            &self.peers,
            now,
            was_divergent,
            0.0,
            &mut self.scratch,
        )
    }

    /// The latest observation of every venue of the pair (fresh or not).
    pub fn observations(&self) -> impl Iterator<Item = &Observation> {
        self.slots.iter().map(|s| &s.obs)
    }

    /// Whether `venue` is currently flagged divergent.
    pub fn is_divergent(&self, venue: Venue) -> bool {
        self.slots
            .iter()
            .any(|s| s.obs.venue == venue && s.divergent)
    }
}
