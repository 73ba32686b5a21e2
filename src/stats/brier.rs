//! The Brier score as scikit-learn 1.9's `brier_score_loss` defines it.
//!
//! scikit-learn 1.9 forms one-hot rows for the labels and probability rows for the scores (a binary
//! score p is the row [1 − p, p]), takes each row's sum of squared differences, averages the rows, and
//! halves the result when there are fewer than three columns (`scale_by_half="auto"`). So the binary
//! score is the classic mean of (y − p)², and a k ≥ 3 class score ranges over [0, 2].
//!
//! Undefined (NaN): no samples, or a probability outside [0, 1] or NaN, which scikit-learn refuses.
//! Multiclass rows that do not sum to 1 are used as they are (scikit-learn only warns).

use super::quantile::numpy_pairwise_sum;

fn is_probability(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

/// Binary `brier_score_loss(y_true, probs, pos_label=positive)`.
pub fn binary_brier_score(probs: &[f64], positive: &[bool]) -> f64 {
    debug_assert_eq!(probs.len(), positive.len());
    let n = probs.len();
    if n == 0 || !probs.iter().all(|&p| is_probability(p)) {
        return f64::NAN;
    }
    let total = numpy_pairwise_sum(n, |i| {
        let y = positive[i] as u8 as f64;
        let p = probs[i];
        // The row sum of ([1 − y, y] − [1 − p, p])², column by column, as scikit-learn forms it.
        let d0 = (1.0 - y) - (1.0 - p);
        let d1 = y - p;
        d0 * d0 + d1 * d1
    });
    total / n as f64 * 0.5
}

/// Multiclass `brier_score_loss(y_true, probs, labels=classes)`. `probs` is row-major n×k with column j
/// the probability of class j; `labels[i] < k`. The caller orders the columns as scikit-learn reads
/// them (sorted class labels) — the value does not depend on it as long as labels and columns agree.
pub fn multiclass_brier_score(probs: &[f64], labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if n == 0 || k == 0 || !probs.iter().all(|&p| is_probability(p)) {
        return f64::NAN;
    }
    debug_assert_eq!(probs.len(), n * k);
    let total = numpy_pairwise_sum(n, |i| {
        let row = &probs[i * k..(i + 1) * k];
        numpy_pairwise_sum(k, |j| {
            let t = if labels[i] == j { 1.0 } else { 0.0 };
            let d = t - row[j];
            d * d
        })
    });
    let mean = total / n as f64;
    if k < 3 { mean * 0.5 } else { mean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_the_mean_squared_error() {
        assert!((binary_brier_score(&[0.2, 0.7], &[false, true]) - 0.065).abs() < 1e-15);
        assert!(binary_brier_score(&[], &[]).is_nan());
        assert!(binary_brier_score(&[1.2], &[true]).is_nan());
        assert!(binary_brier_score(&[-0.1], &[true]).is_nan());
    }
}
