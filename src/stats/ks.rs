//! The two-sample Kolmogorov–Smirnov test as scipy 1.17 computes it (`scipy.stats.ks_2samp` with
//! `method="auto"`, two-sided), and the finite-n Kolmogorov distribution `kstwo` it uses for large
//! samples.
//!
//! - The statistic is the largest gap between the two empirical CDFs, each evaluated as `count / n` in
//!   floating point and then subtracted, exactly as scipy does (the last bits matter in the asymptotic
//!   branch, which keeps the raw float).
//! - Up to 10,000 values per side the p-value is exact: the reflection sum for equal sizes, and the
//!   lattice-path ("inside") method of Hodges in Viehmann's form for unequal sizes. The statistic is then
//!   re-quantised to h / lcm(n1, n2).
//! - Beyond that it is `kstwo.sf(D, round_half_even(n1 n2 / (n1 + n2)))`, computed with the algorithm
//!   selection of Simard and L'Ecuyer (2011): the Ruben–Gambino closed forms at the extremes, Durbin's
//!   matrix (Marsaglia, Tsang and Wang 2003), Pomeranz's recursion, the Pelz–Good asymptotic series,
//!   and the exact one-sided Smirnov (Birnbaum–Tingey) sum, which dominates the cost and is evaluated in
//!   O(√n / d) time rather than term by term (see `smirnov_sf`).

/// Largest sample size (of either side) for which the exact distribution is used.
pub const MAX_EXACT_N: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    Exact,
    Asymptotic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
    pub method: KsMethod,
}

/// Two-sided two-sample KS test of two samples sorted ascending, without NaN. Either sample empty gives
/// NaN (scipy warns and returns NaN too).
pub fn ks_2samp_sorted(reference: &[f64], current: &[f64]) -> KsResult {
    debug_assert!(
        reference.windows(2).all(|w| w[0] <= w[1]),
        "reference not sorted"
    );
    debug_assert!(
        current.windows(2).all(|w| w[0] <= w[1]),
        "current not sorted"
    );
    let (n1, n2) = (reference.len(), current.len());
    if n1 == 0 || n2 == 0 {
        return KsResult {
            statistic: f64::NAN,
            p_value: f64::NAN,
            method: KsMethod::Exact,
        };
    }
    // The merge of `merge_statistics` (several lanes, run ends checked only at extremes) is several
    // times faster than the plain `statistic` and gives the same bits; the tests hold it to that.
    let d = crate::stats::distance::merge_statistics(reference, current).ks_statistic;
    ks_from_statistic(n1, n2, d)
}

/// The KS test from a statistic already computed (by `statistic` or by
/// `distance::merge_statistics`, which also gives the Wasserstein distance).
pub fn ks_from_statistic(n1: usize, n2: usize, d: f64) -> KsResult {
    if n1 == 0 || n2 == 0 || d.is_nan() {
        return KsResult {
            statistic: f64::NAN,
            p_value: f64::NAN,
            method: KsMethod::Exact,
        };
    }
    if n1.max(n2) <= MAX_EXACT_N
        && let Some((d_exact, p)) = exact(n1 as u64, n2 as u64, d)
    {
        return KsResult {
            statistic: d_exact,
            p_value: p,
            method: KsMethod::Exact,
        };
    }
    KsResult {
        statistic: d,
        p_value: asymptotic(n1 as f64, n2 as f64, d),
        method: KsMethod::Asymptotic,
    }
}

/// The largest |F1 − F2| over the pooled values, with each CDF as a float ratio first, as scipy forms
/// them. Both CDFs are right-continuous and only change at data points, so visiting each distinct value
/// once in a merge gives exactly the (count1, count2) pairs scipy evaluates.
///
/// The drift evaluator gets the same number from `distance::merge_statistics`, which is faster; this
/// plain version is the specification the fast one is tested against.
pub fn statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut max_diff, mut min_diff) = (f64::NEG_INFINITY, f64::INFINITY);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => unreachable!(),
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    // A tie between the two directions goes to the positive one; the value is the same either way.
    if min_s > max_diff { min_s } else { max_diff }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Rounds half to even, as `numpy.round` does.
fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Exact p-value and the re-quantised statistic, or `None` if the computation failed (then the caller
/// falls back to the asymptotic distribution, as scipy does).
fn exact(n1: u64, n2: u64, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even();
    let d = h / lcm as f64;
    if h == 0.0 {
        return Some((d, 1.0));
    }
    let h = h as u64;
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        prob_outside_band(n1.max(n2), n1.min(n2), g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some((d, p))
}

/// P(D ≥ h/n) for two samples of size n: the reflection-principle sum
/// 2 Σ_{k≥1} (−1)^{k−1} C(2n, n − kh) / C(2n, n), evaluated as a nested product
/// 2·A₁(1 − A₂(1 − A₃(…))) where A_k is the ratio of consecutive binomial terms, so the alternating sum
/// never cancels and tiny p-values keep their precision.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    loop {
        // A_k = C(2n, n − (k+1)h) / C(2n, n − kh) shifted to start at k = 0: the ratio C(2n, n − (k+1)h)
        // over C(2n, n − kh) is the product over j < h of (n − kh − j) / (n + kh + j + 1).
        let mut ratio = 1.0;
        let kh = k * h;
        for j in 0..h {
            ratio =
                (n as f64 - kh as f64 - j as f64) * ratio / (n as f64 + kh as f64 + j as f64 + 1.0);
        }
        p = ratio * (1.0 - p);
        if k == 0 {
            break;
        }
        k -= 1;
    }
    2.0 * p
}

/// P(D ≥ h/lcm) for sample sizes m ≥ n by the "inside" lattice-path method: walk the m × n lattice
/// column by column, keeping for each cell inside the band |n'x − m'y| < h (n' = n/g, m' = m/g) the
/// probability that a uniformly random monotone path to it has already left the band. A cell's value is
/// the average of its left and lower neighbours weighted by the number of paths through each,
/// (i·left + j·below) / (i + j); cells outside the band are 1. The value at (m, n) is the p-value. Only
/// averages of numbers in [0, 1] are formed, so nothing overflows and small p-values stay accurate.
fn prob_outside_band(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let h = h as f64;
    let top = n as usize;
    // Band of column i: the j with |ng·i − mg·j| < h, as a half-open range.
    let band = |i: f64| -> (usize, usize) {
        let lo = ((ng * i - h) / mg).floor() + 1.0;
        let hi = ((ng * i + h) / mg).ceil();
        (
            lo.clamp(0.0, n as f64) as usize,
            hi.clamp(0.0, n as f64 + 1.0) as usize,
        )
    };
    // The column is updated in place. Invariant: entries outside the current band hold 1 (every path
    // there has left the band).
    let mut col = vec![1.0f64; top + 1];
    let (mut lo, mut hi) = band(0.0);
    for v in &mut col[lo..hi] {
        *v = 0.0;
    }
    for i in 1..=m {
        let (new_lo, new_hi) = band(i as f64);
        if new_hi <= new_lo {
            return 1.0;
        }
        let fi = i as f64;
        // The cell just below the band is outside it.
        let mut below = 1.0;
        for (j, cell) in col.iter_mut().enumerate().take(new_hi).skip(new_lo) {
            let fj = j as f64;
            let v = (fi * *cell + fj * below) / (fi + fj);
            *cell = v;
            below = v;
        }
        // Cells the band has moved past are outside it now.
        for cell in &mut col[lo..new_lo.min(hi)] {
            *cell = 1.0;
        }
        if new_hi < hi {
            for cell in &mut col[new_hi..hi] {
                *cell = 1.0;
            }
        }
        lo = new_lo;
        hi = new_hi;
    }
    col[top]
}

