//! Live `price_divergence`: each venue's current price against the
//! consensus of the other venues quoting the same pair.
//!
//! Every price stream (best bid/offer, trades) of a `BASE/QUOTE` symbol is
//! tied to a *subject* (one venue's symbol) and the subject to one
//! [`PairConsensus`] per [`PairKey`] (base asset and quote family, and the
//! market when spot and perp are not mixed). A subject's price is the mid
//! of its best bid/offer while that is fresh, else its last trade; that is
//! the observation its venue contributes to the consensus. A trade that
//! prints while the mid is fresh is judged on its own as a *print* until
//! the next mid: a venue whose book is fine but which printed one trade far
//! from every peer printed a bad trade.
//!
//! Per frame the work is a store and a comparison with the pair's band
//! (median and threshold of its last assessment); the pair is assessed only
//! when a price leaves that band, and re-assessed every `eval_ms` while one
//! of its subjects is flagged. Findings (fire or clear, with the numbers)
//! are verdicts worded in `words.rs`; the engine reports them.
//!
//! Stablecoin quotes (`quotes.rs`): at each assessment the pair's quotes
//! other than its family's reference are watched for a depeg
//! (`quote_depeg`), and while a quote is off its peg its venues' prices
//! enter the consensus converted at its implied rate.
//!
//! It never reads the wall clock, does no I/O, never panics on any price
//! (NaN, infinite, zero and negative prices are ignored), and allocates
//! only when a new stream, subject or pair appears or when it reports a
//! finding.

mod quotes;
mod words;

pub use quotes::DepegFinding;
pub use words::{Diverged, Rejoined};

use super::consensus::{Assessment, ConsensusConfig, Observation, PairConsensus, PairKey, Verdict};
use crate::alert::Severity;
use crate::model::{MILLI, Nanos, SECOND, Symbol, Venue};
use rustc_hash::FxHashMap as HashMap;

/// Held `hold_ms`, a gap beyond this many thresholds is critical.
pub const CRITICAL_GAP_RATIO: f64 = 2.0;

/// What a price update is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// A new best bid/offer: its mid.
    Mid,
    /// A trade print.
    Trade,
}

/// Which of a subject's prices a finding is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PriceSource {
    /// The mid of its best bid/offer.
    BboMid,
    /// Its last trade, which is its price (no fresh best bid/offer).
    Trade,
    /// One trade print, judged while its best bid/offer is fresh.
    TradePrint,
}

impl PriceSource {
    /// snake_case name for evidence.
    pub fn name(self) -> &'static str {
        match self {
            PriceSource::BboMid => "bbo_mid",
            PriceSource::Trade => "trade",
            PriceSource::TradePrint => "trade_print",
        }
    }
}

/// Why an alerting subject stopped alerting.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClearReason {
    /// Back below the re-admission share of the threshold.
    Readmitted,
    /// Fewer than 3 fresh venues: the consensus cannot tell who is wrong.
    Unconfirmed,
    /// The subject has no fresh price (silence is `feed_silent`'s).
    Stale,
}

/// What the engine should do about one subject.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Raise (or keep) the incident at this severity.
    Fire(Severity),
    /// Resolve the incident.
    Clear(ClearReason),
}

/// One verdict worth an alert.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The venue.
    pub venue: Venue,
    /// Its canonical symbol.
    pub symbol: Symbol,
    /// Fire or clear.
    pub action: Action,
    /// Which price was judged.
    pub source: PriceSource,
    /// That price (NaN when the subject has none).
    pub price: f64,
    /// The consensus numbers.
    pub assessment: Assessment,
    /// Venue ids of the fresh peers the median was taken over (the subject
    /// excluded).
    pub peers: Vec<&'static str>,
    /// When the divergence started (this evaluation's time if it just did).
    pub since: Nanos,
    /// How long it has been held, seconds.
    pub held_s: f64,
    /// The rate `price` was converted at (its quote is off its peg), or 1.
    pub quote_rate: f64,
}

/// How an engine stream relates to the watch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Link {
    /// Not looked up yet.
    Unknown,
    /// Its symbol is not `BASE/QUOTE`, or its pair is full.
    Ignored,
    /// Feeds this subject.
    Subject(usize),
}

