//! Config reload: models added, removed and changed without losing the windows of the others; an invalid
//! config is refused and the old one stays.

mod common;

use common::TestServer;
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use serde_json::json;

const A: &str = r#"
[[model]]
name = "keep"
task = "regression"

[[model]]
name = "tweak"
task = "binary_classification"
[[model.feature]]
name = "x"
type = "numeric"

[[model]]
name = "drop"
task = "regression"
"#;

const B: &str = r#"
[[model]]
name = "keep"
task = "regression"

[[model]]
name = "tweak"
task = "binary_classification"
[[model.feature]]
name = "x"
type = "numeric"
[model.alerts]
accuracy_min = 0.9

[[model]]
name = "new"
task = "multiclass_classification"
classes = ["a", "b"]
"#;

#[tokio::test]
async fn reload_keeps_unchanged_and_carries_changed_models() {
    let dir = std::env::temp_dir().join(format!("mw-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("modelwatch.toml");
    std::fs::write(&path, A).unwrap();
    let s = TestServer::start_with(Config::load(&path).unwrap(), Clock::new()).await;
    s.server.state.set_config_path(Some(path.clone()));

    s.post_json(
        "/v1/models/keep/predictions",
        &json!([{"prediction": 1, "label": 2}, {"prediction": 3, "label": 3}]),
    )
    .await;
    s.post_json(
        "/v1/models/tweak/predictions",
        &json!([{"score": 0.9, "label": 1, "features": {"x": 1}}, {"id": "w", "score": 0.2}]),
    )
    .await;
    s.post_json(
        "/v1/models/drop/predictions",
        &json!({"prediction": 1, "label": 1}),
    )
    .await;

    std::fs::write(&path, B).unwrap();
    let (status, summary) = s.post("/-/reload", None, "").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary,
        json!({"unchanged": ["keep"], "changed": ["tweak"], "added": ["new"], "removed": ["drop"]})
    );

    let m = s.scrape().await;
    let keep = [("model", "keep"), ("window", "last_1000")];
    assert_eq!(m.get("modelwatch_window_samples", &keep), 2.0);
    assert_eq!(m.get("modelwatch_mae", &keep), 0.5);
    let tweak = [("model", "tweak"), ("window", "last_1000")];
    assert_eq!(m.get("modelwatch_window_samples", &tweak), 1.0);
    assert_eq!(m.get("modelwatch_prediction_window_samples", &tweak), 2.0);
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "tweak")]),
        1.0
    );
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "tweak")]),
        2.0
    );
    assert_eq!(
        m.get(
            "modelwatch_alert_threshold",
            &[
                ("model", "tweak"),
                ("metric", "accuracy"),
                ("direction", "min")
            ]
        ),
        0.9
    );
    assert_eq!(
        m.get(
            "modelwatch_window_samples",
            &[("model", "new"), ("window", "last_1000")]
        ),
        0.0
    );
    assert!(
        m.value("modelwatch_predictions_total", &[("model", "drop")])
            .is_none()
    );
    assert!(
        m.value("modelwatch_window_samples", &[("model", "drop")])
            .is_none()
    );
    let (status, _) = s
        .post_json("/v1/models/drop/predictions", &json!({"prediction": 1}))
        .await;
    assert_eq!(status, 404);
    // The pending prediction of the changed model still joins its label.
    let (_, r) = s
        .post_json("/v1/models/tweak/labels", &json!({"id": "w", "label": 0}))
        .await;
    assert_eq!(r["matched"], 1);

    // An invalid config is refused, and the running one stays.
    std::fs::write(&path, "[[model]]\nname = \"keep\"\ntask = \"regresion\"\n").unwrap();
    let (status, body) = s.post("/-/reload", None, "").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_config");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown task"),
        "{body}"
    );
    let (status, _) = s
        .post_json("/v1/models/new/predictions", &json!({"prediction": "a"}))
        .await;
    assert_eq!(status, 200);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// One binary model with a count window and a time window, neither of which fills during the test. The
/// threshold alternates (a change applied in place); `events` of the count window alternates too (a
/// change that rebuilds the model and hands its state over).
fn storm_config(threshold: &str, events: u64) -> String {
    format!(
        r#"
[[model]]
name = "m"
task = "binary_classification"
threshold = {threshold}
[[model.feature]]
name = "x"
type = "numeric"
[[model.feature]]
name = "c"
type = "categorical"
[[model.window]]
name = "count"
events = {events}
[[model.window]]
name = "hour"
duration = "1h"
"#
    )
}

