//! A big batch does not stall its model: it is applied in slices of bounded work, with the model lock
//! handed to waiting requests between slices.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;

const CONFIG: &str = r#"
[server]
max_body_bytes = 104857600

[[model]]
name = "m"
task = "binary_classification"
[[model.window]]
name = "big"
events = 1000000
[[model.window]]
name = "hour"
duration = "1h"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
"#;

/// Single-event requests to a model keep a p99 under 50 ms while 100k-event batches stream to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_events_are_not_stalled_by_big_batches() {
    let s = std::sync::Arc::new(TestServer::start(CONFIG).await);
    let mut body = String::with_capacity(100_000 * 80);
    for i in 0..100_000 {
        body.push_str(&format!(
            "{{\"score\":0.{:03},\"label\":{},\"features\":{{\"amount\":{i},\"country\":\"c{}\"}}}}\n",
            i % 1000,
            i % 2,
            i % 7
        ));
    }
    let body = std::sync::Arc::new(body);
    let started = Instant::now();
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let batches = {
        let (s, body, streaming) = (s.clone(), body.clone(), streaming.clone());
        tokio::spawn(async move {
            let mut accepted = 0;
            for _ in 0..4 {
                if started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                let (status, r) = s
                    .post(
                        "/v1/models/m/predictions",
                        Some("application/x-ndjson"),
                        body.as_bytes().to_vec(),
                    )
                    .await;
                assert_eq!(status, 200, "{r}");
                accepted += r["accepted"].as_u64().unwrap();
            }
            streaming.store(false, std::sync::atomic::Ordering::Relaxed);
            accepted
        })
    };
    // Open loop: a single event every 5 ms whatever the answers do, so a stall delays every request
    // sent during it, as it would delay a real client's.
    let mut singles = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while streaming.load(std::sync::atomic::Ordering::Relaxed) && singles.len() < 20_000 {
        tick.tick().await;
        let s = s.clone();
        singles.push(tokio::spawn(async move {
            let t = Instant::now();
            let (status, r) = s
                .post_json(
                    "/v1/models/m/predictions",
                    &serde_json::json!({"score": 0.5, "label": 1, "features": {"amount": 1, "country": "c1"}}),
                )
                .await;
            assert_eq!(status, 200, "{r}");
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(singles.len());
    for single in singles {
        latencies.push(single.await.unwrap());
    }
    let batch_accepted = batches.await.unwrap();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let p50 = latencies[latencies.len() / 2];
    eprintln!(
        "{} single events beside {batch_accepted} batched: p50 {p50:?}, p99 {p99:?}, max {:?}",
        latencies.len(),
        latencies.last().unwrap()
    );
    assert!(
        latencies.len() >= 100,
        "too few samples: {}",
        latencies.len()
    );
    // Every event counted exactly, whatever the slicing.
    let m = s.scrape().await;
    let total = batch_accepted + latencies.len() as u64;
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "m")]),
        total as f64
    );
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
    std::sync::Arc::into_inner(s).unwrap().stop().await;
}
