//! What the outage alerts say (`venue_outage`, `shared_outage`,
//! `local_stall`), including the `local_stall` of feedwatch's own pause:
//! the findings and recoveries of [`super::OutageWatch`] and of a stall
//! record, each worded from the facts captured when it was judged.

use super::{Burst, Unreachable, VenueHealth};
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::detect::verdict::{Finding, Verdict, Words};
use crate::model::{Nanos, Venue, format_rfc3339_ms};
use crate::state::gaps::secs;

/// An outage opens or holds, or ends.
pub type OutageVerdict = Verdict<Out, Back>;

/// An outage that holds now.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// `venue_outage`: most of one venue's streams are stale.
    Venue {
        /// Streams convicted silent.
        stale: usize,
        /// Streams with data.
        active: usize,
        /// The venue's last data before it went quiet.
        since: Nanos,
        /// How long ago that was.
        for_ns: Nanos,
        /// Why it is critical; `None` while it is a warning.
        escalated: Option<Escalation>,
    },
    /// `shared_outage`: venues out together that a shared tag explains
    /// (critical once its facts say [`BurstFacts::escalated`]).
    Shared(BurstFacts),
    /// `local_stall`: every watched venue is out at once.
    Local(BurstFacts),
    /// `local_stall`: feedwatch itself did not run (news: each pause is
    /// reported, and is over at once).
    Paused(Pause),
}

/// An outage that ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Back {
    /// `venue_outage` ends.
    Venue {
        /// Streams still stale.
        stale: usize,
        /// Streams with data.
        active: usize,
    },
    /// `shared_outage` ends (its key names the venue it began on).
    Shared,
    /// `local_stall` of every venue ends.
    Local,
    /// `local_stall` of every venue, some unreachable, ends: a venue
    /// connects or streams again.
    LocalReached,
    /// feedwatch runs again after a pause.
    Paused(Pause),
}

/// Why an outage is critical. Staleness alone is a warning: a whole
/// connection pausing for a second or two is common on healthy feeds (an
/// upstream hiccup, the recorder), so the page must be earned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escalation {
    /// It has lasted `outage.critical_after_s` since the last data.
    Held,
    /// A connection of the venue (of a member venue, for a shared outage)
    /// closed without feedwatch asking: the loss is confirmed.
    ConnectionLost,
}

impl Escalation {
    /// Its name in the evidence (`escalated`).
    pub fn name(self) -> &'static str {
        match self {
            Escalation::Held => "held",
            Escalation::ConnectionLost => "connection_lost",
        }
    }
}

/// The facts of a burst of venues out together.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstFacts {
    burst: Burst,
    /// Stale streams of its members.
    stale: usize,
    /// How long since the first went quiet.
    for_ns: Nanos,
    /// Why the shared outage is critical (never set for a local stall).
    escalated: Option<Escalation>,
    /// Members that cannot be reached (they have no streams to go quiet),
    /// each with why.
    unreachable: Vec<Unreachable>,
}

impl BurstFacts {
    /// The facts of `burst` at `now`, counting its members' stale streams.
    pub fn new(burst: &Burst, health: &[VenueHealth], now: Nanos) -> Self {
        let stale = health
            .iter()
            .filter(|h| burst.members.contains(&h.venue))
            .map(|h| h.stale)
            .sum();
        BurstFacts {
            burst: burst.clone(),
            stale,
            for_ns: now - burst.since,
            escalated: None,
            unreachable: Vec::new(),
        }
    }

    /// The same facts, critical for `why`.
    pub fn escalated(self, why: Option<Escalation>) -> Self {
        BurstFacts {
            escalated: why,
            ..self
        }
    }

    /// The same facts, with the members that cannot be reached.
    pub fn with_unreachable(mut self, unreachable: Vec<Unreachable>) -> Self {
        self.unreachable = unreachable;
        self
    }

    /// Whether some member cannot be reached.
    pub fn has_unreachable(&self) -> bool {
        !self.unreachable.is_empty()
    }

    /// `local_stall` when some members cannot connect: who, and why.
    fn unreachable_summary(&self) -> String {
        let why: Vec<String> = self
            .unreachable
            .iter()
            .map(|u| format!("{}: {}", u.venue, u.reason))
            .collect();
        let silent = if self.stale > 0 {
            format!(" {} streams of the others silent.", self.stale)
        } else {
            String::new()
        };
        format!(
            "Every watched venue ({}) is out at once across independent exchanges, {} of them unreachable ({}): suspect feedwatch's own side (network, DNS, firewall, proxy, host) before the venues; the first went out {:.1} s ago.{silent}",
            self.venue_list(),
            self.unreachable.len(),
            why.join("; "),
            secs(self.for_ns)
        )
    }

    /// The detail sentence shared by `shared_outage` and `local_stall`.
    fn detail(&self) -> String {
        format!(
            "{} streams silent, the first for {:.1} s.",
            self.stale,
            secs(self.for_ns)
        )
    }

    fn venue_list(&self) -> String {
        let ids: Vec<&str> = self.burst.members.iter().map(|v| v.id()).collect();
        ids.join(", ")
    }

    fn evidence(&self) -> Evidence {
        let b = &self.burst;
        let ev = Evidence::new()
            .with(
                "venues",
                b.members.iter().map(|v| v.id()).collect::<Vec<_>>(),
            )
            .with("tag", format!("{}:{}", b.tag.dimension, b.tag.value))
            .num("share_of_group", b.share_of_group, 3)
            .num("share_of_failures", b.share_of_failures, 3)
            .with("group_size", b.group_size)
            .with("stale_streams", self.stale)
            .with("since", format_rfc3339_ms(b.since));
        let ev = if self.unreachable.is_empty() {
            ev
        } else {
            let ids: Vec<&str> = self.unreachable.iter().map(|u| u.venue.id()).collect();
            ev.with("unreachable", ids)
        };
        with_escalation(ev, self.escalated)
    }
}

