//! Chi-square test of homogeneity for a categorical feature (reference vs
//! current counts), with Cramér's V as the effect size, matching
//! `scipy.stats.chi2_contingency(table, correction=False)` and
//! `scipy.stats.contingency.association(table, method="cramer")`.
//!
//! The p-value needs the regularized upper incomplete gamma function
//! Q(a, x) = Γ(a, x)/Γ(a). It is implemented here rather than taken from
//! statrs: statrs 0.19's `ChiSquared::sf` drifts from scipy by ~1e-8
//! (relative) at 1e7 degrees of freedom, ~1e-7 at 1e8 and ~3e-6 at 1e9,
//! because it computes the prefactor x^a·e^(−x)/Γ(a) as
//! exp(a·ln x − x − lnΓ(a)), whose terms are huge and cancel.
//! Here that prefactor is formed from ln(1 + t) − t with t = (x − a)/a and
//! a Stirling remainder, which keeps full precision for any a.

use super::quantile::numpy_pairwise_sum;

/// Outcome of [`chi2_homogeneity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Result {
    /// Pearson's χ² = Σ (O − E)²/E over the 2×K table.
    pub statistic: f64,
    /// Upper tail probability of χ² with `dof` degrees of freedom.
    pub p_value: f64,
    /// K − 1, K being the number of categories seen on either side.
    pub dof: u64,
    /// Cramér's V = sqrt(χ² / N) for a 2×K table (N = all observations).
    pub cramers_v: f64,
}

/// Chi-square test of homogeneity between aligned reference and current
/// category counts (no continuity correction).
///
/// Categories that are empty on both sides are dropped first (scipy raises
/// on the zero expected counts they would cause). With a single remaining
/// category the two rows cannot differ: statistic 0, p 1, dof 0, V 0. If
/// either side has no observations (or the slices are not aligned), the
/// statistic, p-value and V are NaN and dof is 0.
pub fn chi2_homogeneity(reference_counts: &[u64], current_counts: &[u64]) -> Chi2Result {
    let undefined = Chi2Result {
        statistic: f64::NAN,
        p_value: f64::NAN,
        dof: 0,
        cramers_v: f64::NAN,
    };
    if reference_counts.len() != current_counts.len() {
        return undefined;
    }
    // Column indices of the categories observed on at least one side.
    let kept: Vec<usize> = (0..reference_counts.len())
        .filter(|&k| reference_counts[k] != 0 || current_counts[k] != 0)
        .collect();
    let ref_total: u64 = reference_counts.iter().sum();
    let cur_total: u64 = current_counts.iter().sum();
    if ref_total == 0 || cur_total == 0 {
        return undefined;
    }
    let columns = kept.len();
    if columns <= 1 {
        return Chi2Result {
            statistic: 0.0,
            p_value: 1.0,
            dof: 0,
            cramers_v: 0.0,
        };
    }
    let dof = (columns - 1) as u64;
    let row_totals = [ref_total as f64, cur_total as f64];
    let grand_total = (ref_total + cur_total) as f64;
    // Terms in scipy's (row-major) order: reference row, then current row.
    // Expected = row total × column total / N, rounded as scipy does.
    let statistic = numpy_pairwise_sum(2 * columns, |cell| {
        let (row, col) = (cell / columns, kept[cell % columns]);
        let observed = if row == 0 {
            reference_counts[col]
        } else {
            current_counts[col]
        } as f64;
        let column_total = (reference_counts[col] + current_counts[col]) as f64;
        let expected = row_totals[row] * column_total / grand_total;
        let d = observed - expected;
        d * d / expected
    });
    Chi2Result {
        statistic,
        p_value: chi2_sf(statistic, dof as f64),
        dof,
        // min(rows − 1, columns − 1) = 1 for two rows and K ≥ 2 columns.
        // V is at most 1 (reached when the two samples share no category), but the rounding of χ²
        // can put χ²/N one ulp above it.
        cramers_v: (statistic / grand_total).sqrt().min(1.0),
    }
}

