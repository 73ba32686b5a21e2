//! Format 2 of the snapshot: the first format of explicit transfer types.
//!
//! Frozen: these types are the file format. postcard encodes fields in order and enum variants by index,
//! so adding, removing or reordering a field or a variant here would misread every file already written.
//! A change goes into a new module `v3` with its own types and a conversion from these.
//!
//! Everything is semantic, not structural: a window is its rows in eviction order (oldest first), a
//! reference is its columns (sorted values and category counts), a category is its name. Nothing here
//! depends on how windows lay out their columns, so that layout can change without a new format.

use serde::{Deserialize, Serialize};

/// Every model's state at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unix nanoseconds when it was taken.
    pub taken_at_ns: i64,
    pub models: Vec<Model>,
}

/// One model's state, taken in one cut: its windows, pending labels, reference and the counters of
/// what made them all agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    /// Task, classes and features (`name:type`, in config order). Rows and category ids are only restored
    /// into a model with the same fingerprint.
    pub fingerprint: String,
    /// What the config asked for when the snapshot was taken: a restored uploaded reference or warmup
    /// must still answer the same question.
    pub reference_setting: ReferenceSetting,
    /// Per categorical feature (config order), its category names in id order.
    pub categories: Vec<Vec<String>>,
    pub windows: Vec<Window>,
    pub pending: Vec<Pending>,
    pub reference: Reference,
    pub counters: Counters,
}

/// The `[model.reference]` setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReferenceSetting {
    None,
    File {
        path: String,
    },
    Warmup {
        target: u64,
    },
    Moving,
    /// Not recorded (a snapshot migrated from format 1).
    Unknown,
}

/// Rows of a column window, oldest first. Row `i` has its timestamp `ts[i]`, its numeric values
/// `num[i*numeric..(i+1)*numeric]` (NaN is missing) and its category ids `cat[i*categorical..]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub numeric: u32,
    pub categorical: u32,
    pub ts: Vec<i64>,
    pub num: Vec<f64>,
    pub cat: Vec<u32>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub name: String,
    /// Labelled samples, oldest first.
    pub samples: Vec<Sample>,
    /// Every prediction's feature and prediction values.
    pub predictions: Rows,
    /// The labels of the labelled samples.
    pub labels: Rows,
    /// The moving reference: the rows before these, if the model has one.
    pub previous_predictions: Option<Rows>,
    pub previous_labels: Option<Rows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub ts: i64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Binary {
        predicted_positive: bool,
        actual_positive: bool,
        /// NaN when the event carried no score.
        score: f64,
    },
    Multiclass {
        predicted: u32,
        actual: u32,
        probs: Option<Vec<f64>>,
    },
    Regression {
        predicted: f64,
        actual: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predicted {
    Binary { positive: bool, score: f64 },
    Multiclass { class: u32, probs: Option<Vec<f64>> },
    Regression(f64),
    Nothing,
}

/// A prediction waiting for its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    /// Wall-clock arrival (Unix ns), so that time spent down counts against `label_ttl`.
    pub arrival_wall_ns: i64,
    pub ts: i64,
    pub predicted: Predicted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reference {
    None,
    /// A reference file: not stored, it is read again from the file at start.
    File {
        sha256: String,
    },
    /// An uploaded reference (`PUT .../reference`), which has no other copy.
    Uploaded(Frozen),
    Warmup(Warmup),
    Moving,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frozen {
    pub sha256: String,
    pub features: Columns,
    pub labels: Option<Columns>,
}

/// Columns of a reference: each numeric column's values sorted, each categorical column's counts by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    pub rows: u64,
    pub numeric: Vec<Numeric>,
    pub categorical: Vec<Categorical>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Numeric {
    pub sorted: Vec<f64>,
    pub missing: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Categorical {
    pub counts: Vec<u64>,
    pub missing: u64,
}

/// A warmup reference: rows collected so far, or the frozen columns once it reached its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    pub target: u64,
    pub predictions: Rows,
    pub labels: Rows,
    pub features: Option<Columns>,
    pub label_columns: Option<Columns>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub predictions: u64,
    pub labels: u64,
    pub unmatched: u64,
    pub expired: u64,
    pub errors: u64,
    /// (error code, count)
    pub rejected: Vec<(String, u64)>,
    pub violations: Vec<ViolationCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationCount {
    /// The feature's name; `None` for features not in the config.
    pub feature: Option<String>,
    pub kind: String,
    pub count: u64,
}
