//! Time windows cannot be frozen: a prediction stamped further ahead of the server's clock than
//! `max_clock_skew` is rejected with `timestamp_in_future`, so it never takes a time window's place.

mod common;

use common::TestServer;
use serde_json::{Value, json};

fn config(server: &str) -> String {
    format!(
        r#"
[server]
{server}

[[model]]
name = "m"
task = "binary_classification"
[[model.window]]
name = "minute"
duration = "1m"
max_events = 1000
"#
    )
}

fn batch(n: usize, timestamp: Option<&str>, label: u8) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|_| {
            let mut e = json!({"score": 0.9, "label": label});
            if let Some(ts) = timestamp {
                e["timestamp"] = json!(ts);
            }
            e
        })
        .collect();
    json!(events)
}

#[tokio::test]
async fn far_future_timestamps_cannot_freeze_a_time_window() {
    let s = TestServer::start(&config("")).await;
    // A skewed client: 1000 events stamped in 2200, all correct.
    let (status, r) = s
        .post_json(
            "/v1/models/m/predictions",
            &batch(1000, Some("2200-01-01T00:00:00Z"), 1),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["accepted"], 0, "{r}");
    assert_eq!(r["rejected"], 1000);
    assert_eq!(r["errors"][0]["code"], "timestamp_in_future");
    // Then 2000 current events, all wrong: the window must hold the newest 1000 of them.
    let (status, r) = s
        .post_json("/v1/models/m/predictions", &batch(2000, None, 0))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["accepted"], 2000);
    let m = s.scrape().await;
    let w = [("model", "m"), ("window", "minute")];
    assert_eq!(m.get("modelwatch_window_samples", &w), 1000.0);
    assert_eq!(
        m.get("modelwatch_accuracy", &w),
        0.0,
        "the window shows current traffic"
    );
    assert_eq!(
        m.get(
            "modelwatch_rejected_events_total",
            &[("model", "m"), ("reason", "timestamp_in_future")]
        ),
        1000.0
    );
    // A single event answers 422 with the code.
    let (status, body) = s
        .post_json(
            "/v1/models/m/predictions",
            &json!({"score": 0.5, "timestamp": "2200-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "timestamp_in_future");
    s.stop().await;
}

#[tokio::test]
async fn max_clock_skew_bounds_how_far_ahead_a_timestamp_may_be() {
    let s = TestServer::start(&config("max_clock_skew = \"2m\"")).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (_, r) = s
        .post_json(
            "/v1/models/m/predictions",
            &json!([
                {"score": 0.9, "label": 1, "timestamp": now + 60.0},
                {"score": 0.9, "label": 1, "timestamp": now + 180.0},
            ]),
        )
        .await;
    assert_eq!(r["accepted"], 1, "{r}");
    assert_eq!(r["errors"][0]["index"], 1);
    assert_eq!(r["errors"][0]["code"], "timestamp_in_future");
    s.stop().await;

    let e = modelwatch::config::Config::parse(&config("max_clock_skew = \"2d\""))
        .expect_err("a skew over a day is refused");
    assert!(format!("{e:?}").contains("max_clock_skew"), "{e:?}");
}
