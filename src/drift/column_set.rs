//! Column data detached from any window or lock: what one drift evaluation compares.

use std::sync::OnceLock;

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

    /// Sum of the values, computed once.
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

/// A window's copy of a numeric column, made ready for the tests after the model lock is released:
/// the missing values (NaN) are dropped, `-0.0` becomes `0.0` so that equal values compare equal, and
/// the rest is sorted with an LSD radix sort (a million values in a few milliseconds, where a comparison
/// sort takes several times longer).
impl From<NumericCopy> for NumericData {
    fn from(copy: NumericCopy) -> Self {
        let NumericCopy { mut values, free } = copy;
        let slots = values.len();
        // Adding +0.0 turns -0.0 into +0.0 and leaves every other value unchanged.
        values.retain_mut(|v| {
            *v += 0.0;
            !v.is_nan()
        });
        let missing = (slots - values.len()) as u64 - free;
        radsort::sort(&mut values);
        NumericData::new(values, missing)
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
