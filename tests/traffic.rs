//! The traffic tools against a real server: `modelwatch replay` posts recorded predictions and labels in
//! order, and `modelwatch demo` sends a model's worth of traffic with delayed labels.

mod common;

use std::time::Duration;

use common::TestServer;
use modelwatch::demo::{self, DemoOptions};
use modelwatch::replay::{self, ReplayOptions};

#[tokio::test]
async fn replay_posts_predictions_then_their_labels() {
    let s = TestServer::start("[[model]]\nname = \"m\"\ntask = \"binary_classification\"\n").await;
    let dir = std::env::temp_dir().join(format!("mw-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.jsonl");
    let mut lines = Vec::new();
    for i in 0..120 {
        lines.push(format!("{{\"id\": \"r{i}\", \"score\": 0.{:02}}}", i % 100));
    }
    for i in 0..100 {
        lines.push(format!("{{\"id\": \"r{i}\", \"label\": {}}}", i % 2));
    }
    lines.push("{\"score\": 2}".to_string());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let summary = replay::run(ReplayOptions {
        file,
        url: s.base.clone(),
        model: "m".into(),
        batch: 50,
        rate: None,
    })
    .await
    .unwrap();
    assert_eq!((summary.predictions, summary.labels), (121, 100));
    assert_eq!((summary.accepted, summary.rejected), (220, 1));
    let m = s.scrape().await;
    assert_eq!(m.get("modelwatch_labels_total", &[("model", "m")]), 100.0);
    assert_eq!(m.get("modelwatch_pending_labels", &[("model", "m")]), 20.0);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn demo_traffic_reaches_the_default_model() {
    let s = TestServer::start(modelwatch::config::DEFAULT_CONFIG).await;
    demo::run(DemoOptions {
        url: s.base.clone(),
        model: "demo".into(),
        rate: 400.0,
        drift_after: Duration::from_secs(1),
        seed: 1,
        duration: Some(Duration::from_millis(2500)),
    })
    .await;
    let m = s.scrape().await;
    let predictions = m.get("modelwatch_predictions_total", &[("model", "demo")]);
    assert!(predictions >= 500.0, "{predictions} predictions");
    assert!(m.get("modelwatch_labels_total", &[("model", "demo")]) > 0.0);
    assert_eq!(
        m.get(
            "modelwatch_rejected_events_total",
            &[("model", "demo"), ("reason", "invalid_type")]
        ),
        0.0
    );
    s.stop().await;
}
