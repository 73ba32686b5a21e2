//! Regression errors beyond MAE, MSE, R² and MAPE, as scikit-learn 1.9 defines them:
//! `median_absolute_error`, `max_error`, `explained_variance_score` (with `force_finite=True`),
//! `mean_squared_log_error`, `mean_pinball_loss`, and the signed bias `mean_error`, the mean of
//! prediction − label (positive when the model over-predicts).
//!
//! Every value is NaN without samples. `mean_squared_log_error` is NaN when any label or prediction is
//! at or below −1: scikit-learn 1.9 raises on `y <= -1` in either array (log1p is −∞ at −1), while values
//! in (−1, 0) are accepted. Means use numpy's pairwise summation, as scikit-learn's do.

use super::quantile::numpy_pairwise_sum;

fn mean_of(n: usize, term: impl FnMut(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    numpy_pairwise_sum(n, term) / n as f64
}

/// `median_absolute_error`: the median of |prediction − label|; for an even count, the mean of the two
/// middle values, (a + b) / 2, as numpy's median forms it.
pub fn median_absolute_error(y_true: &[f64], y_pred: &[f64]) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    let n = y_true.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut errors: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(y, p)| (p - y).abs())
        .collect();
    if errors.iter().any(|e| e.is_nan()) {
        return f64::NAN;
    }
    let mid = n / 2;
    let (below, &mut upper, _) = errors.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// `max_error`: the largest |label − prediction|.
pub fn max_error(y_true: &[f64], y_pred: &[f64]) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    if y_true.is_empty() {
        return f64::NAN;
    }
    y_true
        .iter()
        .zip(y_pred)
        .map(|(y, p)| (y - p).abs())
        .fold(f64::NEG_INFINITY, |m, e| {
            if e.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(e)
            }
        })
}

/// `explained_variance_score`: 1 − Var(y − ŷ) / Var(y) with population variances. With
/// `force_finite=True`: 1.0 when Var(y − ŷ) = 0 (also for a single sample), 0.0 when only Var(y) = 0.
pub fn explained_variance(y_true: &[f64], y_pred: &[f64]) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    let n = y_true.len();
    if n == 0 {
        return f64::NAN;
    }
    let diff_mean = mean_of(n, |i| y_true[i] - y_pred[i]);
    let numerator = mean_of(n, |i| {
        let d = y_true[i] - y_pred[i] - diff_mean;
        d * d
    });
    let true_mean = mean_of(n, |i| y_true[i]);
    let denominator = mean_of(n, |i| {
        let d = y_true[i] - true_mean;
        d * d
    });
    if numerator == 0.0 {
        1.0
    } else if denominator == 0.0 {
        0.0
    } else {
        1.0 - numerator / denominator
    }
}

/// The signed bias: the mean of prediction − label.
pub fn mean_error(y_true: &[f64], y_pred: &[f64]) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    mean_of(y_true.len(), |i| y_pred[i] - y_true[i])
}

/// `mean_squared_log_error`: the mean of (log1p(y) − log1p(ŷ))². NaN if any value is at or below −1.
pub fn mean_squared_log_error(y_true: &[f64], y_pred: &[f64]) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    if y_true
        .iter()
        .chain(y_pred)
        .any(|&v| v <= -1.0 || v.is_nan())
    {
        return f64::NAN;
    }
    mean_of(y_true.len(), |i| {
        let d = y_true[i].ln_1p() - y_pred[i].ln_1p();
        d * d
    })
}

/// `mean_pinball_loss(alpha=alpha)`: α·(y − ŷ) where y ≥ ŷ, (1 − α)·(ŷ − y) below, averaged; formed
/// term by term as scikit-learn forms it.
pub fn mean_pinball_loss(y_true: &[f64], y_pred: &[f64], alpha: f64) -> f64 {
    debug_assert_eq!(y_true.len(), y_pred.len());
    mean_of(y_true.len(), |i| {
        let diff = y_true[i] - y_pred[i];
        let sign = if diff >= 0.0 { 1.0 } else { 0.0 };
        alpha * sign * diff - (1.0 - alpha) * (1.0 - sign) * diff
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(
            median_absolute_error(&[0.0, 0.0, 0.0], &[3.0, 1.0, 2.0]),
            2.0
        );
        assert_eq!(median_absolute_error(&[0.0; 4], &[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median_absolute_error(&[], &[]).is_nan());
    }

    #[test]
    fn msle_refuses_minus_one() {
        assert!(mean_squared_log_error(&[-1.0], &[0.0]).is_nan());
        assert!(mean_squared_log_error(&[0.0], &[-1.5]).is_nan());
        assert!(!mean_squared_log_error(&[-0.999], &[0.0]).is_nan());
    }
}
