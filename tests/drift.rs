//! Drift detection end to end: references from a file, from warmup and moving; drift flipping from 0 to
//! 1 when shifted traffic arrives; bad references rejected with their row and column.

mod common;

use std::time::Duration;

use common::{Scrape, TestServer, assert_close};
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use modelwatch::internals::stats::ks::ks_2samp_sorted;
use serde_json::{Value, json};

/// Deterministic uniform numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn model_toml(reference: &str) -> String {
    format!(
        r#"
[[model]]
name = "m"
task = "binary_classification"
[model.reference]
{reference}
[model.drift]
interval = "100ms"
min_samples = 30
[[model.window]]
name = "last_200"
events = 200
[[model.feature]]
name = "x"
type = "numeric"
[[model.feature]]
name = "color"
type = "categorical"
"#
    )
}

/// `n` events with x ~ U(shift, shift + 1) and colors drawn from `colors`.
fn events(rng: &mut Lcg, n: usize, shift: f64, colors: &[&str]) -> Vec<Value> {
    (0..n)
        .map(|_| {
            let x = shift + rng.next();
            let color = colors[(rng.next() * colors.len() as f64) as usize];
            let score = rng.next();
            json!({"features": {"x": x, "color": color}, "score": score, "label": (score > 0.5) as u8})
        })
        .collect()
}