/// Survival function of the chi-square distribution,
/// P(X > statistic) for X ~ χ²(dof): `scipy.special.chdtrc(dof, statistic)`.
///
/// 1 for statistic ≤ 0; 0 for an infinite statistic; NaN for NaN input or
/// dof ≤ 0 (scipy gives NaN for dof < 0; dof = 0 is the caller's special
/// case). An infinite dof gives 1 for any finite statistic, as in scipy.
pub fn chi2_sf(statistic: f64, dof: f64) -> f64 {
    if statistic.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if dof.is_infinite() {
        return if statistic.is_infinite() {
            f64::NAN
        } else {
            1.0
        };
    }
    upper_regularized_gamma(dof / 2.0, statistic / 2.0)
}

/// Q(a, x) = Γ(a, x)/Γ(a) for a > 0.
///
/// * x < a + 1: the power series of the lower function P = 1 − Q (all terms
///   positive, and P ≲ 0.6 there, so 1 − P loses at most a few bits).
/// * x ≥ a + 1: the continued fraction for Q, evaluated with the modified
///   Lentz method.
///
/// Both are scaled by the prefactor of [`power_exp_over_gamma`]. For large a
/// with x near a both need O(√a) iterations (≈ 6e4 at a = 5e7), which is still
/// well under a millisecond.
fn upper_regularized_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let max_iterations = 200 + (30.0 * a.sqrt()) as usize;
    if x < a + 1.0 {
        // P(a, x) = D · Σ_{j≥0} x^j / ((a+1)(a+2)…(a+j)), D = x^a e^-x / Γ(a+1).
        let prefactor = power_exp_over_gamma(a, x);
        if prefactor == 0.0 {
            return 1.0;
        }
        let mut term = 1.0;
        let mut series = 1.0;
        let mut denominator = a;
        for _ in 0..max_iterations {
            denominator += 1.0;
            term *= x / denominator;
            series += term;
            if term < series * f64::EPSILON * 0.5 {
                break;
            }
        }
        1.0 - prefactor * series
    } else {
        // Q(a, x) = a·D / (x + 1 − a − 1(1 − a)/(x + 3 − a − 2(2 − a)/(x + 5 − a − …))).
        let prefactor = power_exp_over_gamma(a, x);
        if prefactor == 0.0 {
            return 0.0;
        }
        // Modified Lentz: tiny stands in for a zero denominator.
        let tiny = f64::MIN_POSITIVE / f64::EPSILON;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut fraction = d;
        for i in 1..=max_iterations {
            let i = i as f64;
            let an = -i * (i - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            fraction *= delta;
            if (delta - 1.0).abs() < f64::EPSILON {
                break;
            }
        }
        a * prefactor * fraction
    }
}

/// D(a, x) = x^a · e^(−x) / Γ(a + 1), accurate to a few ulps times the size of
/// its own logarithm (which is the conditioning of D itself).
fn power_exp_over_gamma(a: f64, x: f64) -> f64 {
    if a >= STIRLING_MIN {
        // With lnΓ(a+1) = (a + ½) ln a − a + ½ ln(2π) + S(a), the huge terms
        // a·ln x and a·ln a cancel analytically:
        //   ln D = a·(ln(1 + t) − t) − S(a) − ½ ln(2πa),   t = (x − a)/a.
        let t = (x - a) / a;
        let exponent = if t.abs() <= 0.5 {
            a * ln_1p_minus_x(t)
        } else {
            a * (x / a).ln() - (x - a)
        };
        (exponent - stirling_remainder(a)).exp() / (2.0 * std::f64::consts::PI * a).sqrt()
    } else {
        // Small a: the logarithms are modest, so the direct form is accurate.
        (a * x.ln() - x - ln_gamma_1p_small(a)).exp()
    }
}

/// Below this, lnΓ is obtained by shifting the argument up to it.
const STIRLING_MIN: f64 = 10.0;

/// S(z) = lnΓ(z) − [(z − ½) ln z − z + ½ ln 2π], the Stirling series
/// Σ B₂ₖ / (2k(2k−1) z^(2k−1)); eight terms give < 1e-16 absolute for z ≥ 10.
fn stirling_remainder(z: f64) -> f64 {
    const COEFFS: [f64; 8] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360360.0,
        1.0 / 156.0,
        -3617.0 / 122400.0,
    ];
    let inv = 1.0 / z;
    let inv2 = inv * inv;
    // Horner in 1/z² from the smallest term.
    let poly = COEFFS.iter().rev().fold(0.0, |acc, &c| acc * inv2 + c);
    poly * inv
}

