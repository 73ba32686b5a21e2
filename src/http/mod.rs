//! The HTTP API: routes, body reading, and the translation of results and errors into responses.
//!
//! Handlers are thin: they extract the path, headers and body, call one `AppState` method, and wrap the
//! result. No statistics happen here.

mod error;
pub mod openapi;

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::error::Error;
use crate::model::{LabelReport, PredictionReport};
use crate::state::{AppState, ReloadSummary};

/// Bodies larger than this are parsed on the blocking pool, so a big batch never stalls the event loop.
const BLOCKING_BODY_BYTES: usize = 256 * 1024;

/// The API router with request metrics.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{model}", get(model_status))
        .route("/v1/models/{model}/predictions", post(post_predictions))
        .route("/v1/models/{model}/labels", post(post_labels))
        .route("/v1/models/{model}/reference", put(put_reference))
        .route("/metrics", get(metrics))
        .route("/-/reload", post(reload))
        .route("/openapi.json", get(openapi_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        // One layer does request metrics, the timeout, load shedding and authentication: four
        // `from_fn` layers cost four state clones and four boxed futures per request, which showed
        // in single-event throughput.
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Paths that are never shed or authenticated: health checks must answer under load, and a shed scrape
/// would page someone with ModelwatchDown for no reason.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Everything around a request, outside-in: request metrics (so they see timeouts, shed requests and
/// failed authentication too), load shedding, authentication and the request timeout.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(&request);
    let method = method_label(request.method());
    let response = admit(&state, request, next).await;
    state
        .telemetry()
        .observe_http(route, method, response.status().as_u16(), start.elapsed());
    response
}

/// Sheds requests beyond `max_concurrency` with 503 and Retry-After instead of queueing them without
/// bound (scrapes and health checks are exempt), checks bearer tokens, and answers 408 when the handler
/// takes longer than `request_timeout`.
async fn admit(state: &AppState, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let probe = is_probe(path);
    let _permit = if probe || path == "/metrics" {
        None
    } else {
        match state.try_admit() {
            Some(permit) => Some(permit),
            None => return Error::Overloaded.into_response(),
        }
    };
    let limit = {
        let config = state.current_config();
        if !probe && !authorized(&config.server.auth, &request) {
            return Error::Unauthorized.into_response();
        }
        config.server.request_timeout
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}

/// Checks bearer tokens: ingest tokens for POST and PUT, the read token for GETs of `/v1/*`, `/metrics`
/// and `/openapi.json`. Comparison is constant-time and tokens are never logged.
fn authorized(auth: &crate::config::AuthConfig, request: &Request) -> bool {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let allowed: &[String] = match *request.method() {
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH => &auth.ingest_tokens,
        _ => auth.read_token.as_slice(),
    };
    allowed.is_empty() || presented.is_some_and(|p| token_matches(p, allowed))
}

/// Constant-time comparison against every allowed token (no early exit on the first match).
fn token_matches(presented: &str, allowed: &[String]) -> bool {
    use subtle::ConstantTimeEq;
    let mut ok = subtle::Choice::from(0);
    for token in allowed {
        ok |= presented.as_bytes().ct_eq(token.as_bytes());
    }
    ok.into()
}

/// The route patterns, the only values of the `route` label (never the raw path, so the series count
/// stays bounded).
const ROUTES: [&str; 10] = [
    "/v1/models",
    "/v1/models/{model}",
    "/v1/models/{model}/predictions",
    "/v1/models/{model}/labels",
    "/v1/models/{model}/reference",
    "/metrics",
    "/-/reload",
    "/openapi.json",
    "/healthz",
    "/readyz",
];

fn route_label(request: &Request) -> &'static str {
    let Some(matched) = request.extensions().get::<MatchedPath>() else {
        return "unmatched";
    };
    let route = ROUTES.iter().find(|r| **r == matched.as_str()).copied();
    debug_assert!(
        route.is_some(),
        "route {} missing from ROUTES",
        matched.as_str()
    );
    route.unwrap_or("unmatched")
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// Reads the whole body up to the configured limit. A body that arrives in one frame (any small one) is
/// returned as it is, without a copy or a buffer list.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, Error> {
    use http_body_util::BodyExt;
    let limit = state.max_body_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::BodyTooLarge { limit });
    }
    let mut body = body;
    let mut first = Bytes::new();
    let mut more: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|_| Error::InvalidJson("the request body could not be read".to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // Trailers carry nothing we read.
        };
        let len = first.len() + more.as_ref().map_or(0, Vec::len) + data.len();
        if len > limit {
            return Err(Error::BodyTooLarge { limit });
        }
        match &mut more {
            Some(buf) => buf.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut buf = Vec::with_capacity(declared.unwrap_or(len).clamp(len, limit));
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&data);
                more = Some(buf);
            }
        }
    }
    Ok(more.map_or(first, Bytes::from))
}

/// The body (up to the configured limit) and the Content-Type header of a request. It reads the
/// request's own header map; the `HeaderMap` extractor would copy it on every request.
async fn read_request(
    state: &AppState,
    request: Request,
) -> Result<(Bytes, Option<HeaderValue>), Error> {
    let (mut parts, body) = request.into_parts();
    let bytes = read_body(state, &parts.headers, body).await?;
    Ok((bytes, parts.headers.remove(header::CONTENT_TYPE)))
}

/// The Content-Type as text; a value that is not visible ASCII is unsupported whatever it says.
fn content_type(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().map(|v| v.to_str().unwrap_or("invalid"))
}

/// Runs CPU-bound request work inline for small bodies and on the blocking pool for big ones.
async fn run_cpu<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    if size < BLOCKING_BODY_BYTES {
        work()
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("ingest task failed: {e}")))?
    }
}

