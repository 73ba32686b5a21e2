//! Reading and validating the `[server]` section: listen address, limits, timeouts, auth and state.

use std::net::SocketAddr;
use std::time::Duration;

use super::reader::TableReader;
use super::{AuthConfig, Limits, ServerConfig, StateConfig, defaults};

/// The largest `max_clock_skew`: a day ahead is already far beyond any clock error.
const MAX_CLOCK_SKEW_LIMIT_SECS: u64 = 24 * 3600;

pub(super) fn read_server(t: &mut TableReader<'_, '_, '_>) -> ServerConfig {
    let listen = match t.string("listen") {
        Some(l) => match l.value.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                t.sink().push(
                    Some(&l.span),
                    l.key,
                    format!(
                        "invalid listen address {:?}; expected IP:PORT such as 127.0.0.1:8090",
                        l.value
                    ),
                );
                defaults::LISTEN.parse().expect("valid default")
            }
        },
        None => defaults::LISTEN.parse().expect("valid default"),
    };
    let d = ServerConfig::default();
    let max_body_bytes = t
        .integer_in("max_body_bytes", 1024, 1 << 32)
        .map_or(d.max_body_bytes, |v| v.value as usize);
    let dl = Limits::default();
    let limits = Limits {
        max_events_per_request: t
            .integer_in("max_events_per_request", 1, 10_000_000)
            .map_or(dl.max_events_per_request, |v| v.value as usize),
        max_features_per_event: t
            .integer_in("max_features_per_event", 1, 100_000)
            .map_or(dl.max_features_per_event, |v| v.value as usize),
        max_string_bytes: t
            .integer_in("max_string_bytes", 1, 1 << 20)
            .map_or(dl.max_string_bytes, |v| v.value as usize),
        max_id_bytes: t
            .integer_in("max_id_bytes", 1, 1 << 16)
            .map_or(dl.max_id_bytes, |v| v.value as usize),
    };
    let request_timeout = t
        .duration("request_timeout")
        .map_or(d.request_timeout, |v| v.value);
    let max_concurrency = t
        .integer_in("max_concurrency", 1, 1_000_000)
        .map_or(d.max_concurrency, |v| v.value as usize);
    let max_clock_skew = t
        .duration_at_most(
            "max_clock_skew",
            Duration::from_secs(MAX_CLOCK_SKEW_LIMIT_SECS),
        )
        .map_or(d.max_clock_skew, |v| v.value);
    let auth = match t.table("auth") {
        Some(mut a) => {
            let ingest_tokens: Vec<String> = a
                .string_array("ingest_tokens")
                .unwrap_or_default()
                .into_iter()
                .filter_map(|tok| {
                    if tok.value.len() < 16 {
                        a.sink().push(
                            Some(&tok.span),
                            tok.key,
                            "tokens must be at least 16 characters",
                        );
                        None
                    } else {
                        Some(tok.value)
                    }
                })
                .collect();
            let read_token = a.string("read_token").and_then(|tok| {
                if tok.value.len() < 16 {
                    a.sink().push(
                        Some(&tok.span),
                        tok.key,
                        "tokens must be at least 16 characters",
                    );
                    None
                } else {
                    Some(tok.value)
                }
            });
            a.finish();
            AuthConfig {
                ingest_tokens,
                read_token,
            }
        }
        None => AuthConfig::default(),
    };
    let state = t.table("state").and_then(|mut st| {
        let path = st.string("path");
        let interval = st
            .duration("snapshot_interval")
            .map_or(Duration::from_secs(defaults::SNAPSHOT_INTERVAL_SECS), |v| {
                v.value
            });
        if path.is_none() {
            st.error("path", "missing required key");
        }
        st.finish();
        path.map(|p| StateConfig {
            path: p.value.into(),
            snapshot_interval: interval,
        })
    });
    let header_read_timeout = t
        .duration("header_read_timeout")
        .map_or(d.header_read_timeout, |v| v.value);
    let idle_timeout = t
        .duration("idle_timeout")
        .map_or(d.idle_timeout, |v| v.value);
    let body_read_timeout = t
        .duration("body_read_timeout")
        .map_or(d.body_read_timeout, |v| v.value);
    let max_connections = t
        .integer_in("max_connections", 1, 1_000_000)
        .map_or(d.max_connections, |v| v.value as usize);
    let shutdown_grace = t
        .duration("shutdown_grace")
        .map_or(d.shutdown_grace, |v| v.value);
    ServerConfig {
        listen,
        max_body_bytes,
        limits,
        request_timeout,
        max_concurrency,
        max_clock_skew,
        auth,
        state,
        header_read_timeout,
        idle_timeout,
        body_read_timeout,
        max_connections,
        shutdown_grace,
    }
}
