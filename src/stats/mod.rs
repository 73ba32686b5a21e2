//! Pure statistics: model metrics as scikit-learn defines them, and the drift tests and distances as
//! scipy defines them. Functions here take plain slices and counts; they know nothing of windows, HTTP
//! or Prometheus.

pub mod brier;
pub mod calibration;
pub mod chi2;
pub mod confusion_scores;
pub mod distance;
pub mod exact_sum;
pub mod ks;
mod ks_merge;
pub mod lift;
pub mod metrics;
pub mod multiclass_scores;
pub mod multitest;
pub mod quantile;
pub mod ranking;
pub mod regression_errors;
pub mod threshold_sweep;