/// lnΓ(a + 1) for 0 < a < STIRLING_MIN via Γ(z) = Γ(z + k) / (z(z+1)…(z+k−1)).
fn ln_gamma_1p_small(a: f64) -> f64 {
    let mut z = a + 1.0;
    let mut product = 1.0;
    while z < STIRLING_MIN {
        product *= z;
        z += 1.0;
    }
    let ln_gamma_z =
        (z - 0.5) * z.ln() - z + 0.5 * (2.0 * std::f64::consts::PI).ln() + stirling_remainder(z);
    ln_gamma_z - product.ln()
}

/// ln(1 + t) − t for |t| ≤ 0.5, without the cancellation of the direct form.
///
/// With y = t/(2 + t): ln(1 + t) = 2·atanh(y) = 2(y + y³/3 + y⁵/5 + …) and
/// t − 2y = t·y, so ln(1 + t) − t = −t·y + 2(y³/3 + y⁵/5 + …). |y| ≤ 1/3.
fn ln_1p_minus_x(t: f64) -> f64 {
    let y = t / (2.0 + t);
    let y2 = y * y;
    let mut power = y * y2; // y^(2k+1)
    let mut odd = 3.0;
    let mut tail = 0.0;
    while power.abs() > f64::EPSILON * 1e-3 * (t * y).abs().max(f64::MIN_POSITIVE) {
        tail += power / odd;
        power *= y2;
        odd += 2.0;
    }
    -t * y + 2.0 * tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drift_stats.json"
    ));

    fn fixtures() -> Value {
        serde_json::from_str(FIXTURES).expect("fixture JSON parses")
    }

    fn num(v: &Value) -> f64 {
        if v.is_null() {
            f64::NAN
        } else {
            v.as_f64().expect("number or null")
        }
    }

    fn vec_u64(v: &Value) -> Vec<u64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    }

    /// Counts from `modular_counts` in gen_drift_fixtures.py:
    /// c_k = (k·mul + add) mod modulus + base.
    fn counts(v: &Value) -> Vec<u64> {
        if let Some(spec) = v.as_object() {
            let (k, mul, add, modulus, base) = (
                spec["k"].as_u64().unwrap(),
                spec["mul"].as_u64().unwrap(),
                spec["add"].as_u64().unwrap(),
                spec["modulus"].as_u64().unwrap(),
                spec["base"].as_u64().unwrap(),
            );
            (0..k).map(|i| (i * mul + add) % modulus + base).collect()
        } else {
            vec_u64(v)
        }
    }

    /// p-values: 1e-9 relative, or 1e-12 absolute where scipy's value is below
    /// 1e-300 (subnormal territory, where relative precision is meaningless).
    fn assert_p(got: f64, want: f64, what: &str) {
        if want.is_nan() {
            assert!(got.is_nan(), "{what}: got {got:e}, want NaN");
            return;
        }
        let err = (got - want).abs();
        let ok = if want < 1e-300 {
            err <= 1e-12
        } else {
            err <= 1e-9 * want
        };
        assert!(
            ok,
            "{what}: got {got:e}, scipy {want:e} (rel {:e})",
            err / want
        );
    }

    fn assert_rel(got: f64, want: f64, rel: f64, what: &str) {
        if want.is_nan() {
            assert!(got.is_nan(), "{what}: got {got:e}, want NaN");
            return;
        }
        let err = (got - want).abs();
        assert!(
            err <= rel * want.abs(),
            "{what}: got {got:e}, want {want:e}"
        );
    }

    #[test]
    fn homogeneity_matches_scipy_chi2_contingency() {
        let fx = fixtures();
        let cases = fx["chi2"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let r = counts(&case["reference_counts"]);
            let c = counts(&case["current_counts"]);
            let got = chi2_homogeneity(&r, &c);
            assert_eq!(got.dof, case["dof"].as_u64().unwrap(), "{name}: dof");
            assert_rel(got.statistic, num(&case["statistic"]), 1e-12, name);
            assert_p(got.p_value, num(&case["p_value"]), name);
            assert_rel(got.cramers_v, num(&case["cramers_v"]), 1e-12, name);
        }
    }

    #[test]
    fn sf_matches_scipy_chdtrc_across_the_range() {
        let fx = fixtures();
        let cases = fx["chi2_sf"].as_array().unwrap();
        assert!(cases.len() >= 100);
        for case in cases {
            let (dof, x) = (num(&case["dof"]), num(&case["x"]));
            assert_p(
                chi2_sf(x, dof),
                num(&case["p"]),
                &format!("dof={dof} x={x}"),
            );
        }
    }

    #[test]
    fn sf_matches_exact_poisson_sums() {
        // Even dof: Q is a finite Poisson sum, evaluated in 50-digit decimal by
        // the generator. This checks accuracy itself (scipy is off by up to
        // ~6e-13 here), well beyond the 1e-9 agreement needed. An input
        // rounding of x alone moves ln Q by ~eps·|ln Q|, hence the tolerance
        // (observed worst: 13·eps·(1 + |ln Q|)).
        let fx = fixtures();
        let cases = fx["chi2_sf_exact"].as_array().unwrap();
        assert!(cases.len() >= 100);
        for case in cases {
            let (dof, x, want) = (num(&case["dof"]), num(&case["x"]), num(&case["p"]));
            let got = chi2_sf(x, dof);
            let tolerance = 32.0 * f64::EPSILON * (1.0 + want.ln().abs()) * want;
            assert!(
                (got - want).abs() <= tolerance,
                "dof={dof} x={x}: got {got:e}, exact {want:e} (rel {:e})",
                (got - want).abs() / want
            );
        }
    }

    #[test]
    fn degenerate_tables() {
        let nan = chi2_homogeneity(&[0, 0], &[3, 4]);
        assert!(nan.statistic.is_nan() && nan.p_value.is_nan() && nan.cramers_v.is_nan());
        assert!(chi2_homogeneity(&[1, 2], &[1]).statistic.is_nan());
        // One category seen (the others empty on both sides): nothing to test.
        let single = chi2_homogeneity(&[0, 5, 0], &[0, 9, 0]);
        assert_eq!(
            (single.statistic, single.p_value, single.dof),
            (0.0, 1.0, 0)
        );
        assert_eq!(single.cramers_v, 0.0);
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
        assert_eq!(chi2_sf(f64::INFINITY, 3.0), 0.0);
        assert!(chi2_sf(1.0, 0.0).is_nan());
        assert!(chi2_sf(f64::NAN, 2.0).is_nan());
        assert_eq!(chi2_sf(1e300, f64::INFINITY), 1.0);
    }

    #[test]
    fn cramers_v_stays_within_one_when_the_samples_share_no_category() {
        // Disjoint samples have χ² = N exactly, so V = 1; the computed χ² can round above N.
        let mut above = 0;
        for a in 1..60u64 {
            for b in 1..60u64 {
                for split in 1..a.min(4) {
                    let r = chi2_homogeneity(&[a - split, split, 0], &[0, 0, b]);
                    assert!(r.cramers_v <= 1.0, "{a} {b} {split}: V = {}", r.cramers_v);
                    above += usize::from(r.statistic > (a + b) as f64);
                }
            }
        }
        // The case the clamp is for does occur in this range.
        assert!(above > 0);
    }

    #[test]
    fn dropping_empty_categories_changes_nothing_else() {
        let a = chi2_homogeneity(&[30, 0, 10, 25], &[20, 0, 15, 30]);
        let b = chi2_homogeneity(&[30, 10, 25], &[20, 15, 30]);
        assert_eq!(a, b);
        assert_eq!(a.dof, 2);
    }

    #[test]
    fn ln_1p_minus_x_agrees_with_direct_form_where_that_is_safe() {
        for &t in &[-0.5, -0.3, -0.1, 0.1, 0.3, 0.5] {
            let direct = f64::ln_1p(t) - t;
            assert!(
                (ln_1p_minus_x(t) - direct).abs() <= 1e-15 * direct.abs(),
                "t={t}"
            );
        }
        let t = 1e-6;
        // Taylor series −t²/2 + t³/3 − t⁴/4; the rest is below 1e-18 relative.
        let series = -t * t / 2.0 + t * t * t / 3.0 - t * t * t * t / 4.0;
        assert!((ln_1p_minus_x(t) - series).abs() <= 1e-15 * series.abs());
    }
}
