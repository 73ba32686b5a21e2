//! Turns `crate::error::Error` into an HTTP response: a status code and the JSON body
//! `{"error": {"code": "...", "message": "..."}}`.

use super::wire::{ErrorBody, ErrorDetail};
use crate::error::Error;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidJson(_) | Error::InvalidReference { .. } | Error::InvalidConfig(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::UnknownModel(_) | Error::NotFound => StatusCode::NOT_FOUND,
            Error::BodyTooLarge { .. } | Error::TooManyEvents(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Error::Timeout => StatusCode::REQUEST_TIMEOUT,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            Error::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"modelwatch\""),
                );
            }
            Error::Overloaded => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
