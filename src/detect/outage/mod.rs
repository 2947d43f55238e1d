//! Outages that take out many streams at once: `venue_outage`,
//! `shared_outage` and `local_stall`.
//!
//! Per-stream silence says *that* a stream is stale; this module asks what
//! explains the streams that are stale *together*. A venue most of whose
//! streams are stale is out as a whole. Several venues out within one burst
//! window share a cause, and the tag that explains the burst best names it:
//! every feed is tagged with its exchange, its market (spot or perpetual)
//! and, where configured, its hosting provider and region; a tag scores the
//! share of its members that failed times the share of the failures it
//! covers (DETECTION.md). When every watched venue is out at once across
//! independent exchanges, the one thing they share is us: that is a local
//! stall, and we blame ourselves first. A venue that cannot connect at all
//! has no streams to fall silent: it counts as out ([`Unreachable`]) once
//! it has failed for `unreachable_after_s`, so every venue failing to
//! connect at once (no network, no DNS) is a local stall too.
//!
//! Pure and deterministic: it reads only the per-venue counts and times it
//! is given, never clocks, never does I/O, and allocates only in proportion
//! to the number of venues. `watch.rs` holds the incidents' state machine
//! ([`OutageWatch`]), `words.rs` what their alerts say.

mod watch;
mod words;

pub use watch::{OutageStep, OutageWatch};
pub use words::{Back, BurstFacts, Escalation, Out, OutageVerdict, Pause};

use crate::model::{Nanos, SECOND, Venue};
use crate::venues;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `[outage]` config section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutageConfig {
    /// A venue is out when at least this share of its streams with data is
    /// stale together ("most streams").
    pub venue_share: f64,
    /// ... and at least this many of them (one stale stream is that
    /// stream's problem, whatever the share).
    pub min_streams: usize,
    /// Venues whose outages start within this many seconds of each other
    /// are one burst (DETECTION.md: 10-30 s).
    pub burst_window_s: f64,
    /// A venue outage ends when no stream is stale, or after this many
    /// seconds below the share (what is still stale then is on its own).
    pub release_s: f64,
    /// A venue or shared outage opens as a warning and turns critical once
    /// it has lasted this many seconds since the venue's last data, or at
    /// once when a connection of the venue is lost (a `close` feedwatch
    /// did not ask for). 0 makes every outage critical from its start.
    pub critical_after_s: f64,
    /// A venue none of whose connections can connect (every attempt fails
    /// before its WebSocket opens, and no session is open) counts as out
    /// for `local_stall` after failing this many seconds: long enough for
    /// the venues that can connect to have opened.
    pub unreachable_after_s: f64,
    /// Hosting provider and region per venue id, e.g.
    /// `binance-spot = "aws:ap-northeast-1"`. Most venues publish nothing;
    /// the defaults are what the venues' own incident reports named.
    pub hosting: BTreeMap<String, String>,
}

impl Default for OutageConfig {
    fn default() -> Self {
        // What the venues' own incident reports named (their specs).
        let hosting = venues::specs()
            .filter_map(|s| Some((s.venue.id().to_string(), s.hosting?.to_string())))
            .collect();
        OutageConfig {
            venue_share: 0.75,
            min_streams: 2,
            burst_window_s: 30.0,
            release_s: 5.0,
            critical_after_s: 10.0,
            unreachable_after_s: 3.0,
            hosting,
        }
    }
}

