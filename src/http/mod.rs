//! The HTTP API: routes, body reading, and the translation of results and errors into responses.
//!
//! Handlers are thin: they extract the path, headers and body, call one `AppState` method, and wrap the
//! result. No statistics happen here.

mod error;
pub mod openapi;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;
use crate::model::{LabelReport, PredictionReport};
use crate::state::{AppState, ReloadSummary};
use crate::status::{ModelList, ModelStatus, ReferenceAnswer};
use openapi::Health;

/// Bodies larger than this are parsed on the blocking pool, so a big batch never stalls the event loop.
const BLOCKING_BODY_BYTES: usize = 256 * 1024;

/// The API: the router behind the guard (request metrics, load shedding, authentication and the
/// request timeout).
pub fn app(state: AppState) -> RequestGuard {
    let budget = {
        let server = &state.config_for_request().server;
        server
            .max_concurrency
            .saturating_mul(server.max_body_bytes)
            .min(Semaphore::MAX_PERMITS)
    };
    RequestGuard {
        router: router(state.clone()),
        state,
        body_budget: BodyBudget(Arc::new(Semaphore::new(budget))),
    }
}

/// The routes. A new route also needs its label in `route_label` and a path in the test of it.
fn router(state: AppState) -> Router {
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
        .with_state(state)
}

/// Paths that are never shed or authenticated: health checks must answer under load, and a shed scrape
/// would page someone with ModelwatchDown for no reason.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Everything around a request, outside-in: request metrics (so they see timeouts, shed requests and
/// failed authentication too), load shedding, authentication and the request timeout.
///
/// It wraps the whole router as one service rather than being a layer of it: a router layer is
/// applied to every route, and costs a clone of the route's boxed service and a boxed future on every
/// request, which showed on the single-event path. Outside the router the matched route is not known,
/// so the `route` label comes from `route_label`, which a test keeps in step with the router.
#[derive(Clone)]
pub struct RequestGuard {
    router: Router,
    state: AppState,
    body_budget: BodyBudget,
}

/// Bytes of request bodies held in memory at once, over all requests: `max_concurrency ×
/// max_body_bytes` (as configured at start), what admitted requests alone could hold. A body being
/// received holds no slot among `max_concurrency`, so this is what bounds the memory of bodies still
/// arriving; a body that finds it spent is answered 503.
#[derive(Clone)]
struct BodyBudget(Arc<Semaphore>);

impl tower_service::Service<Request> for RequestGuard {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let start = Instant::now();
        let state = self.state.clone();
        let path = request.uri().path();
        let route = route_label(path);
        let method = method_label(request.method());
        let done = move |response: Response| {
            state.telemetry().observe_http(
                route,
                method,
                response.status().as_u16(),
                start.elapsed(),
            );
            Ok(response)
        };
        // Sheds requests beyond `max_concurrency` with 503 and Retry-After instead of queueing them
        // without bound (scrapes and health checks are exempt). A request with a body is admitted
        // by its handler once the body has arrived, so slow senders hold no slot while they send.
        let probe = is_probe(path);
        let permit = if probe || path == "/metrics" || carries_body(route) {
            None
        } else {
            match self.state.try_admit() {
                Some(permit) => Some(permit),
                None => {
                    return Box::pin(std::future::ready(done(Error::Overloaded.into_response())));
                }
            }
        };
        let limit = {
            let config = self.state.config_for_request();
            if !probe && !authorized(&config.server.auth, &request) {
                return Box::pin(std::future::ready(done(
                    Error::Unauthorized.into_response(),
                )));
            }
            config.server.request_timeout
        };
        // A request that changes nothing may be abandoned at the timeout. One that changes state
        // is bounded while its body arrives (`read_body`), and once it is being applied it
        // completes and reports what it did: an error answer must mean nothing was applied.
        let read_only = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut request = request;
        if carries_body(route) {
            request.extensions_mut().insert(self.body_budget.clone());
        }
        let routed = tower_service::Service::call(&mut self.router, request);
        Box::pin(async move {
            let response = if read_only {
                match tokio::time::timeout(limit, routed).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => Error::Timeout.into_response(),
                }
            } else {
                match routed.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            };
            drop(permit);
            done(response)
        })
    }
}

