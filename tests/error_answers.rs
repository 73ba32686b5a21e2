//! An answer that is not 2xx means nothing was applied: the request timeout covers reading the body,
//! and a request whose events are being applied completes and reports its counts.

mod common;

use std::time::Duration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(extra: &str) -> String {
    format!(
        r#"
[server]
{extra}

[[model]]
name = "m"
task = "regression"
"#
    )
}

async fn predictions_total(s: &TestServer) -> f64 {
    s.scrape()
        .await
        .value("modelwatch_predictions_total", &[("model", "m")])
        .unwrap_or(0.0)
}

/// Batches that take longer than `request_timeout` to apply are applied whole and answered with their
/// counts, never 408 after the fact.
#[tokio::test]
async fn a_batch_applied_past_the_request_timeout_is_answered_with_its_counts() {
    let s = TestServer::start(&config(
        "request_timeout = \"100ms\"\nmax_events_per_request = 100000",
    ))
    .await;
    let batch: String = {
        let events: Vec<String> = (0..100_000)
            .map(|i| format!("{{\"prediction\":{}.5}}", i % 97))
            .collect();
        format!("[{}]", events.join(","))
    };
    let mut expected = 0.0;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, body) = s
            .post(
                "/v1/models/m/predictions",
                Some("application/json"),
                batch.clone(),
            )
            .await;
        statuses.push(status);
        if (200..300).contains(&status) {
            expected += body["accepted"].as_f64().expect("accepted count");
        }
        // Whatever the answer, the counter says exactly what the 2xx answers reported.
        assert_eq!(
            predictions_total(&s).await,
            expected,
            "answers {statuses:?}"
        );
    }
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(expected, 300_000.0);
    s.stop().await;
}

/// A body that does not arrive within the timeout is answered 408 and none of it is applied.
#[tokio::test]
async fn a_body_cut_off_by_the_timeout_applies_nothing() {
    let s = TestServer::start(&config("request_timeout = \"200ms\"")).await;
    let mut stream = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    let first = b"[{\"prediction\":1},{\"prediction\":2},";
    let head = format!(
        "POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        first.len() + 17
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The rest of the body arrives too late: it is not applied either.
    let _ = stream.write_all(b"{\"prediction\":3}]").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(predictions_total(&s).await, 0.0);
    s.stop().await;
}