/// One venue's symbol.
#[derive(Debug)]
struct Subject {
    venue: Venue,
    symbol: Symbol,
    pair: usize,
    /// Its quote's index in the pair's quotes (0: the family's reference).
    quote: usize,
    /// Its latest consensus observation as sent (not converted).
    obs: Option<(f64, Nanos)>,
    /// Its price is its venue's observation in the pair (the first symbol
    /// of the venue in the pair; a venue's other symbols of the same family
    /// are judged against the consensus without voting in it).
    primary: bool,
    mid: Option<(f64, Nanos)>,
    print: Option<(f64, Nanos)>,
    /// Flag of its price (hysteresis across assessments).
    main_div: bool,
    /// Flag of its last print.
    print_div: bool,
    /// Divergent (as alerted) since.
    since: Option<Nanos>,
    /// A fire finding was reported and not yet cleared.
    alerting: bool,
}

impl Subject {
    fn flagged(&self) -> bool {
        self.alerting || self.main_div || self.print_div
    }
}

#[derive(Debug)]
struct Pair {
    consensus: PairConsensus,
    quotes: quotes::PairQuotes,
    subjects: Vec<usize>,
    /// Median and threshold of the last assessment: prices inside it need
    /// no assessment.
    band: Option<(f64, f64)>,
    last_eval: Option<Nanos>,
    /// Next re-assessment (`Nanos::MAX` when nothing is flagged).
    next_eval: Nanos,
}

/// The live divergence state of every pair seen (bounded by the streams
/// the engine holds).
#[derive(Debug)]
pub struct DivergenceWatch {
    by_stream: Vec<Link>,
    subjects: Vec<Subject>,
    pairs: Vec<Pair>,
    pair_index: HashMap<PairKey, usize>,
    findings: Vec<Finding>,
    depegs: Vec<DepegFinding>,
    next_due: Nanos,
}

impl Default for DivergenceWatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Mid of a best bid/offer, `None` when either side is not a positive
/// finite price.
pub fn mid(bid: f64, ask: f64) -> Option<f64> {
    let ok = |p: f64| p.is_finite() && p > 0.0;
    (ok(bid) && ok(ask)).then(|| bid + (ask - bid) / 2.0)
}

impl DivergenceWatch {
    /// An empty watch.
    pub fn new() -> Self {
        DivergenceWatch {
            by_stream: Vec::new(),
            subjects: Vec::new(),
            pairs: Vec::new(),
            pair_index: HashMap::default(),
            findings: Vec::new(),
            depegs: Vec::new(),
            next_due: Nanos::MAX,
        }
    }

