//! Reading request bodies: the size limit, the read deadline and the body budget that bounds the
//! memory of bodies held at once, and admission once the body has arrived.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::guard::BodyBudget;
use crate::error::Error;
use crate::state::AppState;

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
pub(super) async fn read_request(
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
pub(super) struct Admitted {
    _slot: OwnedSemaphorePermit,
    _held: Held,
}

/// The Content-Type as text; a value that is not visible ASCII is unsupported whatever it says.
pub(super) fn content_type(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().map(|v| v.to_str().unwrap_or("invalid"))
}
