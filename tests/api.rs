//! End-to-end tests of the event API against a real server on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::{TestServer, assert_close};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[server]
max_body_bytes = 4096

[[model]]
name = "fraud"
task = "binary_classification"
label_ttl = "1h"
max_pending = 4

[[model.window]]
name = "last_5"
events = 5
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
name = "animals"
task = "multiclass_classification"
classes = ["cat", "dog", "bird"]

[[model]]
name = "price"
task = "regression"
"#;

fn codes(report: &Value) -> Vec<(u64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn three_body_forms_and_both_kinds_of_label() {
    let s = TestServer::start(CONFIG).await;
    let p = "/v1/models/fraud/predictions";
    // One object, inline label.
    let (status, r) = s
        .post_json(p, &json!({"id": "a", "score": 0.9, "label": 1, "features": {"amount": 3.5, "country": "DE"}}))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r, json!({"accepted": 1, "rejected": 0, "errors": []}));
    // A JSON array, labels to come.
    let (status, r) = s
        .post_json(
            p,
            &json!([{"id": "b", "score": 0.2}, {"id": "c", "prediction": 1}]),
        )
        .await;
    assert_eq!((status, r["accepted"].as_u64()), (200, Some(2)));
    // NDJSON with a blank line, labels to come.
    let body = "{\"id\": \"d\", \"score\": 0.7}\n\n{\"id\": 5, \"score\": 0.1}\n";
    let (status, r) = s.post(p, Some("application/x-ndjson"), body).await;
    assert_eq!((status, r["accepted"].as_u64()), (200, Some(2)), "{r}");

    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "fraud")]),
        5.0
    );
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "fraud")]),
        4.0
    );
    assert_eq!(
        m.get(
            "modelwatch_window_samples",
            &[("model", "fraud"), ("window", "last_5")]
        ),
        1.0
    );
    assert_eq!(
        m.get(
            "modelwatch_prediction_window_samples",
            &[("model", "fraud"), ("window", "1h")]
        ),
        5.0
    );

    // Delayed labels, in all three forms; the integer id 5 joins the string "5".
    let l = "/v1/models/fraud/labels";
    let (status, r) = s.post_json(l, &json!({"id": "b", "label": 0})).await;
    assert_eq!(status, 200);
    assert_eq!(r["matched"], 1);
    let (_, r) = s
        .post_json(
            l,
            &json!([{"id": "c", "label": 0}, {"id": "nobody", "label": 1}]),
        )
        .await;
    assert_eq!(
        (r["matched"].as_u64(), r["unmatched"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["unmatched_ids"], json!([{"index": 1, "id": "nobody"}]));
    let (_, r) = s
        .post(
            l,
            Some("application/x-ndjson"),
            "{\"id\": \"d\", \"label\": 1}\n{\"id\": \"5\", \"label\": 0}\n",
        )
        .await;
    assert_eq!(r["matched"], 2, "{r}");
    // A second label for the same id is unmatched, not an error.
    let (status, r) = s.post_json(l, &json!({"id": "d", "label": 1})).await;
    assert_eq!((status, r["unmatched"].as_u64()), (200, Some(1)));

    let m = s.scrape().await;
    let w = [("model", "fraud"), ("window", "last_5")];
    assert_eq!(m.get("modelwatch_window_samples", &w), 5.0);
    assert_eq!(m.get("modelwatch_labels_total", &[("model", "fraud")]), 5.0);
    assert_eq!(
        m.get("modelwatch_labels_unmatched_total", &[("model", "fraud")]),
        2.0
    );
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "fraud")]),
        0.0
    );
    // Samples: a(0.9,+,pred+) b(0.2,-,pred-) c(no score,-,pred+) d(0.7,+,pred+) 5(0.1,-,pred-).
    assert_eq!(m.get("modelwatch_accuracy", &w), 0.8);
    assert_eq!(m.get("modelwatch_precision", &w), 2.0 / 3.0);
    assert_eq!(m.get("modelwatch_recall", &w), 1.0);
    assert_eq!(m.get("modelwatch_roc_auc", &w), 1.0);
    assert_eq!(m.get("modelwatch_positive_rate", &w), 0.6);
    assert_eq!(m.get("modelwatch_label_positive_rate", &w), 0.4);
    let cell = |a: &str, p: &str| {
        m.get(
            "modelwatch_confusion_matrix",
            &[
                ("model", "fraud"),
                ("window", "last_5"),
                ("actual", a),
                ("predicted", p),
            ],
        )
    };
    assert_eq!(
        (
            cell("0", "0"),
            cell("0", "1"),
            cell("1", "0"),
            cell("1", "1")
        ),
        (2.0, 1.0, 0.0, 2.0)
    );
    // log loss over the four scored samples.
    let expected = -((0.9f64).ln() + (0.8f64).ln() + (0.7f64).ln() + (0.9f64).ln()) / 4.0;
    assert_close(
        m.get("modelwatch_log_loss", &w),
        expected,
        1e-12,
        "log loss",
    );

    // The JSON status agrees.
    let (status, st) = s.get("/v1/models/fraud").await;
    assert_eq!(status, 200);
    let win = &st["windows"][0];
    assert_eq!(win["name"], "last_5");
    assert_eq!(win["samples"], 5);
    assert_eq!(win["metrics"]["accuracy"], 0.8);
    assert_eq!(
        win["metrics"]["confusion_matrix"]["counts"],
        json!([[2, 1], [0, 2]])
    );
    assert_eq!(st["counters"]["predictions_total"], 5);
    assert_eq!(st["pending_labels"], 0);
    s.stop().await;
}