    /// Every venue symbol's latest price (its bbo mid, else its last print)
    /// and when it was seen.
    pub fn prices(&self) -> impl Iterator<Item = (Venue, &Symbol, f64, Nanos)> + '_ {
        self.subjects.iter().filter_map(|s| {
            let (p, at) = match (s.mid, s.print) {
                (Some(m), Some(t)) => {
                    if m.1 >= t.1 {
                        m
                    } else {
                        t
                    }
                }
                (Some(m), None) => m,
                (None, Some(t)) => t,
                (None, None) => return None,
            };
            Some((s.venue, &s.symbol, p, at))
        })
    }

    /// Findings of the last [`on_price`](Self::on_price) or
    /// [`run_due`](Self::run_due) call.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// `quote_depeg` verdicts of the same call as
    /// [`findings`](Self::findings).
    pub fn depegs(&self) -> &[DepegFinding] {
        &self.depegs
    }

    /// When a flagged pair next wants a re-assessment.
    pub fn next_due(&self) -> Option<Nanos> {
        (self.next_due != Nanos::MAX).then_some(self.next_due)
    }

    /// A price of engine stream `stream` (venue `venue`, canonical
    /// `symbol`) at `now`. Assesses the pair when the price leaves the
    /// pair's band, and then returns `true`: the findings are in
    /// [`findings`](Self::findings) (cleared on every assessment).
    #[allow(clippy::too_many_arguments)]
    pub fn on_price(
        &mut self,
        cfg: &ConsensusConfig,
        stream: usize,
        venue: Venue,
        symbol: &Symbol,
        update: Update,
        price: f64,
        now: Nanos,
    ) -> bool {
        if !(price.is_finite() && price > 0.0) {
            return false;
        }
        let link = match self.by_stream.get(stream) {
            Some(Link::Unknown) | None => self.link(cfg, stream, venue, symbol),
            Some(l) => *l,
        };
        let Link::Subject(i) = link else {
            return false;
        };
        let Some(s) = self.subjects.get_mut(i) else {
            return false;
        };
        let Some(pair) = self.pairs.get_mut(s.pair) else {
            return false;
        };
        // Its price in the family's reference (converted while its quote
        // is off its peg).
        let scale = pair.quotes.scale(s.quote);
        let observe = match update {
            Update::Mid => {
                s.mid = Some((price, now));
                true
            }
            Update::Trade => {
                s.print = Some((price, now));
                // While the book is fresh, a trade is a print, not the price.
                s.mid.is_none_or(|(_, t)| now - t > cfg.freshness_ns())
            }
        };
        if observe && s.primary {
            // A 65th venue of one pair is not taken (bounded); the others are.
            let _ = pair.consensus.observe(venue, price * scale, now);
            s.obs = Some((price, now));
            pair.quotes.note(s.quote, price);
        }
        if s.flagged() {
            // Re-assessed on the tick every `eval_ms`: nothing per frame.
            return false;
        }
        let recent = pair.last_eval.is_some_and(|t| now - t < eval_ns(cfg));
        let inside = match pair.band {
            Some((median, threshold)) => (price * scale - median).abs() <= threshold,
            // No band yet: at most one assessment per `eval_ms`.
            None => recent,
        };
        // A quote that may have left its peg is looked at (at most once per
        // `eval_ms`) even while each price is inside the band, unless the
        // pair is re-assessed on the clock already.
        let look = !recent && pair.next_eval == Nanos::MAX && pair.quotes.drifted(cfg);
        if inside && !look {
            return false;
        }
        let p = s.pair;
        self.findings.clear();
        self.depegs.clear();
        self.evaluate(cfg, p, now);
        true
    }

    /// Re-assesses every pair due at `now`; `true` when it did (findings
    /// as for [`on_price`](Self::on_price)).
    pub fn run_due(&mut self, cfg: &ConsensusConfig, now: Nanos) -> bool {
        if self.next_due > now {
            return false;
        }
        self.findings.clear();
        self.depegs.clear();
        for p in 0..self.pairs.len() {
            if self.pairs.get(p).is_some_and(|x| x.next_eval <= now) {
                self.evaluate(cfg, p, now);
            }
        }
        self.next_due = self
            .pairs
            .iter()
            .map(|p| p.next_eval)
            .min()
            .unwrap_or(Nanos::MAX);
        true
    }

    /// Ties stream `stream` to its subject (creating subject and pair as
    /// needed).
    fn link(
        &mut self,
        cfg: &ConsensusConfig,
        stream: usize,
        venue: Venue,
        symbol: &Symbol,
    ) -> Link {
        let link = match cfg.pair_key(venue, symbol) {
            None => Link::Ignored,
            Some(key) => {
                let p = match self.pair_index.get(&key) {
                    Some(&p) => p,
                    None => {
                        let p = self.pairs.len();
                        self.pairs.push(Pair {
                            consensus: PairConsensus::new(),
                            quotes: quotes::PairQuotes::new(&key.base, &key.family),
                            subjects: Vec::new(),
                            band: None,
                            last_eval: None,
                            next_eval: Nanos::MAX,
                        });
                        self.pair_index.insert(key, p);
                        p
                    }
                };
                self.subject(p, venue, symbol)
            }
        };
        if self.by_stream.len() <= stream {
            self.by_stream.resize(stream + 1, Link::Unknown);
        }
        if let Some(l) = self.by_stream.get_mut(stream) {
            *l = link;
        }
        link
    }

    fn subject(&mut self, p: usize, venue: Venue, symbol: &Symbol) -> Link {
        let Some(pair) = self.pairs.get_mut(p) else {
            return Link::Ignored;
        };
        let subjects = &self.subjects;
        let same_venue = || {
            pair.subjects
                .iter()
                .filter_map(|&i| subjects.get(i))
                .filter(|s| s.venue == venue)
        };
        if let Some(i) = pair.subjects.iter().copied().find(|&i| {
            subjects
                .get(i)
                .is_some_and(|s| s.venue == venue && s.symbol == *symbol)
        }) {
            return Link::Subject(i);
        }
        let primary = same_venue().next().is_none();
        let quote = symbol
            .split_once('/')
            .map_or(0, |(_, q)| pair.quotes.index(q));
        let i = self.subjects.len();
        self.subjects.push(Subject {
            venue,
            symbol: symbol.clone(),
            pair: p,
            quote,
            obs: None,
            primary,
            mid: None,
            print: None,
            main_div: false,
            print_div: false,
            since: None,
            alerting: false,
        });
        pair.subjects.push(i);
        Link::Subject(i)
    }

    /// Assesses every subject of pair `p` at `now`.
    fn evaluate(&mut self, cfg: &ConsensusConfig, p: usize, now: Nanos) {
        let fresh_ns = cfg.freshness_ns();
        let hold = Nanos::try_from(cfg.hold_ms)
            .unwrap_or(Nanos::MAX)
            .saturating_mul(MILLI);
        let critical_after = (cfg.critical_after_s * SECOND as f64) as Nanos;
        let Some(pair) = self.pairs.get_mut(p) else {
            return;
        };
        pair.band = None;
        pair.last_eval = Some(now);
        update_quotes(cfg, pair, &self.subjects, now, &mut self.depegs);
        let mut flagged = false;
        for &si in &pair.subjects {
            let Some(s) = self.subjects.get_mut(si) else {
                continue;
            };
            let scale = pair.quotes.scale(s.quote);
            let j = judge_subject(
                cfg,
                &mut pair.consensus,
                &mut pair.band,
                s,
                (now, fresh_ns),
                scale,
            );
            let Some((action, a, source, price)) = decide(s, &j, now, hold, critical_after) else {
                s.since = None;
                flagged |= s.flagged();
                continue;
            };
            let since = s.since.unwrap_or(now);
            if matches!(action, Action::Clear(_)) {
                s.since = None;
            }
            flagged |= s.flagged();
            let peers = fresh_peers(&pair.consensus, s.venue, now, fresh_ns);
            self.findings.push(Finding {
                venue: s.venue,
                symbol: s.symbol.clone(),
                action,
                source,
                price: price.map_or(f64::NAN, |(p, _)| p),
                assessment: a,
                peers,
                since,
                held_s: (now - since) as f64 / SECOND as f64,
                quote_rate: scale,
            });
        }
        // A quote off its peg needs the clock (its hold, its way back).
        pair.next_eval = if flagged || pair.quotes.any_within() {
            now.saturating_add(eval_ns(cfg))
        } else {
            Nanos::MAX
        };
        self.next_due = self.next_due.min(pair.next_eval);
    }
}