impl OutageConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.venue_share.is_finite() && self.venue_share > 0.0 && self.venue_share <= 1.0) {
            return Err(format!(
                "outage.venue_share must be in (0, 1], got {}",
                self.venue_share
            ));
        }
        if self.min_streams == 0 {
            return Err("outage.min_streams must be at least 1".into());
        }
        if !(self.burst_window_s.is_finite() && (0.0..=3600.0).contains(&self.burst_window_s)) {
            return Err(format!(
                "outage.burst_window_s must be between 0 and 3600, got {}",
                self.burst_window_s
            ));
        }
        if !(self.release_s.is_finite() && (0.0..=3600.0).contains(&self.release_s)) {
            return Err(format!(
                "outage.release_s must be between 0 and 3600, got {}",
                self.release_s
            ));
        }
        if !(self.critical_after_s.is_finite() && (0.0..=3600.0).contains(&self.critical_after_s)) {
            return Err(format!(
                "outage.critical_after_s must be between 0 and 3600, got {}",
                self.critical_after_s
            ));
        }
        if !(self.unreachable_after_s.is_finite()
            && (0.0..=3600.0).contains(&self.unreachable_after_s))
        {
            return Err(format!(
                "outage.unreachable_after_s must be between 0 and 3600, got {}",
                self.unreachable_after_s
            ));
        }
        for (venue, tag) in &self.hosting {
            if tag.trim().is_empty() {
                return Err(format!("outage.hosting.{venue} must not be empty"));
            }
        }
        Ok(())
    }
}

/// How one venue's streams stand now.
#[derive(Clone, Debug, PartialEq)]
pub struct VenueHealth {
    /// The venue.
    pub venue: Venue,
    /// Streams that have had data and are watched.
    pub active: usize,
    /// Of those, streams convicted silent.
    pub stale: usize,
    /// The last data of the stale stream that went quiet first.
    pub since: Option<Nanos>,
}

impl VenueHealth {
    /// Whether the venue is out as a whole.
    pub fn is_out(&self, cfg: &OutageConfig) -> bool {
        self.active > 0
            && self.stale >= cfg.min_streams
            && self.stale as f64 >= cfg.venue_share * self.active as f64
    }
}

/// A venue that cannot be reached: a planned connection of it fails to
/// connect and none of its sessions is open.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreachable {
    /// The venue.
    pub venue: Venue,
    /// Its first failed attempt in a row.
    pub since: Nanos,
    /// Why that attempt failed.
    pub reason: String,
}

/// How the venues' connections stand, beside their streams' health.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reach {
    /// Venues with a session open now.
    pub open: Vec<Venue>,
    /// Venues that cannot be reached, first failure first.
    pub unreachable: Vec<Unreachable>,
}

/// A tag that can explain a burst: which dimension and which value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// `hosting`, `exchange` or `market`.
    pub dimension: &'static str,
    /// E.g. `aws:ap-northeast-1`, `binance`, `spot`.
    pub value: String,
}

/// A burst of venues out together.
#[derive(Clone, Debug, PartialEq)]
pub struct Burst {
    /// The venues out in the burst, earliest first.
    pub members: Vec<Venue>,
    /// When the earliest went out.
    pub since: Nanos,
    /// The tag that explains it best.
    pub tag: Tag,
    /// Share of the tag's watched venues that are out.
    pub share_of_group: f64,
    /// Share of the burst's venues that carry the tag.
    pub share_of_failures: f64,
    /// Watched venues carrying the tag.
    pub group_size: usize,
    /// Every watched venue is out, across independent exchanges and hosts:
    /// our own side is the likelier cause.
    pub local: bool,
}

fn tags_of(cfg: &OutageConfig, v: Venue) -> Vec<Tag> {
    let mut t = Vec::with_capacity(3);
    if let Some(h) = cfg.hosting.get(v.id()) {
        t.push(Tag {
            dimension: "hosting",
            value: h.clone(),
        });
    }
    t.push(Tag {
        dimension: "exchange",
        value: venues::exchange_of(v).to_string(),
    });
    t.push(Tag {
        dimension: "market",
        value: venues::market_of(v).name().to_string(),
    });
    t
}

/// The burst that the venues held out (`held`: venue and onset) make, if
/// two or more went out within the burst window of the earliest; `health`
/// lists every watched venue.
pub fn burst(cfg: &OutageConfig, health: &[VenueHealth], held: &[(Venue, Nanos)]) -> Option<Burst> {
    let watched: Vec<Venue> = health
        .iter()
        .filter(|h| h.active > 0)
        .map(|h| h.venue)
        .collect();
    burst_among(cfg, &watched, held)
}

