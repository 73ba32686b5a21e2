//! Pure statistics: model metrics as scikit-learn defines them, and the drift tests and distances as
//! scipy defines them. Functions here take plain slices and counts; they know nothing of windows, HTTP
//! or Prometheus.

pub mod chi2;
pub mod distance;
pub mod exact_sum;
pub mod ks;
pub mod metrics;
pub mod multitest;
pub mod quantile;