/// The asymptotic p-value: `kstwo.sf(D, round_half_even(m n / (m + n)))`, m ≥ n as floats.
fn asymptotic(n1: f64, n2: f64, d: f64) -> f64 {
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let en = m * n / (m + n);
    let big_n = round_half_even(en);
    if big_n < 1.0 {
        return f64::NAN;
    }
    kstwo_sf(d, big_n as u64).clamp(0.0, 1.0)
}

/// `scipy.stats.kstwo.sf(d, n)`: P(D_n ≥ d) for the one-sample two-sided statistic with n values.
pub fn kstwo_sf(d: f64, n: u64) -> f64 {
    if n == 0 || d.is_nan() {
        return f64::NAN;
    }
    let nf = n as f64;
    if d >= 1.0 {
        return 0.0;
    }
    if d <= 0.5 / nf {
        return 1.0;
    }
    let t = nf * d;
    if t <= 1.0 {
        return 1.0 - ruben_gambino_cdf(n, t);
    }
    if t >= nf - 1.0 {
        return (2.0 * (1.0 - d).powf(nf)).clamp(0.0, 1.0);
    }
    if d >= 0.5 {
        return (2.0 * smirnov_sf(n, d)).clamp(0.0, 1.0);
    }
    let nd2 = t * d;
    if n <= 140 {
        if nd2 <= 0.754693 {
            return (1.0 - durbin_cdf(n, d)).clamp(0.0, 1.0);
        }
        if nd2 <= 4.0 {
            return (1.0 - pomeranz_cdf(n, d)).clamp(0.0, 1.0);
        }
        return (2.0 * smirnov_sf(n, d)).clamp(0.0, 1.0);
    }
    if nd2 >= 370.0 {
        return 0.0;
    }
    if nd2 >= 2.2 {
        return (2.0 * smirnov_sf(n, d)).clamp(0.0, 1.0);
    }
    if n <= 100_000 && nf * d.powf(1.5) <= 1.4 {
        return (1.0 - durbin_cdf(n, d)).clamp(0.0, 1.0);
    }
    pelz_good_sf(n, d).clamp(0.0, 1.0)
}

/// ln Γ(x) for x > 0 (Lanczos approximation via statrs).
fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

/// ln(n! / nⁿ).
fn ln_factorial_over_power(n: u64) -> f64 {
    let nf = n as f64;
    ln_gamma(nf + 1.0) - nf * nf.ln()
}

/// Ruben and Gambino's closed form for 1/2 < t = nd ≤ 1: P(D_n < d) = n!/nⁿ (2t − 1)ⁿ.
fn ruben_gambino_cdf(n: u64, t: f64) -> f64 {
    if t <= 0.5 {
        return 0.0;
    }
    let base = 2.0 * t - 1.0;
    if n <= 140 {
        let nf = n as f64;
        (1..=n).fold(1.0, |acc, i| acc * (i as f64 / nf) * base)
    } else {
        (ln_factorial_over_power(n) + n as f64 * base.ln()).exp()
    }
}