/// The burst of the venues `held` out (venue and onset) among the
/// `watched` ones, as [`burst`].
fn burst_among(cfg: &OutageConfig, watched: &[Venue], held: &[(Venue, Nanos)]) -> Option<Burst> {
    let mut out: Vec<(Nanos, Venue)> = held.iter().map(|(v, t)| (*t, *v)).collect();
    out.sort();
    let window = (cfg.burst_window_s * SECOND as f64) as Nanos;
    let (first, _) = *out.first()?;
    out.retain(|(t, _)| t.saturating_sub(first) <= window);
    if out.len() < 2 {
        return None;
    }
    let members: Vec<Venue> = out.iter().map(|(_, v)| *v).collect();
    // Score every tag the failed venues carry; earlier dimensions win ties
    // (a shared host explains more than a shared exchange name).
    let mut best: Option<(f64, Tag, f64, f64, usize)> = None;
    for &m in &members {
        for tag in tags_of(cfg, m) {
            if best.as_ref().is_some_and(|b| b.1 == tag) {
                continue;
            }
            let carries = |v: &Venue| tags_of(cfg, *v).contains(&tag);
            let group = watched.iter().filter(|v| carries(v)).count().max(1);
            let failed = members.iter().filter(|v| carries(v)).count();
            let of_group = failed as f64 / group as f64;
            let of_failures = failed as f64 / members.len() as f64;
            let score = of_group * of_failures;
            if best.as_ref().is_none_or(|b| score > b.0 + 1e-12) {
                best = Some((score, tag, of_group, of_failures, group));
            }
        }
    }
    let (_, tag, share_of_group, share_of_failures, group_size) = best?;
    let exchanges: Vec<&str> = members.iter().map(|v| venues::exchange_of(*v)).collect();
    let independent = exchanges.iter().any(|e| *e != exchanges[0]);
    let local = members.len() == watched.len() && independent && tag.dimension != "hosting";
    Some(Burst {
        members,
        since: first,
        tag,
        share_of_group,
        share_of_failures,
        group_size,
        local,
    })
}

/// Every watched venue out at once across independent exchanges, some of
/// them because they cannot be reached: a local stall that stream silence
/// alone cannot see (those venues have no streams). Venues count as out
/// when `held` (their streams) or unreachable for `unreachable_after_s`;
/// a venue with streams, a session open, or failing for less than that is
/// watched and not out. `None` when no unreachable venue is a member.
pub fn unreachable_burst(
    cfg: &OutageConfig,
    health: &[VenueHealth],
    reach: &Reach,
    held: &[(Venue, Nanos)],
    now: Nanos,
) -> Option<(Burst, Vec<Unreachable>)> {
    let after = (cfg.unreachable_after_s * SECOND as f64) as Nanos;
    let out: Vec<&Unreachable> = reach
        .unreachable
        .iter()
        .filter(|u| now - u.since >= after)
        .collect();
    if out.is_empty() {
        return None;
    }
    let mut members: Vec<(Venue, Nanos)> = held.to_vec();
    for u in &out {
        match members.iter_mut().find(|(v, _)| *v == u.venue) {
            Some(m) => m.1 = m.1.min(u.since),
            None => members.push((u.venue, u.since)),
        }
    }
    let mut watched: Vec<Venue> = health
        .iter()
        .filter(|h| h.active > 0)
        .map(|h| h.venue)
        .collect();
    let others = reach
        .open
        .iter()
        .chain(reach.unreachable.iter().map(|u| &u.venue));
    for v in others {
        if !watched.contains(v) {
            watched.push(*v);
        }
    }
    let b = burst_among(cfg, &watched, &members).filter(|b| b.local)?;
    let unreachable: Vec<Unreachable> = out
        .into_iter()
        .filter(|u| b.members.contains(&u.venue))
        .cloned()
        .collect();
    (!unreachable.is_empty()).then_some((b, unreachable))
}

