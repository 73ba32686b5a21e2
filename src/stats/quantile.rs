//! Order statistics and moments of a numeric sample, matching numpy.
//!
//! * [`quantile_sorted`] is `numpy.quantile(x, q)` with the default method
//!   `"linear"` (Hyndman & Fan type 7), reproducing numpy's arithmetic step by
//!   step so that results are bit-identical, not merely close.
//! * [`mean`] and [`population_std`] are `numpy.mean` and `numpy.std(ddof=0)`,
//!   computed with compensated two-pass sums. They are at least as accurate as
//!   numpy (numpy uses plain pairwise summation), so they agree with it to
//!   numpy's own rounding error.
//! * [`numpy_pairwise_sum`] reproduces the exact summation order of
//!   `numpy.sum` over a contiguous float64 array. The sibling modules use it
//!   for per-category sums that should be bit-identical to numpy/scipy:
//!   Jensen–Shannon, PSI and the chi-square statistic.

/// `numpy.quantile(x, q)` (method `"linear"`) of an ascending, NaN-free slice.
///
/// Returns NaN for an empty slice and for `q` outside `[0, 1]` or NaN
/// (numpy raises a `ValueError` there).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    // numpy: virtual index = (n - 1) * q, computed in float64.
    let last = (n - 1) as f64;
    let virtual_index = last * q;
    let (below, above, gamma) = if virtual_index >= last {
        // numpy clamps both neighbours to the last element and computes gamma
        // against the clamped index -1, i.e. gamma = virtual_index + 1 (>= 1).
        // The interpolation then returns the last element exactly (or NaN for
        // an infinite last element, like numpy).
        (n - 1, n - 1, virtual_index + 1.0)
    } else {
        let floor = virtual_index.floor();
        let i = floor as usize;
        (i, i + 1, virtual_index - floor)
    };
    numpy_lerp(sorted[below], sorted[above], gamma)
}

/// numpy's `_lerp`: interpolate from the nearer end point so that `t = 1`
/// returns `b` exactly and the result is monotone in `t`. Kept as separate
/// multiply and add (no fused multiply-add), exactly as numpy evaluates it.
fn numpy_lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Arithmetic mean (`numpy.mean`); NaN for an empty slice.
///
/// The sum is compensated, so the only rounding of note is the final division.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    sum(values) / values.len() as f64
}

