//! Drift detection and data quality: a reference, the comparison of each window against it, and the
//! background evaluation that produces the drift report read at scrape time.

pub mod column_set;
pub mod evaluate;
pub mod reference;

pub use evaluate::{ColumnReport, Quality, Role, WindowReport};

/// The result of one evaluation of a model: every window, every column.
#[derive(Debug, Clone)]
pub struct DriftReport {
    /// Unix seconds when the evaluation finished.
    pub evaluated_at: f64,
    /// Seconds the evaluation took.
    pub duration: f64,
    pub windows: Vec<WindowReport>,
}
