//! State snapshots: a graceful restart keeps every window value, counter and pending label; a corrupt
//! snapshot is moved aside without stopping start-up.

mod common;

use std::collections::BTreeMap;

use common::{Scrape, TestServer};
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use serde_json::{Value, json};

fn config(dir: &std::path::Path) -> Config {
    let text = format!(
        r#"
[server.state]
path = "{}"
snapshot_interval = "1h"

[[model]]
name = "fraud"
task = "binary_classification"
[model.reference]
warmup = 20
[model.drift]
interval = "100ms"
[[model.window]]
name = "last_50"
events = 50
[[model.window]]
name = "1h"
duration = "1h"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"

[[model]]
name = "price"
task = "regression"
[model.reference]
moving = true
[model.drift]
interval = "100ms"
[[model.window]]
name = "last_10"
events = 10
"#,
        dir.join("state.bin").display()
    );
    Config::parse(&text).unwrap()
}

/// The values that must survive a restart: every modelwatch series except those that measure the process
/// itself (uptime, its own request latency) or the timing of the last drift evaluation.
fn durable(m: &Scrape) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, samples) in &m.samples {
        let skip = !name.starts_with("modelwatch_")
            || name.starts_with("modelwatch_http_request_duration_seconds")
            || name.starts_with("modelwatch_prediction_latency_seconds")
            || name == "modelwatch_uptime_seconds"
            || name == "modelwatch_drift_last_evaluation_timestamp_seconds"
            || name == "modelwatch_drift_evaluation_duration_seconds";
        if skip {
            continue;
        }
        for (labels, v) in samples {
            out.insert(format!("{name}{labels:?}"), format!("{v:?}"));
        }
    }
    out
}

/// A scrape taken after both models' drift was evaluated on the current data.
async fn settled_scrape(s: &TestServer) -> Scrape {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for _ in 0..100 {
        let m = s.scrape().await;
        let done = ["fraud", "price"].iter().all(|model| {
            m.value(
                "modelwatch_drift_last_evaluation_timestamp_seconds",
                &[("model", model)],
            )
            .is_some_and(|t| t > since)
        });
        if done {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("drift was not evaluated within 5 s");
}

fn events(n: usize, offset: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let k = i + offset;
            let score = ((k * 37) % 100) as f64 / 100.0;
            let country = ["DE", "FR", "IT"][k % 3];
            let mut e = json!({
                "id": format!("p{k}"),
                "score": score,
                "features": {"amount": (k % 13) as f64 * 1.5, "country": country},
            });
            if k.is_multiple_of(2) {
                e["label"] = json!(k.is_multiple_of(4) as u8);
            }
            e
        })
        .collect()
}

#[tokio::test]
async fn a_graceful_restart_keeps_windows_counters_and_pending_labels() {
    let dir = std::env::temp_dir().join(format!("mw-persist-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let (_, r) = s
        .post_json("/v1/models/fraud/predictions", &Value::Array(events(80, 0)))
        .await;
    assert_eq!(r["accepted"], 80);
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!([{"id": "p1", "label": 1}, {"id": "p3", "label": 0}]),
        )
        .await;
    assert_eq!(r["matched"], 2);
    s.post_json("/v1/models/fraud/predictions", &json!({"score": 7}))
        .await;
    let reg: Vec<Value> = (0..25)
        .map(|i| json!({"prediction": i as f64 * 0.5, "label": i as f64}))
        .collect();
    s.post_json("/v1/models/price/predictions", &Value::Array(reg))
        .await;
    let before = durable(&settled_scrape(&s).await);
    assert!(
        before.len() > 50,
        "too few series to compare: {}",
        before.len()
    );
    s.stop().await;
    assert!(
        dir.join("state.bin").exists(),
        "no snapshot written on shutdown"
    );

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let after = durable(&settled_scrape(&s).await);
    let diff: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} -> {:?}", after.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "values changed across the restart:\n{}",
        diff.join("\n")
    );
    assert_eq!(before.len(), after.len());
    // Pending predictions survive: p5 still joins its label.
    let (_, r) = s
        .post_json("/v1/models/fraud/labels", &json!({"id": "p5", "label": 1}))
        .await;
    assert_eq!(r["matched"], 1);
    // The warmup reference was restored complete, so drift is evaluated against it.
    let (_, st) = s.get("/v1/models/fraud").await;
    assert_eq!(st["reference"]["source"], "warmup");
    assert_eq!(st["reference"]["ready"], true);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_corrupt_snapshot_is_moved_aside_and_start_up_goes_on() {
    let dir = std::env::temp_dir().join(format!("mw-persist-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("state.bin"),
        b"MWSNAP\x00\x01 definitely not a snapshot",
    )
    .unwrap();
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    assert_eq!(s.get("/readyz").await.0, 200);
    let moved: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.bin.corrupt-")
        })
        .collect();
    assert_eq!(moved.len(), 1);
    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "fraud")]),
        0.0
    );
    s.stop().await;
    // The shutdown snapshot replaced the bad one with a good one.
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt"))
            .count(),
        1
    );
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
