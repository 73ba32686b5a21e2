//! The HTTP API: routes, body reading, and the translation of results and errors into responses.
//!
//! Handlers are thin: they extract the path, headers and body, call one `AppState` method, and wrap the
//! result. No statistics happen here.
//!
//! This file builds the router and puts the guard around it; `guard` is the service around every
//! request, `body` reads request bodies, `handlers` answers each route, and `error` turns errors into
//! responses.

mod body;
mod error;
mod guard;
mod handlers;
pub mod openapi;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::sync::Semaphore;

use crate::state::AppState;

use guard::BodyBudget;
pub use guard::RequestGuard;
use handlers::{
    fallback, healthz, list_models, method_not_allowed, metrics, model_status, post_labels,
    post_predictions, put_reference, readyz, reload,
};

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
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::Method;
    use axum::response::IntoResponse;

    use super::guard::route_label;
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
}
