//! The snapshot file format: snapshots written by earlier versions, committed under
//! `tests/fixtures/snapshot/`, load in this one with everything they held.
//!
//! `v1.bin` is the first format (the internal structures, encoded directly); `v2.bin` is the first
//! format of explicit transfer types. Both were written by `write_fixture_state` below, with the config
//! in `tests/fixtures/snapshot/config.toml`. A new format version adds a new fixture; old ones stay.

mod common;

use std::path::{Path, PathBuf};

use common::TestServer;
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use serde_json::{Value, json};

/// 2026-12-01T00:00:00Z: the wall clock the fixtures were written at.
const T0_NS: i64 = 1_796_083_200_000_000_000;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot")
}

fn fixture_config(state: &Path) -> Config {
    let text = std::fs::read_to_string(fixture_dir().join("config.toml")).unwrap();
    let text = text.replace(
        "path = \"state.bin\"",
        &format!("path = {:?}", state.display().to_string()),
    );
    Config::parse(&text).unwrap()
}

/// A fresh directory per call: tests run in parallel in one process, and two of them start on the same
/// fixture.
fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("mw-format-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The traffic behind the fixtures. Writes the snapshot to `state` on shutdown.
async fn write_fixture_state(state: &Path) {
    let s = TestServer::start_with(fixture_config(state), Clock::starting_at(T0_NS)).await;
    // fraud: 30 predictions, every other one labelled inline, the odd ones waiting for their label.
    let fraud: Vec<Value> = (0..30)
        .map(|i| {
            let country = ["DE", "FR", "IT"][i % 3];
            let mut e = json!({
                "id": format!("p{i}"),
                "score": ((i * 37) % 100) as f64 / 100.0,
                "features": {"amount": i as f64 * 1.5, "country": country},
            });
            if i % 2 == 0 {
                e["label"] = json!((i % 4 == 0) as u8);
            }
            e
        })
        .collect();
    let (status, r) = s
        .post_json("/v1/models/fraud/predictions", &Value::Array(fraud))
        .await;
    assert_eq!((status, r["accepted"].as_u64()), (200, Some(30)), "{r}");
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!([{"id": "p1", "label": 1}, {"id": "p3", "label": 0}]),
        )
        .await;
    assert_eq!(r["matched"], 2, "{r}");
    // One rejected event, so a rejection counter is part of the state.
    let (status, _) = s
        .post_json("/v1/models/fraud/predictions", &json!({"score": "high"}))
        .await;
    assert_eq!(status, 422);

    // animals: 25 labelled predictions, then an uploaded reference of 40 rows.
    let classes = ["cat", "dog", "bird"];
    let animals: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "prediction": classes[i % 3],
                "label": classes[(i / 2) % 3],
                "features": {"weight": i as f64 * 0.25},
            })
        })
        .collect();
    let (_, r) = s
        .post_json("/v1/models/animals/predictions", &Value::Array(animals))
        .await;
    assert_eq!(r["accepted"], 25, "{r}");
    let reference: String = (0..40)
        .map(|i| {
            format!(
                "{}\n",
                json!({"prediction": classes[i % 3], "label": classes[i % 3], "features": {"weight": 10.0 + i as f64}})
            )
        })
        .collect();
    let resp = s
        .client
        .put(format!("{}/v1/models/animals/reference", s.base))
        .header("content-type", "application/x-ndjson")
        .body(reference)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // price: 25 labelled predictions; the last 10 are the window, the 10 before them the moving reference.
    let price: Vec<Value> = (0..25)
        .map(|i| json!({"prediction": i as f64 * 0.5, "label": i as f64}))
        .collect();
    let (_, r) = s
        .post_json("/v1/models/price/predictions", &Value::Array(price))
        .await;
    assert_eq!(r["accepted"], 25, "{r}");
    s.stop().await;
    assert!(state.exists(), "no snapshot written");
}

