//! The desk's HTTP side: status, metrics, the desk WebSocket and the
//! dashboard page. (On this branch only the page itself; the server lives
//! on its own branch.)

pub mod dashboard;
