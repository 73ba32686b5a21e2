//! The shapes of the API's request and response bodies that the OpenAPI document describes and that no
//! other module owns: the request bodies (parsed by hand in `event`, so described here as plain types that
//! mirror what the parser accepts), and the error and health answers.

use std::collections::HashMap;

use serde_json::Value;
use utoipa::ToSchema;

/// A prediction event. Which fields are required depends on the model's task: binary models need
/// `prediction` or `score`, multiclass models `prediction` or `scores`, regression models `prediction`;
/// an event with `"error": true` needs none.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct PredictionEvent {
    /// Joins a later label; a string or an integer, at most 256 bytes, unique among pending predictions.
    #[schema(value_type = Option<Object>)]
    id: Option<Value>,
    /// RFC 3339 string or Unix seconds; defaults to arrival time.
    #[schema(value_type = Option<Object>)]
    timestamp: Option<Value>,
    /// Feature name to value: numbers for numeric features; strings, integers or booleans for
    /// categorical ones; null for missing.
    #[schema(value_type = Option<HashMap<String, Object>>)]
    features: Option<HashMap<String, Value>>,
    /// A class (classifiers) or a number (regression).
    #[schema(value_type = Option<Object>)]
    prediction: Option<Value>,
    /// Binary: probability of the positive class, in [0, 1].
    score: Option<f64>,
    /// Multiclass: class to probability.
    scores: Option<HashMap<String, f64>>,
    /// The ground truth, when known at once.
    #[schema(value_type = Option<Object>)]
    label: Option<Value>,
    /// The model's inference latency in milliseconds.
    latency_ms: Option<f64>,
    /// The model failed this request.
    error: Option<bool>,
}

/// One event, or an array of events.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum PredictionBody {
    One(Box<PredictionEvent>),
    Many(Vec<PredictionEvent>),
}

/// A label for an earlier prediction.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct LabelEvent {
    /// The id of the prediction.
    #[schema(value_type = Object)]
    id: Value,
    /// The ground truth: a class or a number.
    #[schema(value_type = Object)]
    label: Value,
    /// Optional; RFC 3339 or Unix seconds.
    #[schema(value_type = Option<Object>)]
    timestamp: Option<Value>,
}

/// One label event, or an array of them.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum LabelBody {
    One(LabelEvent),
    Many(Vec<LabelEvent>),
}

/// The body of every error response.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `invalid_json`, `unknown_model`, `body_too_large`, `unsupported_media_type`,
    /// a per-event code for 422, `unauthorized`, `overloaded`, `timeout`.
    pub code: &'static str,
    pub message: String,
}

/// The answer of the health checks: `{"status": "ok"}` and the like.
#[derive(serde::Serialize, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`), `ready` or `not ready` (`/readyz`).
    pub status: &'static str,
}
