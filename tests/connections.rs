//! Connections against a real server: slow and idle clients are closed in time, a full server makes
//! room for new clients, and shutdown is bounded whatever clients do.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// Reads until the server closes the connection (or it errors); `None` if it is still open after
/// `limit`. Returns what was read and when the connection ended.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut seen = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return (seen, start.elapsed()),
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
}

/// Reads one whole response (headers and a Content-Length body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed before a whole response");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn headers_sent_too_slowly_close_the_connection() {
    let s = TestServer::start(&config("header_read_timeout = \"500ms\"")).await;
    let mut stream = TcpStream::connect(s.server.addr).await.unwrap();
    let trickle = async {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), trickle)
        .await
        .unwrap();
    let ended = closed_within(&mut stream, Duration::from_secs(1)).await;
    let (answer, _) = ended.expect("a connection trickling headers for 2 s is still open");
    // No answer was given to a request that never finished its headers.
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    s.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_close_after_idle_timeout_not_header_read_timeout() {
    let s = TestServer::start(&config(
        "header_read_timeout = \"200ms\"\nidle_timeout = \"1s\"",
    ))
    .await;
    let mut stream = TcpStream::connect(s.server.addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than header_read_timeout but less than idle_timeout: still usable.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Then idle past idle_timeout: closed.
    let (rest, after) = closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("an idle connection is still open 3 s after idle_timeout = 1s");
    assert!(rest.is_empty());
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408_within_body_read_timeout() {
    let s = TestServer::start(&config(
        "body_read_timeout = \"300ms\"\nrequest_timeout = \"30s\"",
    ))
    .await;
    let mut stream = TcpStream::connect(s.server.addr).await.unwrap();
    stream
        .write_all(b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[")
        .await
        .unwrap();
    let start = Instant::now();
    let (answer, _) = closed_within(&mut stream, Duration::from_secs(3))
        .await
        .expect("no answer 3 s after body_read_timeout = 300ms");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    s.stop().await;
}

/// At `max_connections`, a new client evicts the connection that has waited longest for a request.
#[tokio::test]
async fn a_full_server_makes_room_for_a_new_client() {
    let s = TestServer::start(&config("max_connections = 4")).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(s.server.addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        idle.push(c);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let (status, _) = tokio::time::timeout(
        Duration::from_secs(2),
        s.post_json("/v1/models/m/predictions", &json!({"prediction": 1})),
    )
    .await
    .expect("a new client waited 2 s at max_connections");
    assert_eq!(status, 200);
    assert!(start.elapsed() < Duration::from_secs(1));
    // The oldest waiting connection made room.
    let oldest = closed_within(&mut idle[0], Duration::from_secs(1)).await;
    assert!(
        oldest.is_some(),
        "the oldest waiting connection is still open"
    );
    s.stop().await;
}

/// Shutdown waits for requests in flight at most `shutdown_grace`, whatever the clients do.
#[tokio::test]
async fn shutdown_is_bounded_by_shutdown_grace() {
    let s = TestServer::start(&config(
        "shutdown_grace = \"500ms\"\nbody_read_timeout = \"60s\"\nrequest_timeout = \"60s\"\nheader_read_timeout = \"60s\"\nidle_timeout = \"60s\"",
    ))
    .await;
    // One client trickles headers, one holds a request whose body never ends, one is idle.
    let mut trickling = TcpStream::connect(s.server.addr).await.unwrap();
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut busy = TcpStream::connect(s.server.addr).await.unwrap();
    busy.write_all(b"POST /v1/models/m/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(s.server.addr).await.unwrap();
    idle.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = s.server.addr;
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), s.stop())
        .await
        .expect("shutdown took more than 5 s with shutdown_grace = 500ms");
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    // Every connection was closed, and no new one is accepted.
    for c in [&mut trickling, &mut busy, &mut idle] {
        assert!(closed_within(c, Duration::from_secs(1)).await.is_some());
    }
    assert!(TcpStream::connect(addr).await.is_err());
}

/// Shutdown fails (and so the process exits non-zero) when the final snapshot cannot be written.
#[tokio::test]
async fn shutdown_fails_when_the_final_snapshot_is_not_written() {
    let dir = std::env::temp_dir().join(format!("mw-conn-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = TestServer::start(&config(&format!(
        "[server.state]\npath = \"{}\"",
        dir.join("state.bin").display()
    )))
    .await;
    let (status, _) = s
        .post_json("/v1/models/m/predictions", &json!({"prediction": 1}))
        .await;
    assert_eq!(status, 200);
    // The state directory is replaced by a file: nothing can be written there.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let stopped = s.server.stop().await;
    std::fs::remove_file(&dir).unwrap();
    assert!(stopped.is_err());
}

/// With a writable state path, the same shutdown succeeds and leaves the snapshot.
#[tokio::test]
async fn shutdown_succeeds_when_the_final_snapshot_is_written() {
    let dir = std::env::temp_dir().join(format!("mw-conn-snapshot-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    let s = TestServer::start(&config(&format!(
        "[server.state]\npath = \"{}\"",
        path.display()
    )))
    .await;
    s.server.stop().await.expect("final snapshot written");
    assert!(path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
