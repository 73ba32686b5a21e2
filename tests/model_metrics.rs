//! The scikit-learn fixtures replayed through the HTTP API: every case becomes a model, its samples are
//! posted as prediction events, and every value on `/metrics` (and in the JSON status) must match
//! scikit-learn to 1e-9 relative.

mod common;

use common::{Scrape, TestServer};
use serde_json::Value;

const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model_metrics.json"
));

fn expected(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        other => other.as_f64().expect("a number"),
    }
}

fn check(case: &str, what: &str, actual: f64, want: &Value) {
    let want = expected(want);
    if want.is_nan() {
        assert!(actual.is_nan(), "{case} {what}: expected NaN, got {actual}");
        return;
    }
    if want.is_infinite() {
        assert_eq!(actual, want, "{case} {what}");
        return;
    }
    let err = if want == 0.0 {
        actual.abs()
    } else {
        ((actual - want) / want).abs()
    };
    assert!(
        err <= 1e-9,
        "{case} {what}: expected {want:e}, got {actual:e} (rel err {err:e})"
    );
}

fn toml_for(case: &Value) -> String {
    let name = case["name"].as_str().unwrap();
    let mut t = format!(
        "[[model]]\nname = \"{name}\"\ntask = \"{}\"\n",
        case["task"].as_str().unwrap()
    );
    match case["task"].as_str().unwrap() {
        "binary_classification" => {
            t += &format!(
                "positive_class = \"{}\"\nnegative_class = \"{}\"\n",
                case["positive_class"].as_str().unwrap(),
                case["negative_class"].as_str().unwrap()
            );
        }
        "multiclass_classification" => {
            let classes: Vec<String> = case["classes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            t += &format!("classes = [{}]\n", classes.join(", "));
        }
        _ => {}
    }
    t += "[[model.window]]\nname = \"all\"\nevents = 50000\n";
    t
}

fn compare(m: &Scrape, case: &Value) {
    let name = case["name"].as_str().unwrap();
    let w = [("model", name), ("window", "all")];
    let e = &case["expected"];
    let n = case["samples"].as_array().unwrap().len();
    assert_eq!(m.get("modelwatch_window_samples", &w), n as f64, "{name}");
    match case["task"].as_str().unwrap() {
        "binary_classification" => {
            for (metric, key) in [
                ("modelwatch_accuracy", "accuracy"),
                ("modelwatch_precision", "precision"),
                ("modelwatch_recall", "recall"),
                ("modelwatch_f1_score", "f1_score"),
                ("modelwatch_roc_auc", "roc_auc"),
                ("modelwatch_log_loss", "log_loss"),
                ("modelwatch_positive_rate", "positive_rate"),
                ("modelwatch_label_positive_rate", "label_positive_rate"),
            ] {
                check(name, key, m.get(metric, &w), &e[key]);
            }
            let classes = [
                case["negative_class"].as_str().unwrap(),
                case["positive_class"].as_str().unwrap(),
            ];
            for (a, actual) in classes.iter().enumerate() {
                for (p, predicted) in classes.iter().enumerate() {
                    let v = m.get(
                        "modelwatch_confusion_matrix",
                        &[w[0], w[1], ("actual", actual), ("predicted", predicted)],
                    );
                    assert_eq!(
                        v,
                        e["confusion_matrix"][a][p].as_f64().unwrap(),
                        "{name} cm"
                    );
                }
            }
        }
        "multiclass_classification" => {
            check(
                name,
                "accuracy",
                m.get("modelwatch_accuracy", &w),
                &e["accuracy"],
            );
            let classes: Vec<String> = case["classes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                .collect();
            for (i, class) in classes.iter().enumerate() {
                let cl = [w[0], w[1], ("class", class.as_str())];
                check(
                    name,
                    "precision",
                    m.get("modelwatch_precision", &cl),
                    &e["precision_per_class"][i],
                );
                check(
                    name,
                    "recall",
                    m.get("modelwatch_recall", &cl),
                    &e["recall_per_class"][i],
                );
                check(
                    name,
                    "f1",
                    m.get("modelwatch_f1_score", &cl),
                    &e["f1_per_class"][i],
                );
                for (j, predicted) in classes.iter().enumerate() {
                    let v = m.get(
                        "modelwatch_confusion_matrix",
                        &[
                            w[0],
                            w[1],
                            ("actual", class.as_str()),
                            ("predicted", predicted.as_str()),
                        ],
                    );
                    assert_eq!(
                        v,
                        e["confusion_matrix"][i][j].as_f64().unwrap(),
                        "{name} cm"
                    );
                }
            }
            for (metric, key) in [
                ("modelwatch_precision_macro", "precision_macro"),
                ("modelwatch_recall_macro", "recall_macro"),
                ("modelwatch_f1_score_macro", "f1_score_macro"),
                ("modelwatch_f1_score_weighted", "f1_score_weighted"),
                ("modelwatch_log_loss", "log_loss"),
            ] {
                check(name, key, m.get(metric, &w), &e[key]);
            }
        }
        "regression" => {
            for key in [
                "mae",
                "mse",
                "rmse",
                "r2",
                "mape",
                "mean_prediction",
                "mean_label",
            ] {
                check(name, key, m.get(&format!("modelwatch_{key}"), &w), &e[key]);
            }
        }
        other => panic!("unknown task {other}"),
    }
}

#[tokio::test]
async fn every_fixture_case_matches_scikit_learn_through_the_api() {
    let doc: Value = serde_json::from_str(FIXTURES).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let config: String = cases.iter().map(toml_for).collect::<Vec<_>>().join("\n");
    let s = TestServer::start(&config).await;
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let samples = case["samples"].as_array().unwrap();
        if samples.is_empty() {
            continue;
        }
        // Alternate the body forms; NDJSON for every third case.
        let (status, r) = if i % 3 == 0 {
            let body: String = samples.iter().map(|s| s.to_string() + "\n").collect();
            s.post(
                &format!("/v1/models/{name}/predictions"),
                Some("application/x-ndjson"),
                body,
            )
            .await
        } else {
            s.post_json(
                &format!("/v1/models/{name}/predictions"),
                &Value::Array(samples.clone()),
            )
            .await
        };
        assert_eq!(status, 200, "{name}: {r}");
        assert_eq!(r["rejected"], 0, "{name}: {r}");
    }
    let m = s.scrape().await;
    for case in cases {
        compare(&m, case);
    }
    s.stop().await;
}

#[tokio::test]
async fn delayed_labels_give_the_same_metrics_as_inline_ones() {
    let doc: Value = serde_json::from_str(FIXTURES).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "binary_random")
        .unwrap()
        .clone();
    let s = TestServer::start(&toml_for(&case)).await;
    let samples = case["samples"].as_array().unwrap();
    let mut predictions = Vec::new();
    let mut labels = Vec::new();
    for (i, sample) in samples.iter().enumerate() {
        let mut p = sample.clone();
        let label = p.as_object_mut().unwrap().remove("label").unwrap();
        p["id"] = Value::String(format!("s{i}"));
        predictions.push(p);
        labels.push(serde_json::json!({"id": format!("s{i}"), "label": label}));
    }
    s.post_json(
        "/v1/models/binary_random/predictions",
        &Value::Array(predictions),
    )
    .await;
    // Labels arrive in reverse order: the window order differs, the metrics must not.
    labels.reverse();
    let (_, r) = s
        .post_json("/v1/models/binary_random/labels", &Value::Array(labels))
        .await;
    assert_eq!(r["matched"], samples.len());
    compare(&s.scrape().await, &case);
    // The JSON status reports the same numbers (null for NaN).
    let (_, st) = s.get("/v1/models/binary_random").await;
    let metrics = &st["windows"][0]["metrics"];
    check(
        "binary_random",
        "status roc_auc",
        metrics["roc_auc"].as_f64().unwrap(),
        &case["expected"]["roc_auc"],
    );
    check(
        "binary_random",
        "status log_loss",
        metrics["log_loss"].as_f64().unwrap(),
        &case["expected"]["log_loss"],
    );
    s.stop().await;
}