/// Writes a fixture of the current format: `MODELWATCH_SNAPSHOT_FIXTURE=tests/fixtures/snapshot/vN.bin
/// cargo test --test snapshot_format -- --ignored`. Only for a new format version; committed fixtures are
/// never rewritten.
#[tokio::test]
#[ignore]
async fn write_fixture() {
    let out = std::env::var("MODELWATCH_SNAPSHOT_FIXTURE").expect("MODELWATCH_SNAPSHOT_FIXTURE");
    let dir = temp_dir("write");
    let state = dir.join("state.bin");
    write_fixture_state(&state).await;
    std::fs::copy(&state, out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// A server started on a copy of a committed fixture, a minute after it was written.
async fn start_on(fixture: &str) -> (TestServer, PathBuf) {
    let dir = temp_dir(fixture);
    let state = dir.join("state.bin");
    std::fs::copy(fixture_dir().join(fixture), &state).unwrap();
    let s = TestServer::start_with(
        fixture_config(&state),
        Clock::starting_at(T0_NS + 60_000_000_000),
    )
    .await;
    (s, dir)
}

fn sum_of(m: &common::Scrape, name: &str, model: &str) -> f64 {
    m.samples[name]
        .iter()
        .filter(|(l, _)| l.get("model").map(String::as_str) == Some(model))
        .map(|(_, v)| v)
        .sum()
}

/// Everything `write_fixture_state` left behind is back, and goes on from where it was.
async fn assert_fixture_state(s: &TestServer) -> common::Scrape {
    let m = s.scrape().await;
    for (model, predictions) in [("fraud", 30.0), ("animals", 25.0), ("price", 25.0)] {
        assert_eq!(
            m.get("modelwatch_predictions_total", &[("model", model)]),
            predictions,
            "{model}"
        );
    }
    assert_eq!(
        m.get("modelwatch_labels_total", &[("model", "fraud")]),
        17.0
    );
    assert_eq!(sum_of(&m, "modelwatch_rejected_events_total", "fraud"), 1.0);
    for window in ["last_100", "1d"] {
        let w = [("model", "fraud"), ("window", window)];
        assert_eq!(m.get("modelwatch_prediction_window_samples", &w), 30.0);
        assert_eq!(m.get("modelwatch_window_samples", &w), 17.0);
    }
    let w = [("model", "price"), ("window", "last_10")];
    assert_eq!(m.get("modelwatch_window_samples", &w), 10.0);
    assert_eq!(m.get("modelwatch_mean_label", &w), 19.5);
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "fraud")]),
        13.0
    );

    let (_, fraud) = s.get("/v1/models/fraud").await;
    let r = &fraud["reference"];
    assert_eq!(
        (
            &r["source"],
            &r["samples"],
            &r["label_samples"],
            &r["ready"]
        ),
        (&json!("warmup"), &json!(30), &json!(17), &json!(false)),
        "{r}"
    );
    let (_, animals) = s.get("/v1/models/animals").await;
    assert_eq!(animals["reference"]["source"], "api", "{animals}");
    assert_eq!(animals["reference"]["samples"], 40);
    let (_, price) = s.get("/v1/models/price").await;
    assert_eq!(price["reference"]["source"], "moving");
    assert_eq!(price["reference"]["samples"], 10);

    // Pending labels still join, category ids still mean the same countries, and the warmup goes on
    // from 30: 20 more predictions complete it.
    let (_, r) = s
        .post_json("/v1/models/fraud/labels", &json!({"id": "p5", "label": 1}))
        .await;
    assert_eq!(r["matched"], 1, "{r}");
    let more: Vec<Value> = (0..20)
        .map(|i| json!({"score": 0.5, "features": {"amount": 1.0, "country": "IT"}, "label": (i % 2) as u8}))
        .collect();
    s.post_json("/v1/models/fraud/predictions", &Value::Array(more))
        .await;
    let (_, fraud) = s.get("/v1/models/fraud").await;
    assert_eq!(fraud["reference"]["samples"], 50);
    assert_eq!(fraud["reference"]["ready"], true);
    m
}

#[tokio::test]
async fn a_format_2_snapshot_loads_with_everything_it_held() {
    let (s, dir) = start_on("v2.bin").await;
    assert_fixture_state(&s).await;
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_format_1_snapshot_is_migrated_with_everything_it_held() {
    let (s, dir) = start_on("v1.bin").await;
    let m1 = assert_fixture_state(&s).await;
    s.stop().await;
    // The shutdown rewrote it in the current format, which loads again.
    let bytes = std::fs::read(dir.join("state.bin")).unwrap();
    assert_eq!(bytes[8] as u32, modelwatch::internals::snapshot::VERSION);
    std::fs::remove_dir_all(&dir).ok();

    // Both formats restore the same model metrics.
    let (s, dir) = start_on("v2.bin").await;
    let m2 = s.scrape().await;
    for name in [
        "modelwatch_accuracy",
        "modelwatch_roc_auc",
        "modelwatch_mae",
    ] {
        for (labels, v) in &m1.samples[name] {
            let other = m2.samples[name]
                .iter()
                .find(|(l, _)| l == labels)
                .unwrap()
                .1;
            assert!(
                v.to_bits() == other.to_bits(),
                "{name}{labels:?}: {v} != {other}"
            );
        }
    }
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
