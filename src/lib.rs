//! modelwatch: a model-monitoring sidecar.
//!
//! A model server posts its predictions, and later the ground-truth labels, over HTTP. modelwatch keeps
//! rolling windows in memory and exposes model metrics, drift and data quality on `/metrics` for
//! Prometheus. See `ARCHITECTURE.md` for the map of the code.
//!
//! The library's interface is `server` (run the service), `state` (its shared state), `config` and
//! `clock`, with `cli`, `demo` and `replay` for the binary. The fuzz targets, benchmarks and examples
//! reach the engine through `internals`; every other module is `pub(crate)`.

pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod demo;
pub(crate) mod drift;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod exposition;
pub(crate) mod http;
pub mod internals;
pub(crate) mod model;
pub(crate) mod models;
pub(crate) mod persist;
pub mod replay;
pub(crate) mod schema;
pub mod server;
pub(crate) mod snapshot;
pub mod state;
pub(crate) mod stats;
pub(crate) mod status;
pub(crate) mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod value;
pub(crate) mod window;