/// Ingest prediction events.
///
/// The body is one event object, a JSON array of events, or NDJSON (one event per line). Invalid events
/// are reported by index; the valid ones beside them are accepted.
#[utoipa::path(
    post,
    path = "/v1/models/{model}/predictions",
    params(("model" = String, Path, description = "A configured model name")),
    request_body(content(
        (openapi::PredictionBody = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 200, description = "Accepted and rejected counts, errors by index", body = PredictionReport),
        (status = 400, description = "Malformed JSON or NDJSON (`invalid_json`)", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = openapi::ErrorBody),
        (status = 404, description = "The model is not configured (`unknown_model`)", body = openapi::ErrorBody),
        (status = 408, description = "The request took longer than `request_timeout`", body = openapi::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`, or too many events", body = openapi::ErrorBody),
        (status = 415, description = "Not application/json or application/x-ndjson", body = openapi::ErrorBody),
        (status = 422, description = "A single-object body whose event is invalid; the code is the event's", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded: retry after the Retry-After header", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn post_predictions(
    State(state): State<AppState>,
    Path(model): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    // Resolve the model first, so an unknown model is a 404 whatever the body.
    state.model(&model)?;
    let (bytes, ct) = read_request(&state, request).await?;
    let report = run_cpu(bytes.len(), move || {
        state.ingest_predictions(&model, content_type(&ct), &bytes)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// Ingest label events, joined to pending predictions by id.
#[utoipa::path(
    post,
    path = "/v1/models/{model}/labels",
    params(("model" = String, Path, description = "A configured model name")),
    request_body(content(
        (openapi::LabelBody = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 200, description = "Accepted, matched and unmatched counts, errors by index", body = LabelReport),
        (status = 400, description = "Malformed JSON or NDJSON (`invalid_json`)", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = openapi::ErrorBody),
        (status = 404, description = "The model is not configured (`unknown_model`)", body = openapi::ErrorBody),
        (status = 408, description = "The request took longer than `request_timeout`", body = openapi::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`, or too many events", body = openapi::ErrorBody),
        (status = 415, description = "Not application/json or application/x-ndjson", body = openapi::ErrorBody),
        (status = 422, description = "A single-object body whose event is invalid; the code is the event's", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded: retry after the Retry-After header", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn post_labels(
    State(state): State<AppState>,
    Path(model): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    state.model(&model)?;
    let (bytes, ct) = read_request(&state, request).await?;
    let report = run_cpu(bytes.len(), move || {
        state.ingest_labels(&model, content_type(&ct), &bytes)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// Replace the drift reference with a CSV or JSONL body.
#[utoipa::path(
    put,
    path = "/v1/models/{model}/reference",
    params(("model" = String, Path, description = "A configured model name")),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson"))),
    responses(
        (status = 200, description = "The new reference's row counts and SHA-256", body = openapi::ReferenceAnswer),
        (status = 400, description = "A bad file (`invalid_reference`), naming its line and column", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = openapi::ErrorBody),
        (status = 404, description = "The model is not configured", body = openapi::ErrorBody),
        (status = 408, description = "The request took too long", body = openapi::ErrorBody),
        (status = 409, description = "The model uses a moving reference", body = openapi::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`", body = openapi::ErrorBody),
        (status = 415, description = "Not text/csv or application/x-ndjson", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn put_reference(
    State(state): State<AppState>,
    Path(model): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    state.model(&model)?;
    let (bytes, ct) = read_request(&state, request).await?;
    let answer = run_cpu(BLOCKING_BODY_BYTES, move || {
        state.replace_reference(&model, content_type(&ct), &bytes)
    })
    .await?;
    Ok(Json(answer).into_response())
}

/// Reload the config file: unchanged models keep their state; an invalid config is refused.
#[utoipa::path(
    post,
    path = "/-/reload",
    responses(
        (status = 200, description = "What changed, by model name", body = ReloadSummary),
        (status = 400, description = "The new config is invalid (`invalid_config`); the old one stays", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong ingest token, when tokens are configured", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn reload(State(state): State<AppState>) -> Result<Response, Error> {
    let summary = run_cpu(BLOCKING_BODY_BYTES, move || state.reload()).await?;
    tracing::info!(%summary, "config reloaded through /-/reload");
    Ok(Json(summary).into_response())
}

/// The configured models, their windows and features.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses(
        (status = 200, description = "`{\"models\": [...]}`", body = Object),
        (status = 401, description = "Missing or wrong read token, when one is configured", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn list_models(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.list_models())
}

/// A model's status: per window the sample counts and every metric (null when undefined), pending
/// labels, counters, the reference, and the last drift report with data quality.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    params(("model" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The status document", body = Object),
        (status = 401, description = "Missing or wrong read token, when one is configured", body = openapi::ErrorBody),
        (status = 404, description = "The model is not configured", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn model_status(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Response, Error> {
    let status = run_cpu(BLOCKING_BODY_BYTES, move || state.status(&model)).await?;
    Ok(Json(status).into_response())
}

/// Prometheus metrics, text format 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "The exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or wrong read token, when one is configured", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn metrics(State(state): State<AppState>) -> Result<Response, Error> {
    let text = run_cpu(BLOCKING_BODY_BYTES, move || state.render_metrics()).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = openapi::Health)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the config and references are loaded and the server accepts traffic.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = openapi::Health),
        (status = 503, description = "Shutting down", body = openapi::Health),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not ready"})),
        )
            .into_response()
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
        (status = 401, description = "Missing or wrong read token, when one is configured", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn openapi_json(State(state): State<AppState>) -> Response {
    let models: Vec<String> = state
        .models()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let mut response = openapi::document(&models).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn fallback() -> Error {
    Error::NotFound
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
