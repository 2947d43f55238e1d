//! The desk dashboard: one HTML page (inline CSS and script, no build step,
//! no CDN, no request to anywhere but the server it came from) that the
//! desk server serves at `/`.
//!
//! The page opens the desk WebSocket at `/ws` on its own host (passing on
//! the page's `?token=`), reconnects with backoff, and draws from the
//! protocol's messages (`snapshot`, `alert`, `status`, `dropped`): a grid
//! of venues by symbols coloured by state, the open incidents with their
//! timelines, and a price chart per symbol with flagged moments marked.
//! It must never fetch an external asset nor trust text from the wire as
//! markup (everything is set as text, never as HTML).

/// The dashboard page, served as is at `/`.
pub const INDEX_HTML: &str = include_str!("index.html");
