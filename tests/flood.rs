//! Hostile input: a million unique ids and a million unique categories must not grow memory or the
//! number of Prometheus series.

mod common;

use common::TestServer;

const CONFIG: &str = r#"
[[model]]
name = "m"
task = "binary_classification"
max_pending = 10000
max_categories = 500
label_ttl = "24h"
[model.reference]
warmup = 1000
[model.drift]
interval = "1s"
[[model.window]]
name = "last_1000"
events = 1000
[[model.window]]
name = "1h"
duration = "1h"
max_events = 20000
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "merchant"
type = "categorical"
"#;

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn flood(s: &TestServer, from: usize, to: usize) {
    let batch = 10_000;
    let mut i = from;
    while i < to {
        let body: String = (i..(i + batch).min(to))
            .map(|k| {
                format!(
                    "{{\"id\":\"flood-{k}-{}\",\"score\":0.{:03},\"features\":{{\"amount\":{},\"merchant\":\"merchant-{k}\",\"unknown-{k}\":1}}}}\n",
                    "x".repeat(40),
                    k % 1000,
                    k % 977
                )
            })
            .collect();
        let (status, r) = s
            .post(
                "/v1/models/m/predictions",
                Some("application/x-ndjson"),
                body,
            )
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["rejected"], 0, "{r}");
        i += batch;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_unique_ids_and_categories_keep_memory_and_series_bounded() {
    let s = TestServer::start(CONFIG).await;
    // Warm up: fill every window, the pending map and the category cap.
    flood(&s, 0, 100_000).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The first scrape creates the series of its own route's latency; count from the second.
    s.scrape().await;
    let warm = s.scrape().await;
    let warm_rss = rss();
    let series = warm.series_count();

    flood(&s, 100_000, 1_000_000).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let m = s.scrape().await;
    let grown = rss().saturating_sub(warm_rss);
    eprintln!(
        "RSS after warm-up {} MiB, after 1M events {} MiB (+{} MiB); {series} series",
        warm_rss >> 20,
        rss() >> 20,
        grown >> 20
    );
    assert!(
        grown < 64 << 20,
        "RSS grew by {} MiB over 900k more events",
        grown >> 20
    );
    assert_eq!(m.series_count(), series, "the number of series changed");
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "m")]),
        10_000.0
    );
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "m")]),
        1_000_000.0
    );
    assert_eq!(
        m.get("modelwatch_predictions_expired_total", &[("model", "m")]),
        990_000.0
    );
    assert_eq!(
        m.get(
            "modelwatch_schema_violations_total",
            &[
                ("model", "m"),
                ("feature", "__unknown__"),
                ("kind", "unknown_feature")
            ]
        ),
        1_000_000.0
    );
    assert_eq!(
        m.get(
            "modelwatch_prediction_window_samples",
            &[("model", "m"), ("window", "1h")]
        ),
        20_000.0
    );
    // Categories beyond the cap fall into __other__: almost every current value is new to the reference.
    let other = m.get(
        "modelwatch_category_ratio",
        &[
            ("model", "m"),
            ("window", "last_1000"),
            ("feature", "merchant"),
            ("category", "__other__"),
        ],
    );
    assert_eq!(other, 1.0);
    s.stop().await;
}