/// P(D_n < d) by Durbin's matrix method in the form of Marsaglia, Tsang and Wang (2003): with
/// k = ⌈nd⌉, h = k − nd and m = 2k − 1, the probability is n!/nⁿ times the (k, k) entry of Hⁿ, where H is
/// an m × m matrix of inverse factorials with corrected first column and last row. Hⁿ is formed by
/// repeated squaring with the scale kept as a separate power of two.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    let nd = n as f64 * d;
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut fact_inv = vec![1.0f64; m + 2];
    for i in 1..m + 2 {
        fact_inv[i] = fact_inv[i - 1] / i as f64;
    }
    let mut hm = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                hm[i * m + j] = fact_inv[i + 1 - j];
            }
        }
    }
    for i in 0..m {
        hm[i * m] = (1.0 - h.powi(i as i32 + 1)) * fact_inv[i + 1];
        hm[(m - 1) * m + i] = (1.0 - h.powi((m - i) as i32)) * fact_inv[m - i];
    }
    let corner = (2.0 * h - 1.0).max(0.0).powi(m as i32);
    hm[(m - 1) * m] = (1.0 - 2.0 * h.powi(m as i32) + corner) * fact_inv[m];

    let mul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut c = vec![0.0f64; m * m];
        for i in 0..m {
            for l in 0..m {
                let x = a[i * m + l];
                if x == 0.0 {
                    continue;
                }
                let row = &b[l * m..(l + 1) * m];
                for (cj, bj) in c[i * m..(i + 1) * m].iter_mut().zip(row) {
                    *cj += x * bj;
                }
            }
        }
        c
    };
    const SCALE_BITS: i32 = 256;
    let scale_down = 2f64.powi(-SCALE_BITS);
    let (mut base, mut base_exp) = (hm, 0i64);
    let mut acc: Option<(Vec<f64>, i64)> = None;
    let mut e = n;
    let centre = (k - 1) * m + (k - 1);
    while e > 0 {
        if e & 1 == 1 {
            acc = Some(match acc {
                None => (base.clone(), base_exp),
                Some((a, ae)) => {
                    let mut p = mul(&a, &base);
                    let mut pe = ae + base_exp;
                    if p[centre].abs() > 2f64.powi(SCALE_BITS) {
                        p.iter_mut().for_each(|v| *v *= scale_down);
                        pe += SCALE_BITS as i64;
                    }
                    (p, pe)
                }
            });
        }
        e >>= 1;
        if e > 0 {
            base = mul(&base, &base);
            base_exp *= 2;
            if base[centre].abs() > 2f64.powi(SCALE_BITS) {
                base.iter_mut().for_each(|v| *v *= scale_down);
                base_exp += SCALE_BITS as i64;
            }
        }
    }
    let (a, mut exp2) = acc.expect("n > 0");
    let mut p = a[centre];
    // Multiply by n!/nⁿ one factor at a time, rescaling so nothing underflows.
    let nf = n as f64;
    for i in 1..=n {
        p = p * i as f64 / nf;
        if p != 0.0 && p.abs() < 2f64.powi(-SCALE_BITS) {
            p *= 2f64.powi(SCALE_BITS);
            exp2 -= SCALE_BITS as i64;
        }
    }
    ldexp(p, exp2)
}

fn ldexp(x: f64, e: i64) -> f64 {
    let mut x = x;
    let mut e = e;
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e as i32)
}