#[tokio::test]
async fn whole_request_errors_have_status_and_code() {
    let s = TestServer::start(CONFIG).await;
    let p = "/v1/models/fraud/predictions";
    let check = |status: u16, body: &Value, want_status: u16, want_code: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"]["code"], want_code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    };
    let (st, b) = s
        .post(p, Some("application/json"), "[{\"score\": 0.1},")
        .await;
    check(st, &b, 400, "invalid_json");
    let (st, b) = s.post(p, Some("application/x-ndjson"), "nope\n{\n").await;
    check(st, &b, 400, "invalid_json");
    let (st, b) = s
        .post(
            "/v1/models/nope/predictions",
            Some("application/json"),
            "{}",
        )
        .await;
    check(st, &b, 404, "unknown_model");
    let (st, b) = s.post(p, Some("application/json"), vec![b' '; 5000]).await;
    check(st, &b, 413, "body_too_large");
    let (st, b) = s.post(p, Some("text/csv"), "a,b\n").await;
    check(st, &b, 415, "unsupported_media_type");
    let (st, b) = s.post(p, Some("application/json"), "{\"score\": 3}").await;
    check(st, &b, 422, "invalid_score");
    let (st, b) = s
        .post(
            "/v1/models/fraud/labels",
            Some("application/json"),
            "{\"label\": 1}",
        )
        .await;
    check(st, &b, 422, "missing_id");
    let (st, b) = s.get("/v2/nothing").await;
    check(st, &b, 404, "not_found");
    // Nothing above was accepted.
    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "fraud")]),
        0.0
    );
    assert_eq!(
        m.get(
            "modelwatch_rejected_events_total",
            &[("model", "fraud"), ("reason", "invalid_score")]
        ),
        1.0
    );
    s.stop().await;
}

