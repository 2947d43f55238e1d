//! Candle history files: reading CSV candles and scanning them with the
//! candle checks (placeholder; being written).
