//! The desk dashboard: one self-contained HTML page served at `/`, which
//! speaks the desk WebSocket protocol (docs/FEED.md). It is compiled into
//! the binary so the server needs no files at run time.

/// The page (HTML, CSS and script in one file).
pub const INDEX_HTML: &str = include_str!("index.html");
