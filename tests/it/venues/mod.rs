//! Each venue's real and documented frames through its adapter and the engine.

mod binance;
mod bybit;
mod coinbase;
mod kraken;
mod okx;
