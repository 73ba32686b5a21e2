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

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mw-format-{name}-{}", std::process::id()));
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
