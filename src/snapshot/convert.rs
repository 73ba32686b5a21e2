//! Conversions between the internal state and the transfer types of the current format.
//!
//! Converting in moves the data and checks its shape: a row whose value counts do not match its layout
//! would be misread, and a numeric reference column must be sorted for the statistics that read it.

use std::sync::Arc;

use super::v2;
use crate::drift::column_set::{CategoricalData, ColumnSet, NumericData};
use crate::event::Predicted;
use crate::window::columns::Rows;
use crate::window::metric::Outcome;

impl From<Rows> for v2::Rows {
    fn from(r: Rows) -> Self {
        v2::Rows {
            numeric: r.numeric as u32,
            categorical: r.categorical as u32,
            ts: r.ts,
            num: r.num,
            cat: r.cat,
        }
    }
}

impl v2::Rows {
    /// The rows as a window imports them, or `None` if the value counts do not match the row count.
    pub fn to_internal(&self) -> Option<Rows> {
        let (n, c) = (self.numeric as usize, self.categorical as usize);
        let rows = self.ts.len();
        if self.num.len() != rows.checked_mul(n)? || self.cat.len() != rows.checked_mul(c)? {
            return None;
        }
        Some(Rows {
            numeric: n,
            categorical: c,
            ts: self.ts.clone(),
            num: self.num.clone(),
            cat: self.cat.clone(),
        })
    }
}

impl From<&Outcome> for v2::Outcome {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Binary {
                predicted_positive,
                actual_positive,
                score,
            } => v2::Outcome::Binary {
                predicted_positive: *predicted_positive,
                actual_positive: *actual_positive,
                score: *score,
            },
            Outcome::Multiclass {
                predicted,
                actual,
                probs,
            } => v2::Outcome::Multiclass {
                predicted: *predicted,
                actual: *actual,
                probs: probs.as_ref().map(|p| p.to_vec()),
            },
            Outcome::Regression { predicted, actual } => v2::Outcome::Regression {
                predicted: *predicted,
                actual: *actual,
            },
        }
    }
}

impl From<&v2::Outcome> for Outcome {
    fn from(o: &v2::Outcome) -> Self {
        match o {
            v2::Outcome::Binary {
                predicted_positive,
                actual_positive,
                score,
            } => Outcome::Binary {
                predicted_positive: *predicted_positive,
                actual_positive: *actual_positive,
                score: *score,
            },
            v2::Outcome::Multiclass {
                predicted,
                actual,
                probs,
            } => Outcome::Multiclass {
                predicted: *predicted,
                actual: *actual,
                probs: probs.as_ref().map(|p| p.clone().into_boxed_slice()),
            },
            v2::Outcome::Regression { predicted, actual } => Outcome::Regression {
                predicted: *predicted,
                actual: *actual,
            },
        }
    }
}

impl From<&Predicted> for v2::Predicted {
    fn from(p: &Predicted) -> Self {
        match p {
            Predicted::Binary { positive, score } => v2::Predicted::Binary {
                positive: *positive,
                score: *score,
            },
            Predicted::Multiclass { class, probs } => v2::Predicted::Multiclass {
                class: *class,
                probs: probs.as_ref().map(|p| p.to_vec()),
            },
            Predicted::Regression(v) => v2::Predicted::Regression(*v),
            Predicted::Nothing => v2::Predicted::Nothing,
        }
    }
}

impl From<&v2::Predicted> for Predicted {
    fn from(p: &v2::Predicted) -> Self {
        match p {
            v2::Predicted::Binary { positive, score } => Predicted::Binary {
                positive: *positive,
                score: *score,
            },
            v2::Predicted::Multiclass { class, probs } => Predicted::Multiclass {
                class: *class,
                probs: probs.as_ref().map(|p| p.clone().into_boxed_slice()),
            },
            v2::Predicted::Regression(v) => Predicted::Regression(*v),
            v2::Predicted::Nothing => Predicted::Nothing,
        }
    }
}

impl From<&ColumnSet> for v2::Columns {
    fn from(c: &ColumnSet) -> Self {
        v2::Columns {
            rows: c.rows as u64,
            numeric: c
                .numeric
                .iter()
                .map(|n| v2::Numeric {
                    sorted: n.sorted.clone(),
                    missing: n.missing,
                })
                .collect(),
            categorical: c
                .categorical
                .iter()
                .map(|c| v2::Categorical {
                    counts: c.counts.clone(),
                    missing: c.missing,
                })
                .collect(),
        }
    }
}

impl From<&v2::Columns> for ColumnSet {
    fn from(c: &v2::Columns) -> Self {
        ColumnSet {
            rows: c.rows as usize,
            numeric: c
                .numeric
                .iter()
                .map(|n| {
                    let mut sorted = n.sorted.clone();
                    if !sorted.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
                        sorted.sort_unstable_by(f64::total_cmp);
                    }
                    NumericData::new(sorted, n.missing)
                })
                .collect(),
            categorical: c
                .categorical
                .iter()
                .map(|c| CategoricalData {
                    counts: c.counts.clone(),
                    missing: c.missing,
                })
                .collect(),
        }
    }
}

impl v2::Columns {
    pub fn to_internal(&self) -> Arc<ColumnSet> {
        Arc::new(self.into())
    }
}
