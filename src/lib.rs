//! modelwatch: a model-monitoring sidecar.
//!
//! A model server posts its predictions, and later the ground-truth labels, over HTTP. modelwatch keeps
//! rolling windows in memory and exposes model metrics, drift and data quality on `/metrics` for
//! Prometheus. See `ARCHITECTURE.md` for the map of the code.

pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod demo;
pub mod drift;
pub mod error;
pub mod event;
pub mod exposition;
pub mod http;
pub mod model;
pub mod persist;
pub mod replay;
pub mod server;
pub mod state;
pub mod stats;
pub mod status;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod testing;
pub mod value;
pub mod window;