/// Feeds pair `pair`'s quote trackers every subject's fresh price at
/// `now`; when a quote's rate changed, its venues' observations are taken
/// again at the new rate.
fn update_quotes(
    cfg: &ConsensusConfig,
    pair: &mut Pair,
    subjects: &[Subject],
    now: Nanos,
    out: &mut Vec<DepegFinding>,
) {
    let fresh_ns = cfg.freshness_ns();
    let fresh = |x: Option<(f64, Nanos)>| x.filter(|(_, t)| (now - t).abs() <= fresh_ns);
    let prices: Vec<(Venue, usize, f64)> = pair
        .subjects
        .iter()
        .filter_map(|&i| subjects.get(i))
        .filter_map(|s| {
            let (p, _) = fresh(s.mid).or(fresh(s.print))?;
            Some((s.venue, s.quote, p))
        })
        .collect();
    if !pair.quotes.update(cfg, &prices, now, out) {
        return;
    }
    for s in pair.subjects.iter().filter_map(|&i| subjects.get(i)) {
        if let (true, Some((p, at))) = (s.primary, s.obs) {
            let _ = pair
                .consensus
                .observe(s.venue, p * pair.quotes.scale(s.quote), at);
        }
    }
}

/// A subject's prices and their assessments at one evaluation.
struct Judged {
    /// Its price (the fresh mid, else the fresh last trade) and which.
    main: Option<(f64, Nanos)>,
    main_source: PriceSource,
    /// Its fresh last trade.
    print: Option<(f64, Nanos)>,
    main_a: Option<Assessment>,
    /// The print judged on its own (only while it is newer than the mid).
    print_a: Option<Assessment>,
}

