//! The desk server: one HTTP server beside the engine (live, demo or
//! replay) with the desk WebSocket feed (`/ws`, see docs/FEED.md), a status
//! page, Prometheus metrics and the dashboard page.
//!
//! The engine thread feeds a [`Hub`] (alerts, and a throttled status via
//! [`HubObserver`]); the server reads the hub. Nothing here may block or
//! slow the engine, change what it computes, or listen beyond the
//! configured address (loopback by default).

pub mod config;
pub mod dashboard;
pub mod hub;
pub mod metrics;
pub mod server;

use crate::sink::{BoxSink, Tee};
pub use config::ServeConfig;
pub use hub::{FeedInfo, Hub, HubObserver, HubOptions, HubSink};
pub use metrics::{MetricType, MetricsSource};
pub use server::{ServeError, Server, ServerOptions};

use crate::detect::DetectConfig;
use crate::feed::FeedConfig;
use crate::replay::{Input, Options, ReplayError, Speed, Summary, replay_input};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A desk server to start: its hub (hand it to the engine) and how it
/// listens.
#[derive(Debug)]
pub struct Desk {
    /// The hub the engine feeds and the server reads.
    pub hub: Arc<Hub>,
    /// Address, token, extra metrics.
    pub server: ServerOptions,
}

impl Desk {
    /// The desk `[serve]` and `--serve ADDR` ask for (the flag wins over
    /// `listen`); `None` when neither asks for a server. Resolves
    /// `token_env`.
    pub fn from_config(
        cfg: &ServeConfig,
        listen: Option<&str>,
    ) -> Result<Option<Desk>, ServeError> {
        let Some(addr) = listen.or(cfg.listen.as_deref()) else {
            return Ok(None);
        };
        let listen: SocketAddr = addr.parse().map_err(|_| {
            ServeError::Config(format!(
                "--serve / serve.listen must be an address such as 127.0.0.1:8080, got `{addr}`"
            ))
        })?;
        let token = cfg.resolve_token().map_err(ServeError::Config)?;
        Ok(Some(Desk {
            hub: Arc::new(Hub::new(HubOptions::from_config(cfg))),
            server: ServerOptions {
                listen,
                token,
                sources: Vec::new(),
                send_buffer: None,
            },
        }))
    }

    /// Starts serving and says where on stderr.
    pub async fn start(self) -> Result<Server, ServeError> {
        let server = Server::start(self.hub, self.server).await?;
        let addr = server.addr();
        eprintln!(
            "feedwatch: desk server on http://{addr}/ (feed ws://{addr}/ws, /status, /metrics)"
        );
        Ok(server)
    }
}

/// Runs `work` (the live consumer or the demo) with the desk server up, if
/// there is one, and stops the server gracefully when `work` is done.
pub async fn serve_while<T>(
    desk: Option<Desk>,
    work: impl Future<Output = T>,
) -> Result<T, ServeError> {
    let server = match desk {
        Some(d) => Some(d.start().await?),
        None => None,
    };
    let out = work.await;
    if let Some(s) = server {
        s.stop().await?;
    }
    Ok(out)
}

/// Runs the live consumer, with `hub` (the desk server's) watching it when
/// there is one: see [`Hub::attach`].
pub async fn run_feed(
    detect: DetectConfig,
    feed: FeedConfig,
    mut opts: crate::feed::RunOptions,
    hub: Option<&Arc<Hub>>,
    shutdown: impl Future<Output = ()>,
    sink: BoxSink,
) -> Result<crate::feed::FeedSummary, crate::feed::FeedError> {
    match hub {
        Some(hub) => {
            let cap = feed.queue_capacity;
            let (sink, shutdown) = hub.attach(&mut opts, cap, sink, shutdown);
            crate::feed::run_with(detect, feed, opts, shutdown, sink).await
        }
        None => crate::feed::run_with(detect, feed, opts, shutdown, sink).await,
    }
}

/// Replays `input` on a blocking thread with `hub` watching (alerts to the
/// hub, then to `sink`; status throttled by [`HubObserver`]). The hub keeps
/// the final state when it ends.
pub async fn replay(
    cfg: DetectConfig,
    input: Input,
    speed: Speed,
    hub: Arc<Hub>,
    sink: BoxSink,
) -> Result<Summary, ReplayError> {
    let job = tokio::task::spawn_blocking(move || {
        let mut observer = HubObserver::new(hub.clone());
        let mut both = Tee(HubSink(hub.clone()), sink);
        let opts = Options {
            speed: Some(speed),
            progress: false,
            observer: Some(&mut observer),
        };
        replay_input(cfg, &input, opts, &mut both)
    });
    match job.await {
        Ok(r) => r,
        Err(e) => Err(ReplayError::Sink(std::io::Error::other(format!(
            "replay thread failed: {e}"
        )))),
    }
}

/// `feedwatch replay --serve`: starts the server, replays, hands the summary
/// to `report`, then keeps serving the final state until `shutdown`
/// (saying so on stderr). A `shutdown` during the replay stops the server
/// and returns `Ok(None)` without waiting for the replay thread.
pub async fn replay_served(
    cfg: DetectConfig,
    input: Input,
    speed: Speed,
    desk: Desk,
    sink: BoxSink,
    shutdown: impl Future<Output = ()>,
    report: impl FnOnce(&Summary),
) -> Result<Option<Summary>, anyhow::Error> {
    let server = desk.start().await?;
    let hub = server.hub().clone();
    tokio::pin!(shutdown);
    let summary = tokio::select! {
        r = replay(cfg, input, speed, hub, sink) => r,
        () = &mut shutdown => {
            server.stop().await?;
            return Ok(None);
        }
    };
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            server.stop().await?;
            return Err(e.into());
        }
    };
    report(&summary);
    eprintln!(
        "feedwatch replay: finished; the desk server keeps serving the final state on http://{}/ until SIGINT/SIGTERM",
        server.addr()
    );
    shutdown.await;
    server.stop().await?;
    Ok(Some(summary))
}
