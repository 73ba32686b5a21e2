//! The route handlers: each extracts its path, headers and body, calls one `AppState` method, and
//! wraps the result. No statistics happen here.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::{content_type, read_request};
use super::wire::{self, Health};
use crate::error::Error;
use crate::model::{LabelReport, PredictionReport};
use crate::state::{AppState, ReloadSummary};
use crate::status::{ModelList, ModelStatus, ReferenceAnswer};

/// Bodies larger than this are parsed on the blocking pool, so a big batch never stalls the event loop.
const BLOCKING_BODY_BYTES: usize = 256 * 1024;

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
        (wire::PredictionBody = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 200, description = "Accepted and rejected counts, errors by index", body = PredictionReport),
        (status = 400, description = "Malformed JSON or NDJSON (`invalid_json`)", body = wire::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = wire::ErrorBody),
        (status = 404, description = "The model is not configured (`unknown_model`)", body = wire::ErrorBody),
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = wire::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`, or too many events", body = wire::ErrorBody),
        (status = 415, description = "Not application/json or application/x-ndjson", body = wire::ErrorBody),
        (status = 422, description = "A single-object body whose event is invalid; the code is the event's", body = wire::ErrorBody),
        (status = 503, description = "Overloaded: retry after the Retry-After header", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn post_predictions(
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
        (wire::LabelBody = "application/json"),
        (String = "application/x-ndjson")
    )),
    responses(
        (status = 200, description = "Accepted, matched and unmatched counts, errors by index", body = LabelReport),
        (status = 400, description = "Malformed JSON or NDJSON (`invalid_json`)", body = wire::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = wire::ErrorBody),
        (status = 404, description = "The model is not configured (`unknown_model`)", body = wire::ErrorBody),
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = wire::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`, or too many events", body = wire::ErrorBody),
        (status = 415, description = "Not application/json or application/x-ndjson", body = wire::ErrorBody),
        (status = 422, description = "A single-object body whose event is invalid; the code is the event's", body = wire::ErrorBody),
        (status = 503, description = "Overloaded: retry after the Retry-After header", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn post_labels(
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
        (status = 400, description = "A bad file (`invalid_reference`), naming its line and column", body = wire::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token, when tokens are configured", body = wire::ErrorBody),
        (status = 404, description = "The model is not configured", body = wire::ErrorBody),
        (status = 408, description = "The body did not arrive within `body_read_timeout` (or `request_timeout`); nothing was applied", body = wire::ErrorBody),
        (status = 409, description = "The model uses a moving reference", body = wire::ErrorBody),
        (status = 413, description = "The body exceeds `max_body_bytes`", body = wire::ErrorBody),
        (status = 415, description = "Not text/csv or application/x-ndjson", body = wire::ErrorBody),
        (status = 503, description = "Overloaded", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn put_reference(
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
        (status = 400, description = "The new config is invalid (`invalid_config`); the old one stays", body = wire::ErrorBody),
        (status = 401, description = "Missing or wrong ingest token, when tokens are configured", body = wire::ErrorBody),
        (status = 503, description = "Overloaded", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn reload(State(state): State<AppState>) -> Result<Response, Error> {
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
        (status = 401, description = "Missing or wrong read token, when one is configured", body = wire::ErrorBody),
        (status = 503, description = "Overloaded", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn list_models(State(state): State<AppState>) -> Json<ModelList> {
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
        (status = 401, description = "Missing or wrong read token, when one is configured", body = wire::ErrorBody),
        (status = 404, description = "The model is not configured", body = wire::ErrorBody),
        (status = 503, description = "Overloaded", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn model_status(
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
        (status = 401, description = "Missing or wrong read token, when one is configured", body = wire::ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, Error> {
    let text = run_blocking(move || state.render_metrics()).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = wire::Health)))]
pub(super) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the config and references are loaded and the server accepts traffic.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = wire::Health),
        (status = 503, description = "Shutting down", body = wire::Health),
    )
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
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

pub(super) async fn fallback() -> Error {
    Error::NotFound
}

pub(super) async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

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