/// Judges a subject's fresh prices (times `scale`, its quote's rate)
/// against its pair's consensus at `now` (prices older than `fresh_ns`
/// are not), updates its flags, and sets the pair's band from the first
/// usable assessment.
fn judge_subject(
    cfg: &ConsensusConfig,
    consensus: &mut PairConsensus,
    band: &mut Option<(f64, f64)>,
    s: &mut Subject,
    (now, fresh_ns): (Nanos, Nanos),
    scale: f64,
) -> Judged {
    let fresh = |x: &Option<(f64, Nanos)>| {
        x.filter(|(_, t)| (now - t).abs() <= fresh_ns)
            .map(|(p, t)| (p * scale, t))
    };
    let mid = fresh(&s.mid);
    let print = fresh(&s.print);
    let (main, main_source) = match (mid, print) {
        (Some(m), _) => (Some(m), PriceSource::BboMid),
        (None, Some(t)) => (Some(t), PriceSource::Trade),
        (None, None) => (None, PriceSource::BboMid),
    };
    let venue = s.venue;
    let judge = |c: &mut PairConsensus, (price, at): (f64, Nanos), was: bool| {
        let obs = Observation {
            venue,
            price,
            observed_at: at,
        };
        c.assess_price(cfg, &obs, now, was)
    };
    let main_a = main.map(|m| judge(consensus, m, s.main_div));
    // A print is judged on its own while the mid is the price, and
    // only until the next mid: a print is a point event, and the
    // venue's book has the last word once it updates.
    let print_a = match (mid, print) {
        (Some((_, mt)), Some(t)) if t.1 >= mt => Some(judge(consensus, t, s.print_div)),
        _ => None,
    };
    s.main_div = main_a.is_some_and(|a| a.divergent);
    s.print_div = print_a.is_some_and(|a| a.divergent);
    if band.is_none()
        && let Some(a) = main_a.filter(|a| a.median.is_finite() && a.threshold.is_finite())
    {
        *band = Some((a.median, a.threshold));
    }
    Judged {
        main,
        main_source,
        print,
        main_a,
        print_a,
    }
}

/// A finding's action, its assessment, which price and that price.
type Decision = (Action, Assessment, PriceSource, Option<(f64, Nanos)>);

/// What to report for a judged subject: fire (severity by how long it has
/// been held and how far it is), clear (why), or nothing (`None`).
fn decide(
    s: &mut Subject,
    j: &Judged,
    now: Nanos,
    hold: Nanos,
    critical_after: Nanos,
) -> Option<Decision> {
    let Judged {
        main,
        main_source,
        print,
        main_a,
        print_a,
    } = *j;
    let divergent = |a: &Option<Assessment>| a.filter(|a| a.verdict == Verdict::Divergent);
    let fire = match (divergent(&main_a), divergent(&print_a)) {
        (Some(a), _) => Some((a, main_source, main)),
        (None, Some(a)) => Some((a, PriceSource::TradePrint, print)),
        (None, None) => None,
    };
    match fire {
        Some((a, source, price)) => {
            let since = *s.since.get_or_insert(now);
            let held = now - since;
            let severity = if source == PriceSource::TradePrint || held < hold {
                Severity::Info
            } else if held >= critical_after || a.gap.abs() >= CRITICAL_GAP_RATIO * a.threshold {
                Severity::Critical
            } else {
                Severity::Warning
            };
            s.alerting = true;
            Some((Action::Fire(severity), a, source, price))
        }
        None if s.alerting => {
            s.alerting = false;
            let (a, source, price) = match (main_a, print_a) {
                (Some(a), _) => (a, main_source, main),
                (None, Some(a)) => (a, PriceSource::TradePrint, print),
                (None, None) => (stale_assessment(), main_source, None),
            };
            let reason = if main.is_none() {
                ClearReason::Stale
            } else if a.verdict == Verdict::Unconfirmed {
                ClearReason::Unconfirmed
            } else {
                ClearReason::Readmitted
            };
            Some((Action::Clear(reason), a, source, price))
        }
        None => None,
    }
}

/// Venue ids of the fresh peers of `venue` in a pair's consensus.
fn fresh_peers(
    consensus: &PairConsensus,
    venue: Venue,
    now: Nanos,
    fresh_ns: Nanos,
) -> Vec<&'static str> {
    consensus
        .observations()
        .filter(|o| {
            o.venue != venue
                && o.price.is_finite()
                && o.price > 0.0
                && (now - o.observed_at).abs() <= fresh_ns
        })
        .map(|o| o.venue.id())
        .collect()
}

fn eval_ns(cfg: &ConsensusConfig) -> Nanos {
    Nanos::try_from(cfg.eval_ms)
        .unwrap_or(Nanos::MAX)
        .saturating_mul(MILLI)
}

