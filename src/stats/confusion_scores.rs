//! Scores read off a confusion matrix beyond per-class precision, recall and F1, as scikit-learn 1.9
//! defines them: `balanced_accuracy_score`, `matthews_corrcoef`, `cohen_kappa_score`, `fbeta_score`,
//! and micro- and support-weighted precision, recall and F-beta.
//!
//! The matrix is a [`Confusion`] over the configured classes (a binary model is the 2×2 matrix of
//! [`binary_confusion`], negative class first). Classes absent from both labels and predictions are
//! zero rows and columns, which leave every value here unchanged.
//!
//! Undefined values:
//! - Everything is NaN without samples.
//! - `matthews_corrcoef` is 0.0 when a marginal is constant (scikit-learn returns 0.0, not NaN).
//! - `cohen_kappa` is NaN when the chance agreement leaves nothing to explain (scikit-learn's
//!   `replace_undefined_by=np.nan` default), e.g. one class in labels and predictions.
//! - F-beta, precision and recall take scikit-learn's `zero_division` as a value: NaN, 0.0 or 1.0 is
//!   returned where the ratio's denominator is 0. Weighted averages then leave out NaN classes, as
//!   scikit-learn's `_nanaverage` does, and fall back to the plain mean when the weights sum to 0.

use super::metrics::{BinaryCounts, Confusion};
use super::quantile::numpy_pairwise_sum;

/// The 2×2 matrix of binary counts, the negative class as class 0 and the positive class as class 1.
pub fn binary_confusion(c: &BinaryCounts) -> Confusion {
    Confusion::from_counts(2, vec![c.tn, c.fp, c.fn_, c.tp])
}

fn row_sum(c: &Confusion, a: usize) -> u64 {
    (0..c.k()).map(|p| c.get(a, p)).sum()
}

fn column_sum(c: &Confusion, p: usize) -> u64 {
    (0..c.k()).map(|a| c.get(a, p)).sum()
}

/// `balanced_accuracy_score`: the mean recall over the classes that occur among the labels. This is
/// [`Confusion::recall_macro`], which skips classes without support the same way.
pub fn balanced_accuracy(c: &Confusion) -> f64 {
    c.recall_macro()
}

/// `matthews_corrcoef`, from the marginals as scikit-learn forms them in float64.
pub fn matthews_corrcoef(c: &Confusion) -> f64 {
    let k = c.k();
    let n_samples = c.total();
    if n_samples == 0 {
        return f64::NAN;
    }
    let t: Vec<f64> = (0..k).map(|a| row_sum(c, a) as f64).collect();
    let p: Vec<f64> = (0..k).map(|j| column_sum(c, j) as f64).collect();
    let n_correct: f64 = (0..k).map(|i| c.get(i, i) as f64).sum();
    let n = n_samples as f64;
    let dot = |x: &[f64], y: &[f64]| -> f64 { x.iter().zip(y).map(|(a, b)| a * b).sum() };
    let cov_ytyp = n_correct * n - dot(&t, &p);
    let cov_ypyp = n * n - dot(&p, &p);
    let cov_ytyt = n * n - dot(&t, &t);
    let product = cov_ypyp * cov_ytyt;
    if product == 0.0 {
        0.0
    } else {
        cov_ytyp / product.sqrt()
    }
}

/// `cohen_kappa_score` (unweighted): 1 − Σ_{i≠j} observed / Σ_{i≠j} expected, the expected matrix being
/// the outer product of the predicted and actual marginals over n, summed as scikit-learn sums it.
pub fn cohen_kappa(c: &Confusion) -> f64 {
    let k = c.k();
    let n = c.total();
    if n == 0 {
        return f64::NAN;
    }
    let predicted: Vec<f64> = (0..k).map(|j| column_sum(c, j) as f64).collect();
    let actual: Vec<f64> = (0..k).map(|a| row_sum(c, a) as f64).collect();
    let n = n as f64;
    let off = |idx: usize| idx / k != idx % k;
    let observed = numpy_pairwise_sum(k * k, |idx| {
        if off(idx) {
            c.get(idx / k, idx % k) as f64
        } else {
            0.0
        }
    });
    let expected = numpy_pairwise_sum(k * k, |idx| {
        if off(idx) {
            predicted[idx / k] * actual[idx % k] / n
        } else {
            0.0
        }
    });
    if expected == 0.0 {
        return f64::NAN;
    }
    1.0 - observed / expected
}

fn divide(num: f64, den: f64, zero_division: f64) -> f64 {
    if den == 0.0 { zero_division } else { num / den }
}