/// Adds `escalated` to a critical outage's evidence.
fn with_escalation(ev: Evidence, why: Option<Escalation>) -> Evidence {
    match why {
        Some(why) => ev.with("escalated", why.name()),
        None => ev,
    }
}

/// feedwatch's own pause, from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pause {
    /// When it stopped running.
    pub from: Nanos,
    /// When it ran again.
    pub to: Nanos,
}

impl Pause {
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .num("paused_s", secs(self.to - self.from), 3)
            .with("from", format_rfc3339_ms(self.from))
            .with("to", format_rfc3339_ms(self.to))
    }

    /// The two verdicts of a pause: it happened, and it is over.
    pub fn verdicts(self) -> [OutageVerdict; 2] {
        [
            Verdict::Fire(Out::Paused(self)),
            Verdict::Clear(Back::Paused(self)),
        ]
    }

    /// The key of feedwatch's own process.
    pub fn key() -> IncidentKey {
        IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("process".into()),
        }
    }
}

impl Words for Out {
    fn kind(&self) -> Kind {
        match self {
            Out::Venue { .. } => Kind::VenueOutage,
            Out::Shared(_) => Kind::SharedOutage,
            Out::Local(_) | Out::Paused(_) => Kind::LocalStall,
        }
    }
    fn summary(&self, key: &IncidentKey) -> String {
        match self {
            Out::Venue {
                stale,
                active,
                for_ns,
                escalated,
                ..
            } => format!(
                "{}: {stale} of its {active} streams have sent nothing for {:.1} s{}: the venue is out, not one stream; use other venues' prices.",
                key.venue,
                secs(*for_ns),
                if *escalated == Some(Escalation::ConnectionLost) {
                    " and its connection was lost"
                } else {
                    ""
                }
            ),
            Out::Shared(f) => {
                let b = &f.burst;
                format!(
                    "{} venues went silent together ({}): a shared outage, best explained by {} {} ({} of {} watched venues there are out); use venues outside it. {}",
                    b.members.len(),
                    f.venue_list(),
                    b.tag.dimension,
                    b.tag.value,
                    (b.share_of_group * b.group_size as f64).round(),
                    b.group_size,
                    f.detail()
                )
            }
            Out::Local(f) if f.has_unreachable() => f.unreachable_summary(),
            Out::Local(f) => format!(
                "Every watched venue ({}) went quiet at once across independent exchanges: suspect feedwatch's own side (network, host, process) before the venues. {}",
                f.venue_list(),
                f.detail()
            ),
            Out::Paused(p) => format!(
                "feedwatch itself was paused for {:.1} s (from {}): no venue was judged meanwhile, and the data held back arrived late in one burst; check the host (CPU, memory, VM) before trusting alerts from that window.",
                secs(p.to - p.from),
                format_rfc3339_ms(p.from)
            ),
        }
    }
    fn evidence(&self) -> Evidence {
        match self {
            Out::Venue {
                stale,
                active,
                since,
                escalated,
                ..
            } => with_escalation(
                Evidence::new()
                    .with("stale_streams", *stale)
                    .with("active_streams", *active)
                    .num("stale_share", *stale as f64 / (*active).max(1) as f64, 3)
                    .with("since", format_rfc3339_ms(*since)),
                *escalated,
            ),
            Out::Shared(f) | Out::Local(f) => f.evidence(),
            Out::Paused(p) => p.evidence(),
        }
    }
}

impl Finding for Out {
    fn severity(&self) -> Severity {
        let escalated = match self {
            Out::Venue { escalated, .. } => escalated.is_some(),
            Out::Shared(f) => f.escalated.is_some(),
            Out::Local(_) | Out::Paused(_) => false,
        };
        if escalated {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }
    fn news(&self) -> bool {
        matches!(self, Out::Paused(_))
    }
}

impl Words for Back {
    fn kind(&self) -> Kind {
        match self {
            Back::Venue { .. } => Kind::VenueOutage,
            Back::Shared => Kind::SharedOutage,
            Back::Local | Back::LocalReached | Back::Paused(_) => Kind::LocalStall,
        }
    }
    fn summary(&self, key: &IncidentKey) -> String {
        match self {
            Back::Venue { stale, active } => format!(
                "{} is streaming again: {stale} of its {active} streams still stale.",
                key.venue
            ),
            Back::Shared => format!(
                "The shared outage that began on {} is over: fewer than two venues are out together.",
                key.venue
            ),
            Back::Local => {
                "Feeds are streaming again after every venue went quiet at once.".to_string()
            }
            Back::LocalReached => "Not every venue is out any more (one connects or streams again): our own side is no longer the suspect; venues still failing are reported on their own.".to_string(),
            Back::Paused(p) => format!(
                "feedwatch is running again after a {:.1} s pause.",
                secs(p.to - p.from)
            ),
        }
    }
    fn evidence(&self) -> Evidence {
        match self {
            Back::Venue { stale, active } => Evidence::new()
                .with("stale_streams", *stale)
                .with("active_streams", *active),
            Back::Shared | Back::Local | Back::LocalReached => Evidence::new(),
            Back::Paused(p) => p.evidence(),
        }
    }
}
