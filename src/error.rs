//! The service's error type and the stable codes clients see.
//!
//! Codes are part of the API contract: they are documented in the README, used as the `reason` label of
//! `modelwatch_rejected_events_total`, and never change meaning. Messages are for humans and carry no
//! internal detail (no paths, no stack traces, no Rust type names).

use std::fmt;

/// Why a single event was rejected. Used both in batch responses (`errors[].code`) and as the code of a
/// 422 answer when a single-object body holds an invalid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventCode {
    /// An NDJSON line or array element that is not valid JSON (or not an object).
    InvalidJson,
    /// Neither a prediction nor a score where one is needed.
    MissingPrediction,
    /// A score outside [0, 1], not a number, or a malformed `scores` object.
    InvalidScore,
    /// A class value that is not one of the model's classes.
    UnknownClass,
    /// A timestamp that is neither RFC 3339 nor Unix seconds in range.
    InvalidTimestamp,
    /// An id that is already waiting for its label.
    DuplicateId,
    /// A field of the wrong JSON type.
    InvalidType,
    /// A label that is missing or not valid for the task.
    InvalidLabel,
    /// A regression prediction that is not a finite number.
    InvalidPrediction,
    /// An id that is empty or too long.
    InvalidId,
    /// A label event without an id.
    MissingId,
    /// A negative or non-finite latency.
    InvalidLatency,
    /// More features than allowed in one event.
    TooManyFeatures,
    /// A string value longer than allowed.
    StringTooLong,
    /// A prediction timestamp further ahead of the server's clock than `max_clock_skew`.
    TimestampInFuture,
}

impl EventCode {
    pub const ALL: [EventCode; 15] = [
        EventCode::InvalidJson,
        EventCode::MissingPrediction,
        EventCode::InvalidScore,
        EventCode::UnknownClass,
        EventCode::InvalidTimestamp,
        EventCode::DuplicateId,
        EventCode::InvalidType,
        EventCode::InvalidLabel,
        EventCode::InvalidPrediction,
        EventCode::InvalidId,
        EventCode::MissingId,
        EventCode::InvalidLatency,
        EventCode::TooManyFeatures,
        EventCode::StringTooLong,
        EventCode::TimestampInFuture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventCode::InvalidJson => "invalid_json",
            EventCode::MissingPrediction => "missing_prediction",
            EventCode::InvalidScore => "invalid_score",
            EventCode::UnknownClass => "unknown_class",
            EventCode::InvalidTimestamp => "invalid_timestamp",
            EventCode::DuplicateId => "duplicate_id",
            EventCode::InvalidType => "invalid_type",
            EventCode::InvalidLabel => "invalid_label",
            EventCode::InvalidPrediction => "invalid_prediction",
            EventCode::InvalidId => "invalid_id",
            EventCode::MissingId => "missing_id",
            EventCode::InvalidLatency => "invalid_latency",
            EventCode::TooManyFeatures => "too_many_features",
            EventCode::StringTooLong => "string_too_long",
            EventCode::TimestampInFuture => "timestamp_in_future",
        }
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected event of a request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct EventError {
    /// Position in the JSON array, or 0-based line number in NDJSON (0 for a single object).
    pub index: usize,
    pub code: EventCode,
    pub message: String,
}

impl serde::Serialize for EventCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A whole-request failure. The HTTP layer maps each variant to a status and a JSON body
/// `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidJson(String),
    #[error("model {0:?} is not configured")]
    UnknownModel(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A single-object body whose one event is invalid.
    #[error("{}", .0.message)]
    InvalidEvent(EventError),
    #[error("{message}")]
    InvalidReference { message: String },
    #[error("{0}")]
    TooManyEvents(String),
    #[error("no route for this path")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("the service is overloaded; retry later")]
    Overloaded,
    #[error("the request timed out")]
    Timeout,
    #[error("{0}")]
    Conflict(String),
    /// A config reload was refused; the old config stays.
    #[error("{0}")]
    InvalidConfig(String),
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "invalid_json",
            Error::UnknownModel(_) => "unknown_model",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::InvalidEvent(e) => e.code.as_str(),
            Error::InvalidReference { .. } => "invalid_reference",
            Error::TooManyEvents(_) => "too_many_events",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Unauthorized => "unauthorized",
            Error::Overloaded => "overloaded",
            Error::Timeout => "timeout",
            Error::Conflict(_) => "conflict",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Internal(_) => "internal",
        }
    }

    /// The message shown to clients. Internal errors are logged in full but shown generically.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        }
    }
}