#[tokio::test]
async fn every_per_event_code_and_the_good_events_beside_them() {
    let s = TestServer::start(CONFIG).await;
    let long = "x".repeat(300);
    let (st, r) = s
        .post_json(
            "/v1/models/fraud/predictions",
            &json!([
                {"id": "ok1", "score": 0.4},
                {"features": {"amount": 1}},
                {"score": -0.1},
                {"prediction": "yes"},
                {"score": 0.5, "timestamp": "2026-13-45"},
                {"id": "ok1", "score": 0.3},
                {"score": 0.5, "error": "no"},
                {"score": 0.5, "label": {"x": 1}},
                {"score": 0.5, "id": long},
                {"score": 0.5, "latency_ms": -3},
                {"score": 0.5, "features": {"country": "y".repeat(2000)}},
                {"id": "ok2", "prediction": 0, "features": {"amount": "12", "zip": 1}},
            ]),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        codes(&r),
        vec![
            (1, "missing_prediction".to_string()),
            (2, "invalid_score".to_string()),
            (3, "unknown_class".to_string()),
            (4, "invalid_timestamp".to_string()),
            (5, "duplicate_id".to_string()),
            (6, "invalid_type".to_string()),
            (7, "invalid_label".to_string()),
            (8, "invalid_id".to_string()),
            (9, "invalid_latency".to_string()),
            (10, "string_too_long".to_string()),
        ]
    );
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(10))
    );

    let (_, r) = s
        .post_json(
            "/v1/models/price/predictions",
            &json!([{"prediction": "high"}, {"prediction": 2.5, "label": "x"}]),
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![
            (0, "invalid_type".to_string()),
            (1, "invalid_label".to_string())
        ]
    );
    let (_, r) = s
        .post(
            "/v1/models/price/predictions",
            Some("application/x-ndjson"),
            "{\"prediction\": 1e999}\n",
        )
        .await;
    // A single NDJSON line is still a batch.
    assert_eq!(codes(&r), vec![(0, "invalid_prediction".to_string())]);
    let (_, r) = s
        .post_json(
            "/v1/models/animals/labels",
            &json!([{"id": "q", "label": "cow"}, {"id": "r"}]),
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![
            (0, "unknown_class".to_string()),
            (1, "invalid_label".to_string())
        ]
    );

    let m = s.scrape().await;
    let viol = |feature: &str, kind: &str| {
        m.get(
            "modelwatch_schema_violations_total",
            &[("model", "fraud"), ("feature", feature), ("kind", kind)],
        )
    };
    assert_eq!(viol("amount", "type_mismatch"), 1.0);
    assert_eq!(viol("__unknown__", "unknown_feature"), 1.0);
    assert_eq!(
        m.get(
            "modelwatch_rejected_events_total",
            &[("model", "fraud"), ("reason", "duplicate_id")]
        ),
        1.0
    );
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "fraud")]),
        2.0
    );
    s.stop().await;
}

#[tokio::test]
async fn pending_labels_are_capped_oldest_first() {
    let s = TestServer::start(CONFIG).await;
    let events: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("p{i}"), "score": 0.5}))
        .collect();
    s.post_json("/v1/models/fraud/predictions", &json!(events))
        .await;
    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "fraud")]),
        4.0
    );
    assert_eq!(
        m.get(
            "modelwatch_predictions_expired_total",
            &[("model", "fraud")]
        ),
        2.0
    );
    // The two oldest were evicted: their labels no longer match.
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!([{"id": "p0", "label": 1}, {"id": "p5", "label": 1}]),
        )
        .await;
    assert_eq!(
        (r["matched"].as_u64(), r["unmatched"].as_u64()),
        (Some(1), Some(1))
    );
    s.stop().await;
}