/// Compensated sum of the values; 0 for an empty slice. Accurate to about one rounding of the result,
/// however many values and whatever their order.
pub fn sum(values: &[f64]) -> f64 {
    // Four interleaved compensated sums: each is a serial chain of dependent
    // additions, and independent chains run several times faster than one.
    let mut ways = [CompensatedSum::default(); 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for chunk in chunks {
        ways[0].add(chunk[0]);
        ways[1].add(chunk[1]);
        ways[2].add(chunk[2]);
        ways[3].add(chunk[3]);
    }
    for &x in rest {
        ways[0].add(x);
    }
    // Adding +0.0 turns the empty sum (-0.0) into 0.
    0.0 + CompensatedSum::merged(&ways)
}

/// Population standard deviation (`numpy.std(x)`, `ddof = 0`); NaN for an
/// empty slice.
///
/// Two passes: the mean first, then the corrected sum of squares
/// Σd² − (Σd)²/n with d = x − mean. The (Σd)²/n term removes the error left
/// by rounding the mean. Σd² is compensated; Σd is tiny (the mean is
/// accurate) and enters only squared, so a plain sum suffices for it.
/// Squares overflow for |x| ≳ 1e154, as they do in numpy.
pub fn population_std(values: &[f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let m = mean(values);
    let mut squares = [CompensatedSum::default(); 2];
    let mut deviations = [0.0f64; 2];
    let chunks = values.chunks_exact(2);
    let rest = chunks.remainder();
    for chunk in chunks {
        let (d0, d1) = (chunk[0] - m, chunk[1] - m);
        squares[0].add(d0 * d0);
        squares[1].add(d1 * d1);
        deviations[0] += d0;
        deviations[1] += d1;
    }
    for &x in rest {
        let d = x - m;
        squares[0].add(d * d);
        deviations[0] += d;
    }
    let squares = CompensatedSum::merged(&squares);
    let deviations = deviations[0] + deviations[1];
    let nf = n as f64;
    let variance = (squares - deviations * deviations / nf) / nf;
    // Cancellation can leave a tiny negative number for a constant sample.
    variance.max(0.0).sqrt()
}

/// Compensated summation: a running sum plus the exactly recovered rounding
/// error of every addition (Knuth's branch-free TwoSum), so the result is
/// accurate to about one rounding regardless of length or term ordering.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    #[inline(always)]
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        // t − s and t − (t − s) reconstruct the parts of x and s that made it
        // into t; what is left over is the exact rounding error of s + x.
        let x_part = t - self.sum;
        let s_part = t - x_part;
        self.compensation += (self.sum - s_part) + (x - x_part);
        self.sum = t;
    }

    /// Value of several partial sums combined.
    pub(crate) fn merged(parts: &[CompensatedSum]) -> f64 {
        let mut total = CompensatedSum::default();
        for part in parts {
            total.add_sum(part);
        }
        total.value()
    }

    /// Merge another compensated sum into this one.
    pub(crate) fn add_sum(&mut self, other: &CompensatedSum) {
        self.add(other.sum);
        self.add(other.compensation);
    }

    #[inline]
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Sum of `term(0) .. term(n-1)` in exactly the order `numpy.sum` uses for a
/// contiguous float64 array (`pairwise_sum` in numpy's C loops): sequential
/// below 8 terms, eight interleaved accumulators up to 128 terms, and a
/// recursive split (at a multiple of 8 near the middle) above that.
///
/// The terms are produced on demand, so nothing proportional to `n` is
/// allocated; each index is evaluated exactly once, in ascending order.
pub(crate) fn numpy_pairwise_sum<F: FnMut(usize) -> f64>(n: usize, mut term: F) -> f64 {
    pairwise_block(0, n, &mut term)
}

fn pairwise_block<F: FnMut(usize) -> f64>(start: usize, n: usize, term: &mut F) -> f64 {
    if n < 8 {
        // numpy starts from -0.0 so that a sum of negative zeros stays -0.0.
        let mut res = -0.0;
        for i in start..start + n {
            res += term(i);
        }
        res
    } else if n <= 128 {
        let mut acc = [0.0f64; 8];
        for (j, a) in acc.iter_mut().enumerate() {
            *a = term(start + j);
        }
        let unrolled = n - n % 8;
        let mut i = 8;
        while i < unrolled {
            for (j, a) in acc.iter_mut().enumerate() {
                *a += term(start + i + j);
            }
            i += 8;
        }
        let mut res =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        while i < n {
            res += term(start + i);
            i += 1;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        let left = pairwise_block(start, half, term);
        let right = pairwise_block(start + half, n - half, term);
        left + right
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn sum_is_compensated_and_the_empty_sum_is_positive_zero() {
        assert_eq!(sum(&[]).to_bits(), 0.0f64.to_bits());
        assert_eq!(sum(&[-0.0, -0.0]).to_bits(), 0.0f64.to_bits());
        // A plain left-to-right sum loses the 1 entirely.
        assert_eq!(sum(&[1e16, 1.0, -1e16, 1.0, 0.5]), 2.5);
        let values: Vec<f64> = (1..=1001).map(|i| i as f64 * 0.1).collect();
        assert!((sum(&values) - 50150.1).abs() <= 1e-9, "{}", sum(&values));
        assert_eq!(mean(&values), sum(&values) / 1001.0);
    }

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drift_stats.json"
    ));

    fn fixtures() -> Value {
        serde_json::from_str(FIXTURES).expect("fixture JSON parses")
    }

    /// JSON number, or `null` for NaN (JSON has no NaN).
    fn num(v: &Value) -> f64 {
        if v.is_null() {
            f64::NAN
        } else {
            v.as_f64().expect("number or null")
        }
    }

    fn vec_f64(v: &Value) -> Vec<f64> {
        v.as_array().expect("array").iter().map(num).collect()
    }

    #[test]
    fn quantiles_are_bit_identical_to_numpy() {
        let fx = fixtures();
        let cases = fx["quantile"].as_array().unwrap();
        assert!(cases.len() >= 10);
        let mut checked = 0;
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let mut x = vec_f64(&case["x"]);
            x.sort_by(f64::total_cmp);
            let qs = vec_f64(&case["q"]);
            let expected = vec_f64(&case["quantiles"]);
            assert_eq!(qs.len(), expected.len());
            for (&q, &want) in qs.iter().zip(&expected) {
                let got = quantile_sorted(&x, q);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{name}: q={q}: got {got:e}, numpy {want:e}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn mean_and_std_agree_with_numpy() {
        let fx = fixtures();
        for case in fx["quantile"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let x = vec_f64(&case["x"]);
            let (Some(want_mean), Some(want_std)) = (case.get("mean"), case.get("std")) else {
                continue;
            };
            let (want_mean, want_std) = (num(want_mean), num(want_std));
            let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            // numpy's own result carries rounding of order eps * max|x| (from
            // its mean); beyond that we demand 1e-12 relative agreement.
            let tol = |want: f64| 1e-12 * want.abs() + 8.0 * f64::EPSILON * scale;
            let got_mean = mean(&x);
            assert!(
                (got_mean - want_mean).abs() <= tol(want_mean),
                "{name}: mean {got_mean:e} vs numpy {want_mean:e}"
            );
            let got_std = population_std(&x);
            assert!(
                (got_std - want_std).abs() <= tol(want_std),
                "{name}: std {got_std:e} vs numpy {want_std:e}"
            );
        }
    }

    #[test]
    fn empty_and_out_of_range_give_nan() {
        assert!(quantile_sorted(&[], 0.5).is_nan());
        assert!(quantile_sorted(&[1.0, 2.0], 1.5).is_nan());
        assert!(quantile_sorted(&[1.0, 2.0], -0.1).is_nan());
        assert!(quantile_sorted(&[1.0, 2.0], f64::NAN).is_nan());
        // numpy's interpolation with an infinite end point (checked against
        // numpy 2.4.6): inf − inf inside the lerp gives NaN, as here.
        assert!(quantile_sorted(&[1.0, f64::INFINITY], 1.0).is_nan());
        assert!(quantile_sorted(&[1.0, f64::INFINITY], 0.5).is_nan());
        assert_eq!(quantile_sorted(&[1.0, f64::INFINITY], 0.25), f64::INFINITY);
        assert!(mean(&[]).is_nan());
        assert!(population_std(&[]).is_nan());
    }

    #[test]
    fn pairwise_sum_matches_numpy_order() {
        let fx = fixtures();
        let cases = fx["numpy_sum"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let x = vec_f64(&case["x"]);
            let want = num(&case["sum"]);
            let got = numpy_pairwise_sum(x.len(), |i| x[i]);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "n={}: {got:e} vs {want:e}",
                x.len()
            );
        }
    }

    #[test]
    fn compensated_sum_recovers_cancelled_bits() {
        // 1e16 + 1 - 1e16 loses the 1 in plain summation.
        let mut s = CompensatedSum::default();
        for v in [1e16, 1.0, -1e16, 1.0] {
            s.add(v);
        }
        assert_eq!(s.value(), 2.0);
    }
}