/// Waits until a drift evaluation newer than `after` has been published, and returns that scrape.
async fn scrape_after_evaluation(s: &TestServer, after: f64) -> Scrape {
    for _ in 0..100 {
        let m = s.scrape().await;
        if m.value(
            "modelwatch_drift_last_evaluation_timestamp_seconds",
            &[("model", "m")],
        )
        .is_some_and(|t| t > after)
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no drift evaluation within 5 s");
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn post(s: &TestServer, events: Vec<Value>) {
    let (status, r) = s
        .post_json("/v1/models/m/predictions", &Value::Array(events))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rejected"], 0, "{r}");
}

fn detected(m: &Scrape, feature: &str) -> f64 {
    m.get(
        "modelwatch_drift_detected",
        &[("model", "m"), ("window", "last_200"), ("feature", feature)],
    )
}

#[tokio::test]
async fn warmup_reference_then_drift_flips_from_0_to_1() {
    let s = TestServer::start(&model_toml("warmup = 300")).await;
    let mut rng = Lcg(1);
    post(&s, events(&mut rng, 300, 0.0, &["red", "green", "blue"])).await;
    post(&s, events(&mut rng, 200, 0.0, &["red", "green", "blue"])).await;
    let m = scrape_after_evaluation(&s, now_secs()).await;
    assert_eq!(
        m.get("modelwatch_reference_samples", &[("model", "m")]),
        300.0
    );
    assert_eq!(
        m.get(
            "modelwatch_reference_info",
            &[("model", "m"), ("source", "warmup"), ("sha256", "")]
        ),
        1.0
    );
    assert_eq!(detected(&m, "x"), 0.0);
    assert_eq!(detected(&m, "color"), 0.0);
    assert_eq!(
        m.get(
            "modelwatch_dataset_drift",
            &[("model", "m"), ("window", "last_200")]
        ),
        0.0
    );

    // Shifted traffic: x moves by half its range, and a new color appears.
    post(&s, events(&mut rng, 200, 0.5, &["red", "purple"])).await;
    let m = scrape_after_evaluation(&s, now_secs()).await;
    assert_eq!(detected(&m, "x"), 1.0);
    assert_eq!(detected(&m, "color"), 1.0);
    let w = [("model", "m"), ("window", "last_200")];
    assert_eq!(m.get("modelwatch_drift_share", &w), 1.0);
    assert_eq!(m.get("modelwatch_dataset_drift", &w), 1.0);
    let col = [w[0], w[1], ("feature", "color")];
    let new_ratio = m.get("modelwatch_new_category_ratio", &col);
    assert!(new_ratio > 0.3 && new_ratio < 0.7, "{new_ratio}");
    assert!(
        m.get(
            "modelwatch_drift_p_value",
            &[col[0], col[1], col[2], ("test", "chi2")]
        ) < 1e-6
    );
    assert_eq!(
        m.get(
            "modelwatch_category_ratio",
            &[col[0], col[1], col[2], ("category", "__other__")]
        ),
        new_ratio
    );
    // Every numeric statistic is exported for x.
    for test in [
        "ks",
        "wasserstein",
        "wasserstein_normed",
        "psi",
        "jensen_shannon",
    ] {
        let v = m.get(
            "modelwatch_drift_statistic",
            &[w[0], w[1], ("feature", "x"), ("test", test)],
        );
        assert!(v > 0.0, "{test} = {v}");
    }
    let oor = m.get(
        "modelwatch_out_of_range_ratio",
        &[w[0], w[1], ("feature", "x")],
    );
    assert!(oor > 0.3 && oor < 0.7, "{oor}");
    // The prediction column is the score here, and it did not drift.
    assert_eq!(detected(&m, "prediction"), 0.0);
    s.stop().await;
}

#[tokio::test]
async fn file_reference_values_match_the_statistics_core() {
    let dir = std::env::temp_dir().join(format!("mw-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Lcg(2);
    let mut csv = String::from("x,color,score,label\n");
    let mut reference_x = Vec::new();
    for _ in 0..500 {
        let x = rng.next();
        reference_x.push(x);
        csv.push_str(&format!(
            "{x},{},{},{}\n",
            ["red", "blue"][(rng.next() * 2.0) as usize],
            rng.next(),
            1
        ));
    }
    std::fs::write(dir.join("ref.csv"), &csv).unwrap();
    let config_path = dir.join("modelwatch.toml");
    // The path is relative to the config file.
    std::fs::write(&config_path, model_toml("path = \"ref.csv\"")).unwrap();
    let config = Config::load(&config_path).unwrap();
    let s = TestServer::start_with(config, Clock::new()).await;

    let current = events(&mut rng, 200, 0.2, &["red", "blue"]);
    let mut current_x: Vec<f64> = current
        .iter()
        .map(|e| e["features"]["x"].as_f64().unwrap())
        .collect();
    post(&s, current).await;
    let m = scrape_after_evaluation(&s, now_secs()).await;
    assert_eq!(
        m.get("modelwatch_reference_samples", &[("model", "m")]),
        500.0
    );
    let sha = modelwatch::internals::drift::reference::sha256_hex(csv.as_bytes());
    assert_eq!(
        m.get(
            "modelwatch_reference_info",
            &[("model", "m"), ("source", "file"), ("sha256", &sha)]
        ),
        1.0
    );
    reference_x.sort_by(f64::total_cmp);
    current_x.sort_by(f64::total_cmp);
    let ks = ks_2samp_sorted(&reference_x, &current_x);
    let x = [("model", "m"), ("window", "last_200"), ("feature", "x")];
    assert_close(
        m.get(
            "modelwatch_drift_statistic",
            &[x[0], x[1], x[2], ("test", "ks")],
        ),
        ks.statistic,
        1e-15,
        "ks statistic",
    );
    assert_close(
        m.get(
            "modelwatch_drift_p_value",
            &[x[0], x[1], x[2], ("test", "ks")],
        ),
        ks.p_value,
        1e-15,
        "ks p-value",
    );
    // Without correction the adjusted p-value is the raw one.
    assert_eq!(
        m.get(
            "modelwatch_drift_p_value_adjusted",
            &[x[0], x[1], x[2], ("test", "ks")]
        ),
        ks.p_value
    );
    // The JSON status carries the same report.
    let (_, st) = s.get("/v1/models/m").await;
    let col = &st["drift"]["windows"][0]["columns"][0];
    assert_eq!(col["name"], "x");
    assert_eq!(col["statistics"]["ks"].as_f64().unwrap(), ks.statistic);
    assert_eq!(st["reference"]["source"], "file");
    assert_eq!(st["reference"]["samples"], 500);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn moving_reference_compares_with_the_window_before() {
    let s = TestServer::start(&model_toml("moving = true")).await;
    let mut rng = Lcg(3);
    post(&s, events(&mut rng, 200, 0.0, &["red"])).await;
    post(&s, events(&mut rng, 200, 0.0, &["red"])).await;
    let m = scrape_after_evaluation(&s, now_secs()).await;
    assert_eq!(
        m.get("modelwatch_reference_samples", &[("model", "m")]),
        200.0
    );
    assert_eq!(detected(&m, "x"), 0.0);
    post(&s, events(&mut rng, 200, 3.0, &["red"])).await;
    let m = scrape_after_evaluation(&s, now_secs()).await;
    assert_eq!(detected(&m, "x"), 1.0);
    assert_eq!(
        m.get(
            "modelwatch_drift_statistic",
            &[
                ("model", "m"),
                ("window", "last_200"),
                ("feature", "x"),
                ("test", "ks")
            ]
        ),
        1.0
    );
    // A moving reference cannot be replaced by an upload.
    let (status, body) = s
        .post(
            "/v1/models/m/reference",
            Some("text/csv"),
            "x,color\n1,red\n",
        )
        .await;
    assert_eq!(status, 405, "{body}");
    let r = s
        .client
        .put(format!("{}/v1/models/m/reference", s.base))
        .header("content-type", "text/csv")
        .body("x,color\n1,red\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    s.stop().await;
}

async fn put_reference(s: &TestServer, ct: &str, body: &str) -> (u16, Value) {
    let r = s
        .client
        .put(format!("{}/v1/models/m/reference", s.base))
        .header("content-type", ct)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn uploaded_references_replace_and_bad_ones_name_row_and_column() {
    let s = TestServer::start(&model_toml("warmup = 1000")).await;
    let (status, body) =
        put_reference(&s, "text/csv", "x,color\n1.5,red\n2,blue\noops,red\n").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_reference");
    assert_eq!(
        body["error"]["message"],
        "line 4, column \"x\": invalid number \"oops\""
    );
    let (status, body) = put_reference(&s, "text/csv", "color\nred\n").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column \"x\": missing column")
    );
    let (status, body) = put_reference(&s, "application/json", "{}").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    let csv: String = std::iter::once("x,color,score\n".to_string())
        .chain((0..100).map(|i| format!("{},red,0.5\n", i as f64 / 100.0)))
        .collect();
    let (status, body) = put_reference(&s, "text/csv; charset=utf-8", &csv).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], 100);
    assert_eq!(body["source"], "api");
    let sha = body["sha256"].as_str().unwrap().to_string();
    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_reference_samples", &[("model", "m")]),
        100.0
    );
    assert_eq!(
        m.get(
            "modelwatch_reference_info",
            &[("model", "m"), ("source", "api"), ("sha256", &sha)]
        ),
        1.0
    );
    // JSONL works too.
    let jsonl = (0..50)
        .map(|i| json!({"features": {"x": i, "color": "blue"}, "score": 0.2}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let (status, body) = put_reference(&s, "application/x-ndjson", &jsonl).await;
    assert_eq!((status, body["rows"].as_u64()), (200, Some(50)));
    s.stop().await;
}

#[tokio::test]
async fn a_bad_reference_file_stops_start_up_with_its_place() {
    let dir = std::env::temp_dir().join(format!("mw-badref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ref.csv"), "x,color\n1,red\n2,\nthree,blue\n").unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, model_toml("path = \"ref.csv\"")).unwrap();
    let config = Config::load(&path).unwrap();
    let err =
        modelwatch::server::Server::start(config, "127.0.0.1:0".parse().unwrap(), Clock::new())
            .await
            .err()
            .expect("start-up fails");
    let msg = err.to_string();
    assert!(
        msg.contains("ref.csv: line 4, column \"x\": invalid number \"three\""),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A model whose evaluator runs once at start and then not for an hour.
fn hourly_model() -> String {
    model_toml("warmup = 100000").replace("interval = \"100ms\"", "interval = \"1h\"")
}

async fn evaluated_at(s: &TestServer) -> f64 {
    let (_, st) = s.get("/v1/models/m").await;
    st["drift"]["evaluated_at"]
        .as_f64()
        .expect("a drift report")
}

/// Drift is computed by the evaluator (here once, at start) and by a reference upload, before its
/// answer; never by ingest, a scrape or a status read.
#[tokio::test]
async fn drift_is_evaluated_by_the_evaluator_and_a_reference_upload_only() {
    let s = TestServer::start(&hourly_model()).await;
    let mut started = None;
    for _ in 0..100 {
        let (_, st) = s.get("/v1/models/m").await;
        if let Some(t) = st["drift"]["evaluated_at"].as_f64() {
            started = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = started.expect("the evaluator runs at start");
    let mut rng = Lcg(5);
    post(&s, events(&mut rng, 200, 0.0, &["red", "blue"])).await;
    s.scrape().await;
    assert_eq!(evaluated_at(&s).await, started);

    let csv: String = std::iter::once("x,color\n".to_string())
        .chain((0..100).map(|i| format!("{},red\n", i as f64 / 100.0)))
        .collect();
    let before = now_secs();
    let (status, body) = put_reference(&s, "text/csv", &csv).await;
    assert_eq!(status, 200, "{body}");
    // The answer came after the evaluation against the new reference.
    let (_, st) = s.get("/v1/models/m").await;
    assert!(
        st["drift"]["evaluated_at"].as_f64().unwrap() >= before,
        "{st}"
    );
    let x = &st["drift"]["windows"][0]["columns"][0];
    assert_eq!(
        (&x["name"], &x["reference_values"]),
        (&json!("x"), &json!(100))
    );
    s.stop().await;
}

/// The `category` label values of `modelwatch_category_ratio` come from the reference, which an upload
/// (or, for warmup and moving references, past traffic) chooses: at most `TOP_CATEGORIES` (20) of its
/// most frequent categories and `__other__`, per model, window and column, and a new reference's
/// categories replace the old ones.
#[tokio::test]
async fn reference_categories_label_at_most_the_top_twenty_series() {
    assert_eq!(modelwatch::internals::drift::evaluate::TOP_CATEGORIES, 20);
    let s = TestServer::start(&hourly_model()).await;
    let mut rng = Lcg(9);
    post(&s, events(&mut rng, 200, 0.0, &["red", "blue"])).await;
    // 30 categories, `{prefix}{i}` appearing 40 - i times: the top 20 are i = 0..20.
    let reference = |prefix: &str| -> String {
        let mut csv = "x,color\n".to_string();
        for i in 0..30 {
            for _ in 0..40 - i {
                csv += &format!("0.5,{prefix}{i}\n");
            }
        }
        csv
    };
    let categories = |m: &Scrape| -> std::collections::BTreeSet<String> {
        m.samples["modelwatch_category_ratio"]
            .iter()
            .filter(|(l, _)| l["window"] == "last_200" && l["feature"] == "color")
            .map(|(l, _)| l["category"].clone())
            .collect()
    };
    for prefix in ["a", "b"] {
        let (status, body) = put_reference(&s, "text/csv", &reference(prefix)).await;
        assert_eq!(status, 200, "{body}");
        let expected: std::collections::BTreeSet<String> = (0..20)
            .map(|i| format!("{prefix}{i}"))
            .chain(["__other__".to_string()])
            .collect();
        assert_eq!(categories(&s.scrape().await), expected);
    }
    s.stop().await;
}
