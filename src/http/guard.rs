//! The request guard: one service around the router that records request metrics, sheds load,
//! checks bearer tokens and applies the request timeout, and the route and method labels it records.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::state::AppState;

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
    pub(super) router: Router,
    pub(super) state: AppState,
    pub(super) body_budget: BodyBudget,
}

/// Bytes of request bodies held in memory at once, over all requests: `max_concurrency ×
/// max_body_bytes` (as configured at start), what admitted requests alone could hold. A body being
/// received holds no slot among `max_concurrency`, so this is what bounds the memory of bodies still
/// arriving; a body that finds it spent is answered 503.
#[derive(Clone)]
pub(super) struct BodyBudget(pub(super) Arc<Semaphore>);

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
pub(super) fn route_label(path: &str) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