/// A storm of reloads while four clients ingest: every event answered 2xx is in
/// `modelwatch_predictions_total` and in both windows, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_storm_loses_no_acknowledged_event() {
    let dir = std::env::temp_dir().join(format!("mw-reload-storm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("modelwatch.toml");
    std::fs::write(&path, storm_config("0.5", 5_000_000)).unwrap();
    let s = std::sync::Arc::new(
        TestServer::start_with(Config::load(&path).unwrap(), Clock::new()).await,
    );
    s.server.state.set_config_path(Some(path.clone()));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..4u64 {
        let (s, stop) = (s.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            let mut round = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && round < 100_000 {
                round += 1;
                let events: Vec<_> = (0..50)
                    .map(|i| {
                        json!({"score": ((client * 7 + round + i) % 100) as f64 / 100.0,
                               "label": (i % 2),
                               "features": {"x": i, "c": format!("v{}", i % 5)}})
                    })
                    .collect();
                let (status, body) = s
                    .post_json("/v1/models/m/predictions", &json!(events))
                    .await;
                if status == 200 {
                    accepted += body["accepted"].as_u64().unwrap();
                }
            }
            accepted
        }));
    }

    // 100 reloads a second for 3 s; every 100th one rebuilds the model.
    let mut reloads = 0;
    let started = std::time::Instant::now();
    for k in 0..300u64 {
        if started.elapsed() > std::time::Duration::from_secs(40) {
            break;
        }
        let threshold = if k % 2 == 0 { "0.51" } else { "0.5" };
        let events = if (k / 100) % 2 == 0 {
            5_000_000
        } else {
            5_000_001
        };
        std::fs::write(&path, storm_config(threshold, events)).unwrap();
        let (status, body) = s.post("/-/reload", None, "").await;
        assert_eq!(status, 200, "{body}");
        reloads += 1;
        let due = std::time::Duration::from_millis(10 * (k + 1));
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut accepted = 0;
    for c in clients {
        accepted += c.await.unwrap();
    }
    assert!(accepted > 0);
    eprintln!(
        "{reloads} reloads in {:.1} s, {accepted} events accepted",
        started.elapsed().as_secs_f64()
    );

    let m = s.scrape().await;
    let total = m.get("modelwatch_predictions_total", &[("model", "m")]);
    assert_eq!(total, accepted as f64, "predictions_total vs 2xx answers");
    for window in ["count", "hour"] {
        let w = [("model", "m"), ("window", window)];
        assert_eq!(
            m.get("modelwatch_prediction_window_samples", &w),
            accepted as f64,
            "predictions in window {window}"
        );
        assert_eq!(
            m.get("modelwatch_window_samples", &w),
            accepted as f64,
            "labelled samples in window {window}"
        );
    }
    assert_eq!(reloads, 300, "the storm did not finish in 40 s");
    std::sync::Arc::into_inner(s).unwrap().stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn warmup_config(threshold: &str, events: u64) -> String {
    format!(
        r#"
[[model]]
name = "m"
task = "binary_classification"
threshold = {threshold}
[model.reference]
warmup = 100
[[model.feature]]
name = "x"
type = "numeric"
[[model.window]]
name = "w"
events = {events}
"#
    )
}

/// An uploaded reference survives reloads that leave `[model.reference]` alone, whether they apply in
/// place (threshold) or rebuild the model (window size).
#[tokio::test]
async fn an_uploaded_reference_survives_reloads() {
    let dir = std::env::temp_dir().join(format!("mw-reload-ref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("modelwatch.toml");
    std::fs::write(&path, warmup_config("0.5", 1000)).unwrap();
    let s = TestServer::start_with(Config::load(&path).unwrap(), Clock::new()).await;
    s.server.state.set_config_path(Some(path.clone()));
    let mut csv = String::from("x,score\n");
    for i in 0..500 {
        csv.push_str(&format!("{i},0.{}\n", i % 10));
    }
    let resp = s
        .client
        .put(format!("{}/v1/models/m/reference", s.base))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    for (threshold, events) in [("0.51", 1000), ("0.51", 1001), ("0.5", 1001)] {
        std::fs::write(&path, warmup_config(threshold, events)).unwrap();
        let (status, body) = s.post("/-/reload", None, "").await;
        assert_eq!(status, 200, "{body}");
        let (_, doc) = s.get("/v1/models/m").await;
        assert_eq!(
            doc["reference"]["source"], "api",
            "after reload to threshold {threshold}, events {events}: {doc}"
        );
        assert_eq!(doc["reference"]["samples"], 500, "{doc}");
    }
    // Changing the reference settings replaces it.
    std::fs::write(
        &path,
        warmup_config("0.5", 1001).replace("warmup = 100", "warmup = 200"),
    )
    .unwrap();
    let (status, _) = s.post("/-/reload", None, "").await;
    assert_eq!(status, 200);
    let (_, doc) = s.get("/v1/models/m").await;
    assert_eq!(doc["reference"]["source"], "warmup", "{doc}");
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