/// F-beta from the counts tp, actual (tp + fn) and predicted (tp + fp), as scikit-learn computes it:
/// (1 + β²)·tp / (β²·actual + predicted); β = ∞ is the recall and β = 0 the precision.
fn fbeta_from(tp: u64, actual: u64, predicted: u64, beta: f64, zero_division: f64) -> f64 {
    if beta == f64::INFINITY {
        return divide(tp as f64, actual as f64, zero_division);
    }
    if beta == 0.0 {
        return divide(tp as f64, predicted as f64, zero_division);
    }
    let beta2 = beta * beta;
    divide(
        (1.0 + beta2) * tp as f64,
        beta2 * actual as f64 + predicted as f64,
        zero_division,
    )
}

/// `fbeta_score(beta=beta, zero_division=zero_division)` for the binary positive class.
pub fn binary_fbeta(c: &BinaryCounts, beta: f64, zero_division: f64) -> f64 {
    if c.total() == 0 {
        return f64::NAN;
    }
    fbeta_from(c.tp, c.tp + c.fn_, c.tp + c.fp, beta, zero_division)
}

/// Precision, recall and F-beta under one averaging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Averaged {
    pub precision: f64,
    pub recall: f64,
    pub fbeta: f64,
}

const UNDEFINED: Averaged = Averaged {
    precision: f64::NAN,
    recall: f64::NAN,
    fbeta: f64::NAN,
};

/// `average="micro"` over all configured classes: the ratios of the summed counts.
pub fn micro_average(c: &Confusion, beta: f64, zero_division: f64) -> Averaged {
    let k = c.k();
    if c.total() == 0 {
        return UNDEFINED;
    }
    let tp: u64 = (0..k).map(|i| c.get(i, i)).sum();
    let actual: u64 = (0..k).map(|i| row_sum(c, i)).sum();
    let predicted: u64 = (0..k).map(|j| column_sum(c, j)).sum();
    Averaged {
        precision: divide(tp as f64, predicted as f64, zero_division),
        recall: divide(tp as f64, actual as f64, zero_division),
        fbeta: fbeta_from(tp, actual, predicted, beta, zero_division),
    }
}

/// `average="weighted"`: per-class values averaged with the class supports as weights.
pub fn weighted_average(c: &Confusion, beta: f64, zero_division: f64) -> Averaged {
    let k = c.k();
    if c.total() == 0 {
        return UNDEFINED;
    }
    let support: Vec<u64> = (0..k).map(|i| row_sum(c, i)).collect();
    let predicted: Vec<u64> = (0..k).map(|j| column_sum(c, j)).collect();
    let tp: Vec<u64> = (0..k).map(|i| c.get(i, i)).collect();
    let precision: Vec<f64> = (0..k)
        .map(|i| divide(tp[i] as f64, predicted[i] as f64, zero_division))
        .collect();
    let recall: Vec<f64> = (0..k)
        .map(|i| divide(tp[i] as f64, support[i] as f64, zero_division))
        .collect();
    let fbeta: Vec<f64> = (0..k)
        .map(|i| fbeta_from(tp[i], support[i], predicted[i], beta, zero_division))
        .collect();
    Averaged {
        precision: nan_weighted_average(&precision, &support),
        recall: nan_weighted_average(&recall, &support),
        fbeta: nan_weighted_average(&fbeta, &support),
    }
}

/// scikit-learn's `_nanaverage` with weights: NaN entries dropped, then numpy's `average`, or the plain
/// mean when the remaining weights sum to 0.
fn nan_weighted_average(values: &[f64], weights: &[u64]) -> f64 {
    let kept: Vec<(f64, f64)> = values
        .iter()
        .zip(weights)
        .filter(|(v, _)| !v.is_nan())
        .map(|(&v, &w)| (v, w as f64))
        .collect();
    if kept.is_empty() {
        return f64::NAN;
    }
    let weight = numpy_pairwise_sum(kept.len(), |i| kept[i].1);
    if weight == 0.0 {
        return numpy_pairwise_sum(kept.len(), |i| kept[i].0) / kept.len() as f64;
    }
    numpy_pairwise_sum(kept.len(), |i| kept[i].0 * kept[i].1) / weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_marginals() {
        let all_positive = BinaryCounts {
            tp: 3,
            ..Default::default()
        };
        let c = binary_confusion(&all_positive);
        assert_eq!(matthews_corrcoef(&c), 0.0);
        assert!(cohen_kappa(&c).is_nan());
        assert_eq!(balanced_accuracy(&c), 1.0);
        let empty = Confusion::new(3);
        assert!(matthews_corrcoef(&empty).is_nan());
        assert!(micro_average(&empty, 1.0, 0.0).precision.is_nan());
    }

    #[test]
    fn fbeta_zero_division_takes_the_given_value() {
        let no_positives = BinaryCounts {
            tn: 4,
            ..Default::default()
        };
        assert_eq!(binary_fbeta(&no_positives, 2.0, 1.0), 1.0);
        assert_eq!(binary_fbeta(&no_positives, 2.0, 0.0), 0.0);
        assert!(binary_fbeta(&no_positives, 2.0, f64::NAN).is_nan());
    }
}
