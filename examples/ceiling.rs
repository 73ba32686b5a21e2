//! The two ceilings the HTTP load test compares modelwatch with, on the same machine and the same
//! load generator:
//!
//! - `POST /sink`: the cheapest possible axum handler, which reads the body and answers 200. No HTTP
//!   service on this stack can be faster, so it bounds single-event throughput.
//! - `POST /parse`: reads the body and deserialises every NDJSON line with serde_json into a borrowed
//!   typed struct (no validation, no state), then answers 200. It bounds what any validating ingest can
//!   reach for batches.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:8095`

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

/// A feature value as sent: a number or a string (borrowed from the body).
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Value<'a> {
    Number(f64),
    #[serde(borrow)]
    Text(&'a str),
    Null,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Event<'a> {
    #[serde(borrow)]
    id: Option<&'a str>,
    #[serde(borrow)]
    features: HashMap<&'a str, Value<'a>>,
    score: Option<f64>,
    label: Option<u8>,
    latency_ms: Option<f64>,
}

async fn sink(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    StatusCode::OK
}

async fn parse(body: Bytes) -> (StatusCode, String) {
    let mut events = 0usize;
    for line in body.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Event<'_>>(line) {
            Ok(e) => {
                std::hint::black_box(&e);
                events += 1;
            }
            Err(_) => return (StatusCode::BAD_REQUEST, "bad line".to_string()),
        }
    }
    (StatusCode::OK, format!("{{\"parsed\":{events}}}"))
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8095".to_string());
    let app = Router::new()
        .route("/sink", post(sink))
        .route("/parse", post(parse))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("ceiling server on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
