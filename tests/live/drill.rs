//! The fire drill of the README: the simulator serves the whole real spot
//! BTC/USDT recording (fixtures/replay/, 2024-08-08) at 4x and closes the
//! first connection after 20,000 frames (an injected loss, `--faults
//! close-after=20000,conns=1`); the live consumer reconnects, fetches the
//! simulator's derived REST snapshot and rebuilds its book. A drill must
//! never page: the only alert above info is the injected loss itself.

use crate::sim::{Feed, feed_config, serve_sim, start_feed, wait_for};
use crate::util::*;
use feedwatch::replay::Speed;
use feedwatch::scenario::inject;
use std::time::Duration;

/// Whether an alert line is above info.
fn pages(a: &str) -> bool {
    matches!(
        inject::string_field(a, "severity"),
        Some("warning" | "critical")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_drill_raises_nothing_above_info_but_the_injected_loss() {
    let fixture = fixtures().join("replay/binance-spot-btcusdt-2024-08-08.fixture.zst");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = serve_sim(
        listener,
        &fixture,
        Speed::Factor(4.0),
        "close-after=20000,conns=1",
    );
    let f: Feed = start_feed(feed_config(sim.addr), None);
    let c = f.counters.clone();
    // 20,000 frames are about 200 s of the recording: 50 s at 4x.
    wait_for(
        "the injected close, the reconnect and its snapshot",
        Duration::from_secs(150),
        || counter(&c.opens) >= 2 && counter(&c.rest_fetched) >= 2,
    )
    .await;
    // The rebuilt book in use for 10 s (40 s of the recording): long
    // enough for a crossed top to be held (500 ms) and to turn critical (5 s).
    let frames = counter(&c.frames);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        counter(&c.frames) > frames + 1000,
        "the second session did not stream"
    );
    let (summary, alerts) = f.stop().await;
    assert_eq!(counter(&sim.counters.fault_closes), 1);
    sim.stop().await;

    assert_eq!(summary.rest_failed, 0, "{summary:?}");
    let loss: Vec<&String> = alerts
        .iter()
        .filter(|a| {
            inject::string_field(a, "kind") == Some("connection_lost")
                && inject::string_field(a, "venue") == Some("binance-spot")
        })
        .collect();
    assert!(
        loss.iter().any(|a| a.contains("\"state\":\"open\"")),
        "the injected loss was not reported: {alerts:#?}"
    );
    let paged: Vec<&String> = alerts
        .iter()
        .filter(|a| pages(a) && !loss.contains(a))
        .collect();
    assert!(
        paged.is_empty(),
        "the drill paged beyond the injected loss: {paged:#?}"
    );
}