/// P(D_n < d) by Pomeranz's recursion (1974), as presented by Simard and L'Ecuyer (2011).
///
/// Scale the n uniform points to [0, n] and view them as a rate-1 Poisson process conditioned on n
/// points in all. With t = nd, D_n < d holds exactly when the count N(x) of points up to x satisfies
/// x − t < N(x) < x + t at the critical points x = m ± g (g the distance from t to the nearest
/// integer), plus N(n) = n. Between consecutive critical points the count grows by a Poisson increment,
/// so the probability is a chain of convolutions with kernels (w/n)^k / k! (w the gap width), restricted
/// to the allowed counts at each point, and finally multiplied by n!. The bounds of the allowed counts
/// are worked out with integer logic, because at half the critical points x ± t is an exact integer
/// that floating-point rounding would misplace.
fn pomeranz_cdf(n: u64, d: f64) -> f64 {
    let nn = n as i64;
    let t = n as f64 * d;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let kmax = (2 * ll + 4) as usize;
    let kernel = |width: f64| -> Vec<f64> {
        let mut v = vec![1.0f64; kmax + 1];
        for k in 1..=kmax {
            v[k] = v[k - 1] * (width / n as f64) / k as f64;
        }
        v
    };
    let (k_end, k_narrow, k_wide) = (kernel(g), kernel(1.0 - 2.0 * g), kernel(2.0 * g));
    // Critical point i (2 ≤ i ≤ 2n + 1) is m + g for even i (m = i/2 − 1) and m − g for odd i
    // (m = (i − 1)/2). Its allowed counts are (m − ll) + lo_off ..= (m + ll) + hi_off.
    let bounds = |i: i64| -> (i64, i64) {
        if i == 2 * nn + 2 {
            return (nn, nn);
        }
        let (m, plus) = if i % 2 == 0 {
            (i / 2 - 1, true)
        } else {
            ((i - 1) / 2, false)
        };
        let (lo_off, hi_off) = if f > 0.5 {
            (0, 0)
        } else if f == 0.0 {
            (1, -1)
        } else if plus {
            (1, 0)
        } else {
            (0, -1)
        };
        ((m - ll + lo_off).max(0), (m + ll + hi_off).min(nn))
    };
    // Row at x = 0: no points yet.
    let (mut lo, mut hi) = (0i64, 0i64);
    let mut row = vec![1.0f64];
    let mut exp2: i64 = 0;
    for i in 2..=2 * nn + 2 {
        let ker = if i == 2 || i == 2 * nn + 2 {
            &k_end
        } else if i % 2 == 1 {
            &k_narrow
        } else {
            &k_wide
        };
        let (new_lo, new_hi) = bounds(i);
        if new_hi < new_lo {
            return 0.0;
        }
        let mut next = vec![0.0f64; (new_hi - new_lo + 1) as usize];
        for (jj, out) in next.iter_mut().enumerate() {
            let j = new_lo + jj as i64;
            let from = lo.max(j - kmax as i64);
            let to = hi.min(j);
            let mut s = 0.0;
            for k in from..=to {
                s += row[(k - lo) as usize] * ker[(j - k) as usize];
            }
            *out = s;
        }
        let max = next.iter().cloned().fold(0.0f64, f64::max);
        if max > 0.0 && max < 2f64.powi(-256) {
            next.iter_mut().for_each(|v| *v *= 2f64.powi(256));
            exp2 -= 256;
        }
        row = next;
        lo = new_lo;
        hi = new_hi;
    }
    let mut p = row[(nn - lo) as usize];
    for k in 1..=n {
        p *= k as f64;
        if p.abs() > 2f64.powi(256) {
            p *= 2f64.powi(-256);
            exp2 += 256;
        }
    }
    ldexp(p, exp2)
}

