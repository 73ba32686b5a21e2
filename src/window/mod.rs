//! Rolling windows: eviction order, columns of values, and per-window statistics.
//!
//! This module and `stats` are the statistics core: they know nothing of HTTP or Prometheus.

pub mod columns;
pub mod metric;
pub mod queue;
pub mod sorted;