#[tokio::test]
async fn model_list_health_and_request_metrics() {
    let s = TestServer::start(CONFIG).await;
    let (st, list) = s.get("/v1/models").await;
    assert_eq!(st, 200);
    let names: Vec<&str> = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["fraud", "animals", "price"]);
    assert_eq!(
        list["models"][0]["windows"][1],
        json!({"name": "1h", "type": "time", "duration_seconds": 3600.0, "max_events": 1000000})
    );
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
    s.post_json("/v1/models/fraud/predictions", &json!({"score": 0.5}))
        .await;
    let m = s.scrape().await;
    let count = m.get(
        "modelwatch_http_request_duration_seconds_count",
        &[
            ("route", "/v1/models/{model}/predictions"),
            ("method", "POST"),
            ("status", "200"),
        ],
    );
    assert_eq!(count, 1.0);
    assert_eq!(
        m.types["modelwatch_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(
        m.get(
            "modelwatch_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(m.value("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    // Undefined metrics are NaN, not absent.
    assert!(
        m.get(
            "modelwatch_mae",
            &[("model", "price"), ("window", "last_1000")]
        )
        .is_nan()
    );
    s.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn time_window_samples_leave_as_time_passes_without_traffic() {
    let s = TestServer::start(CONFIG).await;
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/predictions",
            &json!([{"score": 0.9, "label": 1}, {"score": 0.1, "label": 0}, {"id": "late", "score": 0.8}]),
        )
        .await;
    assert_eq!(r["accepted"], 3);
    let m = s.scrape().await;
    let hour = [("model", "fraud"), ("window", "1h")];
    assert_eq!(m.get("modelwatch_window_samples", &hour), 2.0);
    assert_eq!(m.get("modelwatch_prediction_window_samples", &hour), 3.0);

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(30 * 60)).await;
    // Half an hour later, still inside the hour; a delayed label keeps the prediction's timestamp.
    s.post_json(
        "/v1/models/fraud/labels",
        &json!({"id": "late", "label": 1}),
    )
    .await;
    let m = s.scrape().await;
    assert_eq!(m.get("modelwatch_window_samples", &hour), 3.0);

    tokio::time::advance(Duration::from_secs(31 * 60)).await;
    let m = s.scrape().await;
    assert_eq!(m.get("modelwatch_window_samples", &hour), 0.0);
    assert_eq!(m.get("modelwatch_prediction_window_samples", &hour), 0.0);
    assert!(m.get("modelwatch_accuracy", &hour).is_nan());
    // The count window does not care about time.
    assert_eq!(
        m.get(
            "modelwatch_window_samples",
            &[("model", "fraud"), ("window", "last_5")]
        ),
        3.0
    );
    s.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn pending_predictions_expire_after_label_ttl() {
    let s = TestServer::start(CONFIG).await;
    s.post_json(
        "/v1/models/fraud/predictions",
        &json!({"id": "slow", "score": 0.3}),
    )
    .await;
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3601)).await;
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!({"id": "slow", "label": 0}),
        )
        .await;
    assert_eq!(r["unmatched"], 1);
    let m = s.scrape().await;
    assert_eq!(
        m.get(
            "modelwatch_predictions_expired_total",
            &[("model", "fraud")]
        ),
        1.0
    );
    assert_eq!(
        m.get("modelwatch_pending_labels", &[("model", "fraud")]),
        0.0
    );
    s.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_configured_models() {
    let s = TestServer::start(CONFIG).await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/models",
        "/v1/models/{model}",
        "/v1/models/{model}/predictions",
        "/v1/models/{model}/labels",
        "/v1/models/{model}/reference",
        "/metrics",
        "/healthz",
        "/readyz",
        "/-/reload",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    let post = &doc["paths"]["/v1/models/{model}/predictions"]["post"];
    let param = &post["parameters"][0];
    assert_eq!(param["name"], "model");
    assert_eq!(
        param["schema"]["enum"],
        json!(["fraud", "animals", "price"])
    );
    for code in ["200", "400", "404", "413", "415", "422", "503"] {
        assert!(
            post["responses"].get(code).is_some(),
            "status {code} is not documented"
        );
    }
    s.stop().await;
}

/// Sends a chunked POST (no Content-Length) over a raw connection; returns the status and JSON answer.
async fn post_chunked(addr: std::net::SocketAddr, path: &str, chunks: &[&[u8]]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in chunks {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8(answer).unwrap();
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn chunked_bodies_are_read_whole_and_limited() {
    let s = TestServer::start(CONFIG).await;
    let p = "/v1/models/fraud/predictions";
    // Three events cut across chunk boundaries in the middle of lines.
    let body = b"{\"score\": 0.1}\n{\"score\": 0.7}\n{\"score\": 0.9}\n";
    let (status, answer) = post_chunked(
        s.server.addr,
        p,
        &[&body[..5], &body[5..20], &body[20..21], &body[21..]],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 3);
    // Past `max_body_bytes` (4096) without a declared length: refused while reading.
    let spaces = vec![b' '; 1000];
    let chunks: Vec<&[u8]> = vec![&spaces; 5];
    let (status, answer) = post_chunked(s.server.addr, p, &chunks).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "body_too_large");
    s.stop().await;
}