/// Routes whose requests carry a body; their handlers admit them once the body has arrived.
fn carries_body(route: &str) -> bool {
    matches!(
        route,
        "/v1/models/{model}/predictions"
            | "/v1/models/{model}/labels"
            | "/v1/models/{model}/reference"
    )
}

/// Checks bearer tokens: ingest tokens for POST and PUT, the read token for GETs of `/v1/*`, `/metrics`
/// and `/openapi.json`. Comparison takes the same time whatever the tokens and their lengths, and
/// tokens are never logged.
fn authorized(auth: &crate::config::AuthConfig, request: &Request) -> bool {
    let presented = || {
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
    };
    let allowed: &[String] = match *request.method() {
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH => &auth.ingest_tokens,
        _ => auth.read_token.as_slice(),
    };
    allowed.is_empty() || presented().is_some_and(|p| token_matches(p, allowed))
}

/// Compares the presented token with every allowed one (no early exit on the first match). The
/// SHA-256 digests are compared, not the tokens: both sides are then 32 bytes whatever the tokens'
/// lengths, so neither the time taken nor an early return on a length mismatch tells how long a valid
/// token is.
fn token_matches(presented: &str, allowed: &[String]) -> bool {
    use subtle::ConstantTimeEq;
    let presented = token_digest(presented);
    let mut ok = subtle::Choice::from(0);
    for token in allowed {
        ok |= presented.ct_eq(&token_digest(token));
    }
    ok.into()
}

/// The fixed-length form in which tokens are compared.
fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The `route` label of a request: the route pattern its path matches, as the router matches it (never
/// the raw path, so the series count stays bounded): fixed paths exactly, `{model}` one
/// segment, which the router lets be empty only when another segment follows. Anything else is
/// "unmatched".
fn route_label(path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/v1/models/") else {
        return match path {
            "/v1/models" => "/v1/models",
            "/metrics" => "/metrics",
            "/-/reload" => "/-/reload",
            "/openapi.json" => "/openapi.json",
            "/healthz" => "/healthz",
            "/readyz" => "/readyz",
            _ => "unmatched",
        };
    };
    let mut segments = rest.split('/');
    let model = segments.next().unwrap_or("");
    match (segments.next(), segments.next()) {
        (None, _) if model.is_empty() => "unmatched",
        (None, _) => "/v1/models/{model}",
        (Some("predictions"), None) => "/v1/models/{model}/predictions",
        (Some("labels"), None) => "/v1/models/{model}/labels",
        (Some("reference"), None) => "/v1/models/{model}/reference",
        _ => "unmatched",
    }
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

/// Reads the whole body up to the configured limit, within `body_read_timeout` (and `request_timeout`)
/// or not at all: a body cut off by the deadline is answered 408 and none of it is applied.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    budget: Option<&BodyBudget>,
    body: Body,
) -> Result<(Bytes, Held), Error> {
    let deadline = {
        let server = &state.config_for_request().server;
        server.body_read_timeout.min(server.request_timeout)
    };
    let mut held = Held {
        budget: budget.map(|b| b.0.clone()),
        permit: None,
        bytes: 0,
    };
    let bytes = tokio::time::timeout(deadline, read_whole_body(state, headers, &mut held, body))
        .await
        .map_err(|_| Error::Timeout)??;
    Ok((bytes, held))
}

/// The share of the body budget one request holds: the memory its body takes.
struct Held {
    budget: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Held {
    /// Holds `total` bytes in all, or fails with 503 when the budget has not that much left.
    fn grow_to(&mut self, total: usize) -> Result<(), Error> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if total <= self.bytes {
            return Ok(());
        }
        let more = u32::try_from(total - self.bytes).map_err(|_| Error::Overloaded)?;
        let permit = budget
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| Error::Overloaded)?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = total;
        Ok(())
    }
}

