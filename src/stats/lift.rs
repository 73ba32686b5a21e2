//! Lift and cumulative gain of a binary scorer at a share q of the samples.
//!
//! Definition (no scikit-learn function exists; the fixtures compute it from this text):
//! - Samples are ranked by score, highest first; tied scores keep their arrival order, the order
//!   `numpy.argsort(-score, kind="stable")` gives. Ties at the cut are thus split by arrival order.
//! - The top q-share is the first m = ⌊q·n + ½⌋ samples (q·n rounded half up), at least 1 and at most n.
//!   Rounding rather than truncating keeps q·n = 3.0000000000000004 (0.1 × 30 in floating point) at 3.
//! - `lift` = (positives among the top m / m) / (positives / n): how many times the overall positive
//!   rate the top share holds. `cumulative_gain` = positives among the top m / positives: the share of
//!   all positives found there.
//!
//! Both are NaN without samples, without positives, for q outside (0, 1], or for a non-finite score.
//! Scores may be probabilities or any finite decision values.

/// Lift and gain at one quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftPoint {
    pub quantile: f64,
    /// m, the number of top-ranked samples taken (0 when undefined).
    pub top: usize,
    pub lift: f64,
    pub cumulative_gain: f64,
}

/// m = ⌊q·n + ½⌋ clamped to [1, n]; `None` for q outside (0, 1] or n = 0.
pub fn top_count(q: f64, n: usize) -> Option<usize> {
    if n == 0 || q.is_nan() || q <= 0.0 || q > 1.0 {
        return None;
    }
    let m = (q * n as f64 + 0.5).floor() as usize;
    Some(m.clamp(1, n))
}

/// Lift and cumulative gain at each of `quantiles`, sorting once.
pub fn lift_curve(scores: &[f64], positive: &[bool], quantiles: &[f64]) -> Vec<LiftPoint> {
    debug_assert_eq!(scores.len(), positive.len());
    let n = scores.len();
    let total_pos = positive.iter().filter(|&&p| p).count();
    let undefined = |q: f64| LiftPoint {
        quantile: q,
        top: 0,
        lift: f64::NAN,
        cumulative_gain: f64::NAN,
    };
    if total_pos == 0 || scores.iter().any(|s| !s.is_finite()) {
        return quantiles.iter().map(|&q| undefined(q)).collect();
    }
    let mut order: Vec<usize> = (0..n).collect();
    // A stable sort on the descending score: ties keep arrival order, as argsort(-score, stable) does
    // (−0.0 and 0.0 compare equal there as here).
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap());
    // found[m] = positives among the first m.
    let mut found = Vec::with_capacity(n + 1);
    found.push(0usize);
    for &i in &order {
        found.push(found.last().unwrap() + positive[i] as usize);
    }
    quantiles
        .iter()
        .map(|&q| match top_count(q, n) {
            None => undefined(q),
            Some(m) => {
                let f = found[m];
                LiftPoint {
                    quantile: q,
                    top: m,
                    lift: (f as f64 / m as f64) / (total_pos as f64 / n as f64),
                    cumulative_gain: f as f64 / total_pos as f64,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_count_rounds_half_up_and_clamps() {
        assert_eq!(top_count(0.1, 30), Some(3));
        assert_eq!(top_count(0.05, 30), Some(2)); // 1.5 rounds up
        assert_eq!(top_count(0.01, 10), Some(1)); // at least one
        assert_eq!(top_count(1.0, 7), Some(7));
        assert_eq!(top_count(0.0, 7), None);
        assert_eq!(top_count(1.5, 7), None);
        assert_eq!(top_count(0.5, 0), None);
    }

    #[test]
    fn ties_at_the_cut_follow_arrival_order() {
        // Two tied scores straddle the cut at m = 1: the earlier one (negative) is taken.
        let p = lift_curve(&[0.5, 0.5], &[false, true], &[0.5]);
        assert_eq!(p[0].cumulative_gain, 0.0);
        let p = lift_curve(&[0.5, 0.5], &[true, false], &[0.5]);
        assert_eq!(p[0].cumulative_gain, 1.0);
        assert_eq!(p[0].lift, 2.0);
    }
}
