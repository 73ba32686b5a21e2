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
