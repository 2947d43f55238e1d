//! The legacy Coinbase Exchange feed (`ws-feed.pro.coinbase.com`, for old
//! recordings): messages with `type` at the top level (`snapshot`,
//! `l2update`, `match`, `last_match`, `ticker`, `subscriptions`,
//! `heartbeat`, `error`) turned into normalized events. Parsing only, pure
//! and total like the rest of the adapter: it must never panic, do I/O,
//! or leave events of a frame that failed (the caller truncates them).

use super::wire::{Frame, Scalar};
use super::{CoinbaseAdapter, malformed, num, time_ns, uint, unknown};
use crate::model::{DepthDiff, DepthSnapshot, Event, Level, Payload, Quote, StreamKind, Trade};
use crate::venues::{Control, ParseError};

impl CoinbaseAdapter {
    /// Legacy Exchange feed messages (`type` at the top level).
    pub(super) fn legacy(
        &mut self,
        ty: &str,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        match ty {
            "subscriptions" => Ok(Control::Ack),
            "heartbeat" => Ok(Control::Heartbeat),
            "error" => Err(Self::error_reply(fr)),
            "snapshot" => self.legacy_snapshot(fr, out),
            "l2update" => self.legacy_l2update(fr, out),
            "match" | "last_match" => self.legacy_match(fr, out),
            "ticker" => self.legacy_ticker(fr, out),
            other => Err(unknown(format!("message type `{other}`"))),
        }
    }

    /// A full book (`snapshot`) on the depth stream.
    fn legacy_snapshot(
        &mut self,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let symbol = self.symbol("product_id", &fr.product_id)?;
        let (Some(bids), Some(asks)) = (&fr.bids, &fr.asks) else {
            return Err(malformed(if fr.bids.is_none() {
                "missing field `bids`"
            } else {
                "missing field `asks`"
            }));
        };
        let mut snap = DepthSnapshot {
            last_id: None,
            bids: Vec::with_capacity(bids.len()),
            asks: Vec::with_capacity(asks.len()),
            exch_ns: None,
        };
        for (p, q) in bids {
            snap.bids.push(Level {
                price: num("bids.price", &Some(p.clone()))?,
                qty: num("bids.size", &Some(q.clone()))?,
            });
        }
        for (p, q) in asks {
            snap.asks.push(Level {
                price: num("asks.price", &Some(p.clone()))?,
                qty: num("asks.size", &Some(q.clone()))?,
            });
        }
        out.push(Event {
            symbol,
            stream: StreamKind::Depth,
            payload: Payload::Snapshot(snap),
        });
        Ok(Control::Data)
    }

    /// Book changes (`l2update`) on the depth stream; `side` is `buy` or
    /// `sell`.
    fn legacy_l2update(
        &mut self,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let symbol = self.symbol("product_id", &fr.product_id)?;
        let Some(changes) = &fr.changes else {
            return Err(malformed("missing field `changes`"));
        };
        let mut diff = DepthDiff {
            first_id: 0,
            last_id: 0,
            prev_last_id: None,
            bids: Vec::new(),
            asks: Vec::new(),
            exch_ns: Some(time_ns("time", &fr.time)?),
        };
        for (side, p, q) in changes {
            let level = Level {
                price: num("changes.price", &Some(p.clone()))?,
                qty: num("changes.size", &Some(q.clone()))?,
            };
            match side {
                Scalar::Str(s) if s == "buy" => diff.bids.push(level),
                Scalar::Str(s) if s == "sell" => diff.asks.push(level),
                _ => {
                    return Err(malformed(
                        "field `changes.side`: expected \"buy\" or \"sell\"",
                    ));
                }
            }
        }
        out.push(Event {
            symbol,
            stream: StreamKind::Depth,
            payload: Payload::Depth(diff),
        });
        Ok(Control::Data)
    }

    /// A trade (`match`, and `last_match` on subscribing).
    fn legacy_match(
        &mut self,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let symbol = self.symbol("product_id", &fr.product_id)?;
        let trade = Trade {
            price: num("price", &fr.price)?,
            qty: num("size", &fr.size)?,
            id: Some(uint("trade_id", &fr.trade_id)?),
            exch_ns: Some(time_ns("time", &fr.time)?),
            event_ns: None,
        };
        out.push(Event {
            symbol,
            stream: StreamKind::Trade,
            payload: Payload::Trade(trade),
        });
        Ok(Control::Data)
    }

    /// Best bid/offer (`ticker`; the 2021 feed sent no sizes).
    fn legacy_ticker(
        &mut self,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let symbol = self.symbol("product_id", &fr.product_id)?;
        // The 2021 feed sent no sizes with the best prices: NaN says
        // "not sent" (the engine does not read quote sizes).
        let size = |f: &str, v: &Option<Scalar<'_>>| match v {
            None => Ok(f64::NAN),
            Some(_) => num(f, v),
        };
        let quote = Quote {
            bid: Level {
                price: num("best_bid", &fr.best_bid)?,
                qty: size("best_bid_size", &fr.best_bid_size)?,
            },
            ask: Level {
                price: num("best_ask", &fr.best_ask)?,
                qty: size("best_ask_size", &fr.best_ask_size)?,
            },
            update_id: None,
            exch_ns: match &fr.time {
                None => None,
                t => Some(time_ns("time", t)?),
            },
        };
        out.push(Event {
            symbol,
            stream: StreamKind::Bbo,
            payload: Payload::Quote(quote),
        });
        Ok(Control::Data)
    }
}
