//! Candle history files: reading CSV candles and scanning them with the same
//! candle checks the live engine runs (`feedwatch scan-candles`), one
//! source at a time or several venues at once with a cross-venue consensus
//! on abnormal candles.
//!
//! Nothing here touches the network or the live engine; a scan is a pure
//! function of the files and the configuration.

pub mod csv;
pub mod multi;
pub mod points;
pub mod scan;

pub use csv::ScanError;
pub use multi::{MultiReport, SourceSpec, scan_sources};
pub use scan::{ScanReport, scan_files, scan_files_stream};