/// The assessment of a subject with no fresh price.
fn stale_assessment() -> Assessment {
    Assessment::unknown(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T: Nanos = 1_723_161_300 * SECOND;

    fn sym(s: &str) -> Symbol {
        Arc::from(s)
    }

    /// Feeds one mid per (stream, venue, symbol, price) at `t`; returns
    /// whether any assessment ran.
    fn feed(
        w: &mut DivergenceWatch,
        cfg: &ConsensusConfig,
        t: Nanos,
        prices: &[(usize, Venue, &Symbol, f64)],
    ) -> bool {
        let mut ran = false;
        for &(si, v, s, p) in prices {
            ran |= w.on_price(cfg, si, v, s, Update::Mid, p, t);
        }
        ran
    }

    #[test]
    fn a_second_symbol_of_a_venue_is_judged_but_does_not_vote() {
        let cfg = ConsensusConfig::default();
        let mut w = DivergenceWatch::new();
        let (usd, usdt, usdc) = (sym("BTC/USD"), sym("BTC/USDT"), sym("BTC/USDC"));
        // Coinbase quotes BTC/USD and BTC/USDC, both in the USD family.
        let calm = [
            (0, Venue::Coinbase, &usd, 100.0),
            (1, Venue::Kraken, &usd, 100.01),
            (2, Venue::Okx, &usdt, 99.99),
        ];
        feed(&mut w, &cfg, T, &calm);
        // The USDC book 3% off: flagged on its own, as a Coinbase symbol.
        assert!(feed(&mut w, &cfg, T, &[(3, Venue::Coinbase, &usdc, 103.0)]));
        let f = w.findings();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].venue, &*f[0].symbol), (Venue::Coinbase, "BTC/USDC"));
        assert_eq!(f[0].action, Action::Fire(Severity::Info));
        // Judged against the other venues only: Coinbase's own USD book is
        // not its peer.
        assert_eq!(f[0].peers, vec!["kraken", "okx"]);
        // It did not replace Coinbase's vote: the USD book is still fine.
        let coinbase = w
            .pairs
            .first()
            .unwrap()
            .consensus
            .observations()
            .find(|o| o.venue == Venue::Coinbase)
            .unwrap()
            .price;
        assert_eq!(coinbase, 100.0);
    }

    #[test]
    fn a_flagged_venue_costs_no_assessment_per_frame_and_bad_prices_are_ignored() {
        let cfg = ConsensusConfig::default();
        let mut w = DivergenceWatch::new();
        let s = sym("ETH/USDT");
        let calm = [
            (0, Venue::BinanceSpot, &s, 3000.0),
            (1, Venue::Okx, &s, 3000.5),
            (2, Venue::BybitSpot, &s, 2999.5),
        ];
        feed(&mut w, &cfg, T, &calm);
        // Inside the band: no assessment.
        assert!(!feed(&mut w, &cfg, T + MILLI, &calm));
        assert!(feed(
            &mut w,
            &cfg,
            T + 2 * MILLI,
            &[(1, Venue::Okx, &s, 3100.0)]
        ));
        assert_eq!(w.next_due(), Some(T + 2 * MILLI + 250 * MILLI));
        // Flagged: its frames wait for the re-assessment.
        assert!(!feed(
            &mut w,
            &cfg,
            T + 3 * MILLI,
            &[(1, Venue::Okx, &s, 3000.2)]
        ));
        assert!(!w.run_due(&cfg, T + 100 * MILLI));
        assert!(w.run_due(&cfg, T + 252 * MILLI));
        assert_eq!(
            w.findings().first().map(|f| f.action),
            Some(Action::Clear(ClearReason::Readmitted))
        );
        assert_eq!(w.next_due(), None);
        for bad in [f64::NAN, f64::INFINITY, 0.0, -5.0] {
            assert!(!feed(&mut w, &cfg, T + SECOND, &[(1, Venue::Okx, &s, bad)]));
        }
        // A symbol that is not BASE/QUOTE is ignored, not an error.
        assert!(!feed(
            &mut w,
            &cfg,
            T,
            &[(9, Venue::Okx, &sym("BTCUSDT"), 1.0)]
        ));
        assert_eq!(mid(99.0, 101.0), Some(100.0));
        assert_eq!(mid(f64::NAN, 101.0), None);
    }
}
