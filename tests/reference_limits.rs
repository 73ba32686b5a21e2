//! Reference uploads obey the limits events obey, and a rejected upload leaves no trace in the model.

mod common;

use common::TestServer;
use serde_json::Value;

const CONFIG: &str = r#"
[[model]]
name = "m"
task = "binary_classification"
max_categories = 5
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
"#;

async fn put_reference(s: &TestServer, content_type: &str, body: String) -> (u16, Value) {
    let resp = s
        .client
        .put(format!("{}/v1/models/m/reference", s.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_reference_cell_longer_than_max_string_bytes_is_refused() {
    let s = TestServer::start(CONFIG).await;
    let long = "x".repeat(300 * 1024);
    let csv = format!("amount,country,score\n1,DE,0.5\n2,{long},0.5\n");
    let (status, body) = put_reference(&s, "text/csv", csv).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_reference");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("\"country\""),
        "{message}"
    );
    assert!(message.len() < 300, "the cell is not echoed: {message}");

    let jsonl = format!(
        "{{\"score\": 0.5, \"features\": {{\"amount\": 1, \"country\": \"DE\"}}}}\n\
         {{\"score\": 0.5, \"features\": {{\"amount\": 1, \"country\": \"{long}\"}}}}\n"
    );
    let (status, body) = put_reference(&s, "application/x-ndjson", jsonl).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 2") && message.contains("\"country\""),
        "{message}"
    );
    let (_, status_doc) = s.get("/v1/models/m").await;
    assert!(status_doc["reference"].is_null(), "{status_doc}");
    s.stop().await;
}

#[tokio::test]
async fn a_rejected_reference_leaves_no_categories_behind() {
    let s = TestServer::start(CONFIG).await;
    // Five new categories, then a bad number on the last line: the upload is refused.
    let mut csv = String::from("amount,country,score\n");
    for i in 0..5 {
        csv.push_str(&format!("{i},junk{i},0.5\n"));
    }
    csv.push_str("abc,junk5,0.5\n");
    let (status, body) = put_reference(&s, "text/csv", csv).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 7"),
        "{body}"
    );
    // The model's five category slots are still free for a good reference.
    let mut csv = String::from("amount,country,score\n");
    for i in 0..100 {
        csv.push_str(&format!("{i},c{},0.5\n", i % 5));
    }
    let (status, body) = put_reference(&s, "text/csv", csv).await;
    assert_eq!(status, 200, "{body}");
    let m = s.scrape().await;
    let categories: Vec<&str> = m
        .samples
        .get("modelwatch_category_ratio")
        .map(|v| {
            v.iter()
                .filter_map(|(l, _)| l.get("category").map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    for c in ["c0", "c1", "c2", "c3", "c4"] {
        assert!(categories.contains(&c), "{c} missing from {categories:?}");
    }
    assert!(
        !categories.iter().any(|c| c.starts_with("junk")),
        "{categories:?}"
    );
    s.stop().await;
}

#[test]
fn a_file_reference_obeys_max_string_bytes() {
    let dir = std::env::temp_dir().join(format!("mw-ref-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("reference.csv");
    std::fs::write(
        &file,
        format!("amount,country\n1,DE\n2,{}\n", "y".repeat(2000)),
    )
    .unwrap();
    let config = format!(
        "{CONFIG}[model.reference]\npath = {:?}\n",
        file.display().to_string()
    );
    let config = modelwatch::config::Config::parse(&config).unwrap();
    let e = modelwatch::state::AppState::new(config, modelwatch::clock::Clock::new())
        .err()
        .expect("the long cell is refused")
        .to_string();
    assert!(
        e.contains("line 3") && e.contains("\"country\"") && e.contains("max_string_bytes"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