/// Reads the whole body up to the configured limit. A body that arrives in one frame (any small one) is
/// returned as it is, without a copy or a buffer list.
async fn read_whole_body(
    state: &AppState,
    headers: &HeaderMap,
    held: &mut Held,
    body: Body,
) -> Result<Bytes, Error> {
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
            Some(buf) => {
                held.grow_to(buf.capacity().max(len))?;
                buf.extend_from_slice(&data);
            }
            None if first.is_empty() => {
                held.grow_to(len)?;
                first = data;
            }
            None => {
                let capacity = declared.unwrap_or(len).clamp(len, limit);
                held.grow_to(first.len() + capacity)?;
                let mut buf = Vec::with_capacity(capacity);
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&data);
                more = Some(buf);
            }
        }
        // What the buffer really took, growth included.
        held.grow_to(first.len() + more.as_ref().map_or(0, Vec::capacity))?;
    }
    Ok(more.map_or(first, Bytes::from))
}

/// The body (up to the configured limit) and the Content-Type header of a request, with what admits it:
/// its share of the body budget and its slot among `max_concurrency`, taken once the body has arrived
/// (503 when none is free). It reads the request's own header map; the `HeaderMap` extractor would
/// copy it on every request.
async fn read_request(
    state: &AppState,
    request: Request,
) -> Result<(Bytes, Option<HeaderValue>, Admitted), Error> {
    let (mut parts, body) = request.into_parts();
    let budget = parts.extensions.get::<BodyBudget>();
    let (bytes, held) = read_body(state, &parts.headers, budget, body).await?;
    let slot = state.try_admit().ok_or(Error::Overloaded)?;
    let admitted = Admitted {
        _slot: slot,
        _held: held,
    };
    Ok((bytes, parts.headers.remove(header::CONTENT_TYPE), admitted))
}

/// Held by a request with a body until it is answered.
struct Admitted {
    _slot: OwnedSemaphorePermit,
    _held: Held,
}

/// The Content-Type as text; a value that is not visible ASCII is unsupported whatever it says.
fn content_type(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().map(|v| v.to_str().unwrap_or("invalid"))
}

/// Runs the parsing of a body of `size` bytes inline when it is small, and on the blocking pool when it
/// is big.
async fn run_cpu<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    if size < BLOCKING_BODY_BYTES {
        work()
    } else {
        run_blocking(work).await
    }
}

/// Runs request work whose cost does not follow a body's size (a reference upload, a reload, a
/// status document, a scrape) on the blocking pool, always.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
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
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = openapi::ErrorBody),
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
    let (bytes, ct, _admitted) = read_request(&state, request).await?;
    let report = run_cpu(bytes.len(), move || {
        state.ingest_predictions(&model, content_type(&ct), &bytes)
    })
    .await?;
    Ok(prediction_answer(report))
}

/// The answer to one valid event, the most frequent request, as serde_json writes it for
/// `PredictionReport { accepted: 1, rejected: 0, .. }`; a test checks that they agree.
const ONE_ACCEPTED: &str = r#"{"accepted":1,"rejected":0,"errors":[]}"#;

/// The JSON answer to a batch of predictions. The answer to a single valid event is a constant,
/// which spares serialising it and two allocations on the single-event path.
fn prediction_answer(report: PredictionReport) -> Response {
    if report.accepted == 1
        && report.rejected == 0
        && report.errors.is_empty()
        && !report.errors_truncated
    {
        let json = HeaderValue::from_static("application/json");
        return ([(header::CONTENT_TYPE, json)], ONE_ACCEPTED).into_response();
    }
    Json(report).into_response()
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
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = openapi::ErrorBody),
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
    let (bytes, ct, _admitted) = read_request(&state, request).await?;
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
        (status = 200, description = "The new reference's row counts and SHA-256", body = ReferenceAnswer),
        (status = 400, description = "A bad file (`invalid_reference`), naming its line and column", body = openapi::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = openapi::ErrorBody),
        (status = 404, description = "The model is not configured", body = openapi::ErrorBody),
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = openapi::ErrorBody),
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
    let (bytes, ct, _admitted) = read_request(&state, request).await?;
    let answer =
        run_blocking(move || state.replace_reference(&model, content_type(&ct), &bytes)).await?;
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
    let summary = state.reload_async().await?;
    tracing::info!(%summary, "config reloaded through /-/reload");
    Ok(Json(summary).into_response())
}

