//! The engine's parts that the fuzz targets, the benchmarks and the examples drive directly, below the
//! HTTP API: event parsing, a model shard, reference parsing, the drift comparison, windows and the
//! statistics. Each submodule names the module it comes from.
//!
//! This is the one door to the internals, and not a stable interface: the service's interface is HTTP,
//! and the library's is `server`, `state`, `config` and `clock`. Everything else is `pub(crate)`.

pub mod event {
    pub use crate::event::{BodyFormat, LabelValue, Limits, Parser, Predicted};
}

pub mod model {
    pub use crate::model::{
        LabelReport, MAX_REPORTED_ERRORS, Model, ModelSnapshot, PredictionReport,
    };
}

pub mod schema {
    pub use crate::schema::{Interners, Schema, Slot};
}

pub mod telemetry {
    pub use crate::telemetry::Telemetry;
}

pub mod drift {
    pub use crate::drift::DriftReport;

    pub mod column_set {
        pub use crate::drift::column_set::{ColumnSet, NumericData};
    }

    pub mod evaluate {
        pub use crate::drift::evaluate::{ColumnData, ColumnSpec, Role, TOP_CATEGORIES, compare};
    }

    pub mod reference {
        pub use crate::drift::reference::{ReferenceFormat, ReferenceSource, parse, sha256_hex};
    }
}

/// The windows, whole: data structures of the statistics core, checked against references.
pub mod window {
    pub use crate::window::{columns, metric, queue, sorted};
}

/// The statistics core, whole: pure functions checked against scipy and scikit-learn.
pub mod stats {
    pub use crate::stats::{
        brier, calibration, chi2, confusion_scores, distance, exact_sum, ks, lift, metrics,
        multiclass_scores, multitest, quantile, ranking, regression_errors, threshold_sweep,
    };
}

/// The snapshot file and its transfer types, for the persistence and format tests.
pub mod persist {
    pub use crate::persist::{Loaded, WriteError, read, write};
}

pub mod snapshot {
    pub use crate::snapshot::{Snapshot, VERSION, v1, v2};
}
