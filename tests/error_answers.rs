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

/// The predictions counter once it has stopped moving (three scrapes a second apart agree; a batch
/// counts when it is done).
async fn settled_total(s: &TestServer) -> f64 {
    let mut last = None;
    let mut same = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = s.client.get(format!("{}/metrics", s.base)).send().await;
        let Ok(r) = r else { continue };
        if r.status() != 200 {
            continue; // Scrapes may time out while a batch is applied.
        }
        let text = r.text().await.unwrap();
        let now = common::Scrape::parse(&text)
            .value("modelwatch_predictions_total", &[("model", "m")])
            .unwrap_or(0.0);
        same = if last == Some(now) { same + 1 } else { 0 };
        if same == 2 {
            return now;
        }
        last = Some(now);
    }
    panic!("the predictions counter did not settle within 30 s");
}

/// Batches that take longer than `request_timeout` to apply are applied whole and answered with their
/// counts, never 408 after the fact. (Two worker threads, so the body arrives quickly while the
/// batch takes longer than the timeout to apply.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_applied_past_the_request_timeout_is_answered_with_its_counts() {
    let s = TestServer::start(&config(
        "request_timeout = \"100ms\"\nmax_events_per_request = 100000",
    ))
    .await;
    let batch: String = {
        let events: Vec<String> = (0..50_000)
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
    }
    // Whatever the answers, the counter says exactly what the 2xx answers reported, also once any
    // work that outlived its answer has finished.
    assert_eq!(settled_total(&s).await, expected, "answers {statuses:?}");
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(expected, 150_000.0);
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