/// The configured models, their windows and features.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses(
        (status = 200, description = "The configured models", body = ModelList),
        (status = 401, description = "Missing or wrong read token, when one is configured", body = openapi::ErrorBody),
        (status = 503, description = "Overloaded", body = openapi::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
async fn list_models(State(state): State<AppState>) -> Json<ModelList> {
    Json(state.list_models())
}

/// A model's status: per window the sample counts and every metric (null when undefined), pending
/// labels, counters, the reference, and the last drift report with data quality.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    params(("model" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The status document", body = ModelStatus),
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
    let status = run_blocking(move || state.status(&model)).await?;
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
    let text = run_blocking(move || state.render_metrics()).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = openapi::Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
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
        Json(Health { status: "ready" }).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not ready",
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The router's route patterns.
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

    /// `route_label` works outside the router, so it must name the route the router matches: a layer
    /// of the router reads `MatchedPath` (absent for the fallback) for every case below.
    #[tokio::test]
    async fn route_labels_match_the_router() {
        use axum::extract::MatchedPath;
        use axum::middleware::{self, Next};
        use tower_service::Service;
        let config =
            crate::config::Config::parse("[[model]]\nname = \"m\"\ntask = \"regression\"\n")
                .unwrap();
        let state = AppState::new(config, crate::clock::Clock::new()).unwrap();
        let mut matched = router(state).layer(middleware::from_fn(
            |request: Request, _: Next| async move {
                request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched".to_string(), |m| m.as_str().to_string())
                    .into_response()
            },
        ));
        let mut paths: Vec<String> = ROUTES.iter().map(|r| r.replace("{model}", "m")).collect();
        paths.extend(
            [
                "/",
                "/nope",
                "/v1",
                "/v1/",
                "/v1/models/",
                "/v1/modelsx",
                "/v1/models/m/",
                "/v1/models//predictions",
                "/v1/models/m/predictions/",
                "/v1/models/m/other",
                "/v1/models/m/labels/x",
                "/v1/models/m%2Fx/labels",
                "/v1/models/%20/reference",
                "/v1/models/a.b-c_d",
                "//v1/models",
                "/v1//models/m",
                "/metrics/",
                "/healthz/x",
                "/-/reload/",
                "/openapi.json.bak",
                "/v1/models/m/predictions?x=1",
            ]
            .map(String::from),
        );
        for path in &paths {
            for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(path.as_str())
                    .body(Body::empty())
                    .unwrap();
                let label = route_label(request.uri().path());
                let response = matched.call(request).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), 1024)
                    .await
                    .unwrap();
                assert_eq!(label.as_bytes(), &body[..], "{method} {path}");
            }
        }
    }

    #[test]
    fn tokens_match_exactly_whatever_their_lengths() {
        let allowed = ["ingest-token-0123456789".to_string(), "x".repeat(64)];
        assert!(token_matches("ingest-token-0123456789", &allowed));
        assert!(token_matches(&"x".repeat(64), &allowed));
        for wrong in [
            "",
            "ingest-token-012345678",
            "ingest-token-01234567890",
            "ingest-token-0123456788",
            "INGEST-TOKEN-0123456789",
            &"x".repeat(63),
            &"x".repeat(65),
        ] {
            assert!(!token_matches(wrong, &allowed), "{wrong:?}");
        }
        assert!(!token_matches("anything", &[]));
        // Tokens of any length are compared as 32-byte digests.
        assert_eq!(
            token_digest("").len(),
            token_digest(&"y".repeat(1000)).len()
        );
    }

    #[tokio::test]
    async fn the_constant_answer_is_what_serde_json_writes() {
        let report = PredictionReport {
            accepted: 1,
            ..PredictionReport::default()
        };
        assert_eq!(ONE_ACCEPTED, serde_json::to_string(&report).unwrap());
        let response = prediction_answer(report.clone());
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, ONE_ACCEPTED.as_bytes());
        // Any other report is serialised.
        let two = PredictionReport {
            accepted: 2,
            ..PredictionReport::default()
        };
        let body = axum::body::to_bytes(prediction_answer(two.clone()).into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, serde_json::to_vec(&two).unwrap());
    }
}
