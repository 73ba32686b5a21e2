//! Authentication, limits and load shedding against a real server.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "ingest-token-0123456789";
const READ: &str = "read-token-0123456789ab";

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

#[tokio::test]
async fn bearer_tokens_guard_writes_and_reads() {
    let s = TestServer::start(&config(&format!(
        "[server.auth]\ningest_tokens = [\"{TOKEN}\", \"second-token-0123456789\"]\nread_token = \"{READ}\""
    )))
    .await;
    let url = format!("{}/v1/models/m/predictions", s.base);
    let body = json!({"prediction": 1.5});
    let r = s.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"modelwatch\""
    );
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "unauthorized");
    let r = s
        .client
        .post(&url)
        .bearer_auth("wrong-token-0123456789")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The read token does not allow writes.
    let r = s
        .client
        .post(&url)
        .bearer_auth(READ)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    for token in [TOKEN, "second-token-0123456789"] {
        let r = s
            .client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // Reads need the read token; health checks need nothing.
    let metrics = format!("{}/metrics", s.base);
    assert_eq!(
        s.client
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        s.client
            .get(&metrics)
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let status = format!("{}/v1/models/m", s.base);
    assert_eq!(
        s.client
            .get(&status)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        s.client
            .get(&status)
            .bearer_auth(READ)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.get("/readyz").await.0, 200);
    s.stop().await;
}

#[tokio::test]
async fn request_limits_are_configurable() {
    let s = TestServer::start(&config("max_events_per_request = 3\nmax_id_bytes = 4")).await;
    let (status, body) = s
        .post_json(
            "/v1/models/m/predictions",
            &json!([{"prediction": 1}, {"prediction": 2}, {"prediction": 3}, {"prediction": 4}]),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_many_events"))
    );
    let (status, body) = s
        .post_json(
            "/v1/models/m/predictions",
            &json!({"prediction": 1, "id": "abcde"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_id"))
    );
    s.stop().await;
}

/// Opens a request whose body never finishes.
async fn stalled_request(s: &TestServer) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[",
        )
        .await
        .unwrap();
    stream
}

/// Sends a batch of `n` events whose application takes a while, and holds the connection open.
async fn busy_request(s: &TestServer, n: usize) -> tokio::net::TcpStream {
    let events: Vec<String> = (0..n)
        .map(|i| format!("{{\"prediction\":{}.25}}", i % 89))
        .collect();
    let body = format!("[{}]", events.join(","));
    let mut stream = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    let head = format!(
        "POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn excess_requests_are_shed_with_retry_after_but_scrapes_are_not() {
    let s = TestServer::start(&config(
        "max_concurrency = 1\nmax_events_per_request = 2000000\nmax_body_bytes = 100000000",
    ))
    .await;
    // The only slot is taken by a big batch while it is applied.
    let held = busy_request(&s, 1_000_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s
        .client
        .post(format!("{}/v1/models/m/predictions", s.base))
        .json(&json!({"prediction": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "overloaded");
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(
        s.client
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    drop(held);
    s.stop().await;
}

/// A client sending its body slowly holds no slot among `max_concurrency`: others are not shed.
#[tokio::test]
async fn a_slow_body_holds_no_slot() {
    let s = TestServer::start(&config("max_concurrency = 1")).await;
    let held = stalled_request(&s).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = s
        .post_json("/v1/models/m/predictions", &json!({"prediction": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.client
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    drop(held);
    s.stop().await;
}

#[tokio::test]
async fn slow_requests_time_out() {
    let s = TestServer::start(&config("request_timeout = \"200ms\"")).await;
    let mut stream = stalled_request(&s).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
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
    assert!(read.is_ok(), "no answer to a stalled request");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"timeout\""), "{text}");
    s.stop().await;
}

/// Bodies still arriving hold no slot, but their bytes count against `max_concurrency ×
/// max_body_bytes`: memory stays bounded however many clients send slowly.
#[tokio::test]
async fn bodies_still_arriving_are_bounded_in_memory() {
    let s = TestServer::start(&config("max_concurrency = 1\nmax_body_bytes = 1024")).await;
    let mut held = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
    let mut part = b"[".to_vec();
    part.extend(std::iter::repeat_n(b' ', 1009));
    held.write_all(b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1024\r\n\r\n")
        .await
        .unwrap();
    held.write_all(&part).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = s
        .post_json("/v1/models/m/predictions", &json!({"prediction": 1}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("overloaded"))
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = s
        .post_json("/v1/models/m/predictions", &json!({"prediction": 1}))
        .await;
    assert_eq!(status, 200);
    s.stop().await;
}