/// The Pelz–Good (1976) asymptotic expansion of the two-sided distribution,
/// P(D_n < d) ≈ K₀(z) + K₁(z)/√n + K₂(z)/n + K₃(z)/n^{3/2} with z = d√n, each term written as the
/// rapidly converging theta-function series for small z. Returns the survival function.
fn pelz_good_sf(n: u64, d: f64) -> f64 {
    use std::f64::consts::PI;
    let nf = n as f64;
    let z = nf.sqrt() * d;
    let (z2, z3, z4, z6) = (z * z, z * z * z, z.powi(4), z.powi(6));
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 1.0;
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let kmax = (16.0 * z / PI).ceil().max(1.0) as usize;
    // Sums over odd m = 2k − 1 of polynomial(m) · exp(−π² m² / (8 z²)).
    let (mut s0, mut s1, mut s2, mut s3) = (0.0, 0.0, 0.0, 0.0);
    for k in (1..=kmax).rev() {
        let m = (2 * k - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let e = (qlog * m2).exp();
        s0 += e;
        s1 += (pi2 * m2 / 4.0 - z2) * e;
        s2 += (6.0 * z6
            + 2.0 * z4
            + (2.0 * z4 - 5.0 * z2) * pi2 / 4.0 * m2
            + pi4 * (1.0 - 2.0 * z2) / 16.0 * m4)
            * e;
        s3 += (-30.0 * z6 - 90.0 * z.powi(8)
            + pi2 * (135.0 * z4 - 96.0 * z6) / 4.0 * m2
            + pi4 * (212.0 * z4 - 60.0 * z2) / 16.0 * m4
            + pi6 * (5.0 - 30.0 * z2) / 64.0 * m6)
            * e;
    }
    let k0 = sqrt2pi * s0 / z;
    let mut k1 = sqrt2pi * s1 / (6.0 * z4);
    let mut k2 = sqrt2pi * s2 / (72.0 * z.powi(7));
    let mut k3 = sqrt2pi * s3 / (6480.0 * z.powi(10));
    // The second family of terms, over all integers k, of exp(−π² k² / (2 z²)).
    let (mut e2, mut e3) = (0.0, 0.0);
    for k in (1..=kmax).rev() {
        let kf = k as f64;
        let k2f = kf * kf;
        let e = (-pi2 * k2f / (2.0 * z2)).exp();
        e2 += k2f * e;
        e3 += (3.0 * z2 - pi2 * k2f) * k2f * e;
    }
    k2 += -pi2 * sqrt2pi / (36.0 * z3) * e2;
    k3 += pi2 * sqrt2pi / (216.0 * z6) * e3;
    k1 /= nf.sqrt();
    k2 /= nf;
    k3 /= nf * nf.sqrt();
    (1.0 - k0) - k1 - k2 - k3
}

/// δ(x) = ln Γ(x + 1) − [(x + ½) ln x − x + ½ ln 2π], the error of Stirling's formula; a series for
/// large x, and by difference for small x (where the values are small and well conditioned).
fn stirling_error(x: f64) -> f64 {
    if x > 15.0 {
        let x2 = x * x;
        return (1.0 / 12.0
            - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - 1.0 / (1188.0 * x2)) / x2) / x2)
                / x2)
            / x;
    }
    if x == 0.0 {
        return 0.0;
    }
    ln_gamma(x + 1.0) - ((x + 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln())
}

/// x ln(x/m) + m − x, computed without cancellation when x ≈ m (Loader 2000).
fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let v2 = v * v;
        let mut j = 1.0;
        loop {
            ej *= v2;
            let s1 = s + ej / (2.0 * j + 1.0);
            if s1 == s {
                return s1;
            }
            s = s1;
            j += 1.0;
        }
    }
    x * (x / m).ln() + m - x
}

/// ln of the binomial probability C(n, x) pˣ qⁿ⁻ˣ (x may be fractional) with q = 1 − p given
/// separately for accuracy, by Loader's saddle-point form.
fn ln_binomial_pmf(x: f64, n: f64, p: f64, q: f64) -> f64 {
    if x == 0.0 {
        return n * q.ln();
    }
    if x == n {
        return n * p.ln();
    }
    let lc = stirling_error(n)
        - stirling_error(x)
        - stirling_error(n - x)
        - bd0(x, n * p)
        - bd0(n - x, n * q);
    lc - 0.5 * (2.0 * std::f64::consts::PI * x * (n - x) / n).ln()
}

