//! Column data detached from any window or lock: what one drift evaluation compares.

use std::sync::OnceLock;

use crate::stats::exact_sum::ExactSum;
use crate::stats::quantile::{population_std, sum};
use crate::window::columns::{ColumnWindow, NumericCopy};

/// The non-missing values of a numeric column, sorted, and how many values were missing.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NumericData {
    pub sorted: Vec<f64>,
    pub missing: u64,
    #[serde(skip)]
    std: OnceLock<f64>,
    #[serde(skip)]
    sum: OnceLock<f64>,
}

impl NumericData {
    pub fn new(sorted: Vec<f64>, missing: u64) -> Self {
        debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
        NumericData {
            sorted,
            missing,
            std: OnceLock::new(),
            sum: OnceLock::new(),
        }
    }

    /// A column whose sum is already known (a window keeps it).
    pub fn with_sum(sorted: Vec<f64>, missing: u64, sum: f64) -> Self {
        let data = Self::new(sorted, missing);
        data.sum.get_or_init(|| sum);
        data
    }

    /// Sum of the values, computed once unless given.
    pub fn sum(&self) -> f64 {
        *self.sum.get_or_init(|| sum(&self.sorted))
    }

    /// Population standard deviation, computed once (a frozen reference is evaluated many times).
    pub fn std(&self) -> f64 {
        *self.std.get_or_init(|| population_std(&self.sorted))
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// Counts per category id of a categorical column, and how many values were missing.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CategoricalData {
    pub counts: Vec<u64>,
    pub missing: u64,
}

impl CategoricalData {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn count(&self, id: usize) -> u64 {
        self.counts.get(id).copied().unwrap_or(0)
    }
}

/// All columns of a window or a reference.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ColumnSet {
    pub rows: usize,
    pub numeric: Vec<NumericData>,
    pub categorical: Vec<CategoricalData>,
}

/// A window's copy of a numeric column, sorted if it was not. Sorting here rather than in the window
/// lets the caller copy under the model lock and sort after releasing it.
impl From<NumericCopy> for NumericData {
    fn from(copy: NumericCopy) -> Self {
        match copy {
            NumericCopy::Sorted {
                values,
                missing,
                sum,
            } => NumericData::with_sum(values, missing, sum),
            NumericCopy::Unsorted {
                mut values,
                missing,
            } => {
                values.sort_unstable_by(f64::total_cmp);
                // The same exact sum a sorted column keeps, so both forms give identical results.
                let sum = ExactSum::of(&values);
                NumericData::with_sum(values, missing, sum)
            }
        }
    }
}

/// Copies one numeric column of a window (call under the model lock).
pub fn numeric_of(w: &ColumnWindow, i: usize) -> NumericData {
    w.numeric_copy(i).into()
}

/// Copies one categorical column of a window (call under the model lock).
pub fn categorical_of(w: &ColumnWindow, i: usize) -> CategoricalData {
    let c = w.categorical(i);
    CategoricalData {
        counts: c.counts.clone(),
        missing: c.missing,
    }
}

impl ColumnSet {
    /// Copies every column of a window at once (for small windows and frozen references).
    pub fn of_window(w: &ColumnWindow) -> ColumnSet {
        let layout = w.layout();
        ColumnSet {
            rows: w.len(),
            numeric: (0..layout.numeric).map(|i| numeric_of(w, i)).collect(),
            categorical: (0..layout.categorical)
                .map(|i| categorical_of(w, i))
                .collect(),
        }
    }
}