/// When the next unreachable venue will have failed for
/// `unreachable_after_s` (and count as out), if one has not yet: the
/// engine looks again then.
pub fn unreachable_wake(cfg: &OutageConfig, reach: &Reach, now: Nanos) -> Option<Nanos> {
    let after = (cfg.unreachable_after_s * SECOND as f64) as Nanos;
    reach
        .unreachable
        .iter()
        .map(|u| u.since.saturating_add(after))
        .filter(|&t| t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outs(cfg: &OutageConfig, health: &[VenueHealth]) -> Vec<(Venue, Nanos)> {
        health
            .iter()
            .filter(|h| h.is_out(cfg))
            .map(|h| (h.venue, h.since.unwrap()))
            .collect()
    }

    fn h(venue: Venue, active: usize, stale: usize, since_s: i64) -> VenueHealth {
        VenueHealth {
            venue,
            active,
            stale,
            since: (stale > 0).then_some(since_s * SECOND),
        }
    }

    #[test]
    fn most_streams_stale_is_a_venue_outage_one_is_not() {
        let cfg = OutageConfig::default();
        assert!(h(Venue::BinanceSpot, 3, 3, 0).is_out(&cfg));
        assert!(h(Venue::BinanceSpot, 8, 6, 0).is_out(&cfg));
        // Two of three with the third (the book metronome) still flowing:
        // a lull in two streams, not an outage.
        assert!(!h(Venue::BinanceSpot, 3, 2, 0).is_out(&cfg));
        assert!(!h(Venue::BinanceSpot, 8, 3, 0).is_out(&cfg));
        // One stream alone is that stream's problem.
        assert!(!h(Venue::Kraken, 1, 1, 0).is_out(&cfg));
    }

    #[test]
    fn binance_markets_out_together_are_explained_by_their_host() {
        let cfg = OutageConfig::default();
        let health = [
            h(Venue::BinanceSpot, 3, 3, 100),
            h(Venue::BinanceUsdm, 3, 3, 101),
            h(Venue::BinanceCoinm, 3, 0, 0),
            h(Venue::Kraken, 3, 0, 0),
            h(Venue::Okx, 3, 0, 0),
        ];
        let b = burst(&cfg, &health, &outs(&cfg, &health)).unwrap();
        assert_eq!(b.members, vec![Venue::BinanceSpot, Venue::BinanceUsdm]);
        // Hosting and exchange both cover 2 of 3 Binance venues: the host
        // wins the tie.
        assert_eq!(b.tag.dimension, "hosting");
        assert_eq!(b.tag.value, "aws:ap-northeast-1");
        assert!((b.share_of_group - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(b.share_of_failures, 1.0);
        assert!(!b.local);
    }

    #[test]
    fn outages_far_apart_are_not_one_burst() {
        let cfg = OutageConfig::default();
        let health = [
            h(Venue::BinanceSpot, 3, 3, 100),
            h(Venue::Kraken, 3, 3, 200),
            h(Venue::Okx, 3, 0, 0),
        ];
        assert!(burst(&cfg, &health, &outs(&cfg, &health)).is_none());
    }

    #[test]
    fn everything_out_across_exchanges_blames_ourselves() {
        let cfg = OutageConfig::default();
        let health = [
            h(Venue::BinanceSpot, 3, 3, 100),
            h(Venue::Kraken, 3, 3, 100),
            h(Venue::Okx, 2, 2, 101),
        ];
        let b = burst(&cfg, &health, &outs(&cfg, &health)).unwrap();
        assert!(b.local);
        // The same three out with a fourth still streaming is theirs.
        let mut more = health.to_vec();
        more.push(h(Venue::BybitSpot, 3, 0, 0));
        assert!(!burst(&cfg, &more, &outs(&cfg, &more)).unwrap().local);
        // Every watched venue on one exchange: the exchange, not us.
        let binance = [
            h(Venue::BinanceSpot, 3, 3, 100),
            h(Venue::BinanceUsdm, 3, 3, 100),
        ];
        assert!(!burst(&cfg, &binance, &outs(&cfg, &binance)).unwrap().local);
    }

    fn unreachable(venue: Venue, since_s: i64) -> Unreachable {
        Unreachable {
            venue,
            since: since_s * SECOND,
            reason: "TCP connect refused".into(),
        }
    }

    #[test]
    fn every_venue_unreachable_across_exchanges_is_local_after_the_hold() {
        let cfg = OutageConfig::default();
        let reach = Reach {
            open: vec![],
            unreachable: vec![
                unreachable(Venue::BinanceSpot, 100),
                unreachable(Venue::Kraken, 100),
            ],
        };
        // Not before the hold: a venue that can connect may not have opened yet.
        assert!(unreachable_burst(&cfg, &[], &reach, &[], 102 * SECOND).is_none());
        let (b, u) = unreachable_burst(&cfg, &[], &reach, &[], 103 * SECOND).unwrap();
        assert!(b.local);
        assert_eq!(b.members, vec![Venue::BinanceSpot, Venue::Kraken]);
        assert_eq!(u.len(), 2);
        // A venue with a session open, or streaming, is not out: theirs.
        let mut open = reach.clone();
        open.open.push(Venue::Okx);
        assert!(unreachable_burst(&cfg, &[], &open, &[], 103 * SECOND).is_none());
        let streaming = [h(Venue::Okx, 3, 0, 0)];
        assert!(unreachable_burst(&cfg, &streaming, &reach, &[], 103 * SECOND).is_none());
        // ... unless its streams are out too.
        let stale = [h(Venue::Okx, 3, 3, 101)];
        let held = outs(&cfg, &stale);
        let (b, u) = unreachable_burst(&cfg, &stale, &reach, &held, 103 * SECOND).unwrap();
        assert_eq!(b.members.len(), 3);
        assert_eq!(u.len(), 2);
        // One exchange alone unreachable is the exchange, not us.
        let binance = Reach {
            open: vec![],
            unreachable: vec![
                unreachable(Venue::BinanceSpot, 100),
                unreachable(Venue::BinanceUsdm, 100),
            ],
        };
        assert!(unreachable_burst(&cfg, &[], &binance, &[], 110 * SECOND).is_none());
        assert_eq!(
            unreachable_wake(&cfg, &reach, 101 * SECOND),
            Some(103 * SECOND)
        );
        assert_eq!(unreachable_wake(&cfg, &reach, 103 * SECOND), None);
        // A single venue is no burst.
        let one = Reach {
            open: vec![],
            unreachable: vec![unreachable(Venue::Kraken, 100)],
        };
        assert!(unreachable_burst(&cfg, &[], &one, &[], 110 * SECOND).is_none());
    }

    #[test]
    fn validate_names_the_key() {
        let mut c = OutageConfig::default();
        assert!(c.validate().is_ok());
        c.venue_share = 0.0;
        assert!(c.validate().unwrap_err().contains("venue_share"));
        let mut c = OutageConfig::default();
        c.hosting.insert("okx".into(), " ".into());
        assert!(c.validate().unwrap_err().contains("hosting.okx"));
        for bad in [-1.0, f64::NAN, 3601.0] {
            let c = OutageConfig {
                critical_after_s: bad,
                ..OutageConfig::default()
            };
            let e = c.validate().unwrap_err();
            assert!(e.starts_with("outage.critical_after_s "), "{e}");
        }
        let c = OutageConfig {
            critical_after_s: 0.0,
            ..OutageConfig::default()
        };
        assert!(c.validate().is_ok());
        let c = OutageConfig {
            unreachable_after_s: -1.0,
            ..OutageConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("unreachable_after_s"));
    }
}