/// `scipy.special.smirnov(n, d)`: the exact one-sided P(D_n⁺ ≥ d), by the Birnbaum–Tingey sum
/// d Σ_{j=0}^{⌊n(1−d)⌋} C(n, j) (1 − d − j/n)^{n−j} (d + j/n)^{j−1}.
///
/// Each term is a binomial probability with success p_j = d + j/n divided by p_j, so it is computed by
/// Loader's accurate form. The terms form a smooth bump of width about √n / (4d) around
/// j ≈ n(½ − d) that decays to nothing long before either end of the range. For sums of many terms,
/// the sum over the integers equals the integral of the smooth interpolating function to within
/// e^{−2π²σ²} (Poisson summation), and so does a trapezoid rule with a step a fraction of the width:
/// a few hundred evaluations replace up to n. Small sums, and any whose ends are not negligible, are
/// summed term by term.
pub fn smirnov_sf(n: u64, d: f64) -> f64 {
    if d.is_nan() {
        return f64::NAN;
    }
    if d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    if n == 1 {
        return 1.0 - d;
    }
    if -2.0 * nf * d * d < -708.3964185322641 {
        return 0.0;
    }
    if (nf * d).floor() >= nf - 1.0 {
        return (1.0 - d).powf(nf);
    }
    if n > 1_000_000 {
        // scipy switches to this approximation above a million values; match it.
        let logp = -(6.0 * nf * d + 1.0).powi(2) / 18.0 / nf;
        return logp.exp();
    }
    let one_minus_d = 1.0 - d;
    let last = (nf * one_minus_d).floor();
    // The term at j, as a function of real j.
    let ln_term = |j: f64| -> f64 {
        let p = d + j / nf;
        let q = one_minus_d - j / nf;
        if q <= 0.0 {
            return f64::NEG_INFINITY;
        }
        ln_binomial_pmf(j, nf, p, q) - p.ln()
    };
    let direct = || -> f64 {
        // Sum the largest terms first for accuracy; any order is fine for positive terms of this size.
        let terms: Vec<f64> = (0..=last as u64).map(|j| ln_term(j as f64)).collect();
        let peak = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = terms.iter().map(|&l| (l - peak).exp()).sum();
        d * sum * peak.exp()
    };
    if last < 4000.0 {
        return direct();
    }
    // Locate the peak (the log-terms are concave) by golden-section search on [0, last].
    let (mut lo, mut hi) = (0.0, last);
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    let (mut x1, mut x2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
    let (mut f1, mut f2) = (ln_term(x1), ln_term(x2));
    while hi - lo > 1.0 {
        if f1 < f2 {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + phi * (hi - lo);
            f2 = ln_term(x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - phi * (hi - lo);
            f1 = ln_term(x1);
        }
    }
    let centre = 0.5 * (lo + hi);
    let peak = ln_term(centre);
    // Width from the curvature of the log-terms.
    let delta = (nf.sqrt() / (4.0 * d)).clamp(1.0, last / 4.0);
    let curvature =
        (ln_term(centre + delta) - 2.0 * peak + ln_term(centre - delta)) / (delta * delta);
    let sigma = if curvature < 0.0 {
        (-1.0 / curvature).sqrt()
    } else {
        delta
    };
    if sigma < 8.0 {
        return direct();
    }
    let step = sigma / 8.0;
    // Terms below e^-60 of the peak cannot affect a double; both ends must be that small too.
    let negligible = peak - 60.0;
    if ln_term(0.0) > negligible || ln_term(last) > negligible {
        return direct();
    }
    let mut sum = 1.0; // the centre itself
    for dir in [-1.0, 1.0] {
        let mut k = 1.0;
        loop {
            let x = centre + dir * k * step;
            if x < 0.0 || x > last {
                break;
            }
            let l = ln_term(x);
            if l < negligible {
                break;
            }
            sum += (l - peak).exp();
            k += 1.0;
        }
    }
    d * step * sum * peak.exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ks.json"
    ));

    /// Rebuilds a sample from its recipe, with the same integer arithmetic as the generator.
    fn from_recipe(r: &Value) -> Vec<f64> {
        let (n, seed, scale, offset, modulus) = (
            r["n"].as_u64().unwrap(),
            r["seed"].as_u64().unwrap(),
            r["scale"].as_f64().unwrap(),
            r["offset"].as_u64().unwrap(),
            r["modulus"].as_u64().unwrap(),
        );
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = (1103515245 * state + 12345) % (1 << 31);
                (state % modulus + offset) as f64 / scale
            })
            .collect()
    }

    fn sample(case: &Value, key: &str) -> Vec<f64> {
        let mut v: Vec<f64> = match case[key].as_array() {
            Some(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
            None => from_recipe(&case[format!("{key}_recipe")]),
        };
        v.sort_by(f64::total_cmp);
        v
    }

    /// The acceptance rule: 1e-6 relative, or 1e-12 absolute below 1e-300.
    fn close(actual: f64, want: f64) -> bool {
        if want.is_nan() {
            return actual.is_nan();
        }
        if want < 1e-300 {
            return (actual - want).abs() <= 1e-12;
        }
        ((actual - want) / want).abs() <= 1e-6
    }

    #[test]
    fn ks_2samp_matches_scipy() {
        let doc: Value = serde_json::from_str(FIXTURES).unwrap();
        for case in doc["ks_2samp"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let (x, y) = (sample(case, "x"), sample(case, "y"));
            let r = ks_2samp_sorted(&x, &y);
            let want_d = case["statistic"].as_f64().unwrap();
            let want_p = case["p_value"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (r.statistic - want_d).abs() <= 1e-12,
                "{name}: D {} vs {want_d}",
                r.statistic
            );
            assert!(
                close(r.p_value, want_p),
                "{name}: p {:e} vs {want_p:e}",
                r.p_value
            );
            let mode = if r.method == KsMethod::Exact {
                "exact"
            } else {
                "asymptotic"
            };
            assert_eq!(mode, case["mode"].as_str().unwrap(), "{name}");
        }
    }

    #[test]
    fn kstwo_sf_matches_scipy_in_every_branch() {
        let doc: Value = serde_json::from_str(FIXTURES).unwrap();
        let mut failures = Vec::new();
        for point in doc["kstwo_sf"].as_array().unwrap() {
            let (n, d) = (point["n"].as_u64().unwrap(), point["d"].as_f64().unwrap());
            let want = point["sf"].as_f64().unwrap_or(f64::NAN);
            let got = kstwo_sf(d, n);
            if !close(got, want) {
                failures.push(format!(
                    "{} n={n} d={d}: {got:e} vs {want:e}",
                    point["branch"]
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn the_fused_merge_gives_the_same_statistic_bit_for_bit() {
        let doc: Value = serde_json::from_str(FIXTURES).unwrap();
        for case in doc["ks_2samp"].as_array().unwrap() {
            let (x, y) = (sample(case, "x"), sample(case, "y"));
            let fused = crate::stats::distance::merge_statistics(&x, &y).ks_statistic;
            assert_eq!(
                fused.to_bits(),
                statistic(&x, &y).to_bits(),
                "{}",
                case["name"]
            );
        }
        // Random samples with heavy ties, equal and unequal sizes, many of each.
        let mut state = 7u64;
        let mut next = |k: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % k
        };
        for round in 0..400 {
            let n1 = 1 + next(300) as usize;
            let n2 = if round % 3 == 0 {
                n1
            } else {
                1 + next(300) as usize
            };
            let levels = 2 + next(40);
            let mut a: Vec<f64> = (0..n1).map(|_| next(levels) as f64 / 7.0).collect();
            let mut b: Vec<f64> = (0..n2)
                .map(|_| (next(levels) + next(3)) as f64 / 7.0)
                .collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let fused = crate::stats::distance::merge_statistics(&a, &b).ks_statistic;
            assert_eq!(
                fused.to_bits(),
                statistic(&a, &b).to_bits(),
                "round {round}: {n1} vs {n2}"
            );
        }
    }

    #[test]
    fn degenerate_inputs() {
        let r = ks_2samp_sorted(&[], &[1.0]);
        assert!(r.statistic.is_nan() && r.p_value.is_nan());
        let r = ks_2samp_sorted(&[1.0, 2.0], &[1.0, 2.0]);
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        assert_eq!(round_half_even(5000.5), 5000.0);
        assert_eq!(round_half_even(5001.5), 5002.0);
        assert_eq!(round_half_even(2.4), 2.0);
    }
}
