//! An exact running sum of floats that values can be added to and taken out of.
//!
//! A metric window adds the log-loss term of every sample that arrives and takes out the term of every
//! sample that leaves, so that a scrape reads the log loss without a pass over the window. A float
//! running sum would drift with every update (adding x and later subtracting x does not give back the
//! sum before). This accumulator keeps the sum exactly, as an integer in units of the smallest
//! subnormal, 2⁻¹⁰⁷⁴, spread over 32-bit limbs. An update costs a few integer operations and reading
//! the sum costs a pass over 67 limbs, whatever the number of values. The sum read is the exact sum
//! rounded to a float (within one rounding), independent of the order of the updates.

/// Limbs of 32 bits. A finite double is a 53-bit integer times 2^e with e + 1074 in [0, 2045], so it
/// touches limbs up to 64; two more absorb the carries of up to 2⁶³ values of the largest magnitude.
const LIMBS: usize = 67;

/// Updates between two carry propagations. Each update adds less than 2⁵³ to a limb, so a limb that
/// starts below 2³² in magnitude stays far from the i64 limits over this many updates.
const CARRY_EVERY: u32 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactSum {
    /// The sum is Σₖ limbs[k]·2^(32k − 1074). Limbs may temporarily exceed 32 bits or be negative;
    /// `propagate` brings every limb but the last into [0, 2³²).
    limbs: [i64; LIMBS],
    /// Updates since the last carry propagation.
    pending: u32,
    /// Infinite values currently in the sum, which the integer cannot hold.
    positive_infinities: u64,
    negative_infinities: u64,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            limbs: [0; LIMBS],
            pending: 0,
            positive_infinities: 0,
            negative_infinities: 0,
        }
    }
}

impl ExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    /// The exact sum of `values`, rounded once: what a running sum of the same values reads.
    pub fn of(values: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        for &v in values {
            s.add(v);
        }
        s.value()
    }

    /// Adds `x` to the sum. NaN is ignored (windows never hold it).
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.update(x, 1);
    }

    /// Takes `x` out of the sum (it must have been added before).
    #[inline]
    pub fn remove(&mut self, x: f64) {
        self.update(x, -1);
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    #[inline]
    fn update(&mut self, x: f64, sign: i64) {
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1u64 << 52) - 1);
        if exponent == 0x7ff {
            if fraction == 0 {
                let count = if x > 0.0 {
                    &mut self.positive_infinities
                } else {
                    &mut self.negative_infinities
                };
                *count = if sign > 0 {
                    *count + 1
                } else {
                    count.saturating_sub(1)
                };
            }
            return;
        }
        // x = ±mantissa·2^(position − 1074), position in [0, 2045]; subnormals have exponent field 0
        // and the same scale as exponent field 1, without the implicit bit.
        let (mantissa, position) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | (1u64 << 52), exponent - 1)
        };
        let limb = (position / 32) as usize;
        let shifted = u128::from(mantissa) << (position % 32);
        let low = (shifted as u64 & 0xffff_ffff) as i64;
        // Below 2⁵³: the mantissa shifted by at most 31 bits, less the 32 bits in `low`.
        let high = (shifted >> 32) as i64;
        let sign = if bits >> 63 == 1 { -sign } else { sign };
        self.limbs[limb] += sign * low;
        self.limbs[limb + 1] += sign * high;
        self.pending += 1;
        if self.pending >= CARRY_EVERY {
            self.propagate();
        }
    }

    /// Moves each limb's bits above 32 into the next limb, leaving limbs 0..LIMBS−1 in [0, 2³²) and the
    /// sign in the last one.
    fn propagate(&mut self) {
        carry(&mut self.limbs);
        self.pending = 0;
    }

    /// The sum, rounded to a float. ±∞ when infinite values are in it (NaN when both signs are), and
    /// also when the exact sum is beyond the float range.
    pub fn value(&self) -> f64 {
        match (self.positive_infinities > 0, self.negative_infinities > 0) {
            (true, true) => return f64::NAN,
            (true, false) => return f64::INFINITY,
            (false, true) => return f64::NEG_INFINITY,
            (false, false) => {}
        }
        let mut limbs = self.limbs;
        carry(&mut limbs);
        // Read a negative sum as the negation of a positive one, so that every limb is non-negative
        // and the terms below add up without cancellation.
        let negative = limbs[LIMBS - 1] < 0;
        if negative {
            for limb in limbs.iter_mut() {
                *limb = -*limb;
            }
            carry(&mut limbs);
        }
        // Each term is exact (a 32-bit integer times a power of two); their compensated sum is the
        // exact sum to within about one rounding.
        let mut total = super::quantile::CompensatedSum::default();
        for (k, &limb) in limbs.iter().enumerate() {
            if limb != 0 {
                total.add(limb as f64 * scale(k));
            }
        }
        let magnitude = total.value();
        // Past the float range the compensation turns ∞ into NaN; the sum is ∞.
        let magnitude = if magnitude.is_nan() {
            f64::INFINITY
        } else {
            magnitude
        };
        // Adding +0.0 gives 0 rather than -0 for an empty sum.
        if negative {
            -magnitude
        } else {
            magnitude + 0.0
        }
    }
}

/// Moves each limb's bits above 32 into the next limb.
fn carry(limbs: &mut [i64; LIMBS]) {
    for k in 0..LIMBS - 1 {
        let c = limbs[k] >> 32;
        limbs[k] -= c << 32;
        limbs[k + 1] += c;
    }
}

/// 2^(32k − 1074) as a float: subnormal for k ≤ 1, infinite past the float range.
fn scale(k: usize) -> f64 {
    let power = 32 * k as i64 - 1074;
    if power < -1022 {
        f64::from_bits(1u64 << (power + 1074))
    } else if power > 1023 {
        f64::INFINITY
    } else {
        f64::from_bits(((power + 1023) as u64) << 52)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    /// A finite double with a random sign, mantissa and exponent in [-e, e].
    fn wide(rng: &mut XorShift, e: i32) -> f64 {
        let m = rng.unit();
        let p = rng.below(2 * e as u64 + 1) as i32 - e;
        let s = if rng.next() & 1 == 0 { 1.0 } else { -1.0 };
        s * m * 2f64.powi(p)
    }

    #[test]
    fn small_cases_are_exact() {
        assert_eq!(ExactSum::of(&[]).to_bits(), 0.0f64.to_bits());
        assert_eq!(ExactSum::of(&[-0.0, -0.0]).to_bits(), 0.0f64.to_bits());
        assert_eq!(ExactSum::of(&[1e16, 1.0, -1e16, 1.0, 0.5]), 2.5);
        // The exact sum of these three doubles is 0.60000000000000000555…, nearest to 0.6 (a plain
        // left-to-right sum gives 0.6000000000000001).
        assert_eq!(ExactSum::of(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(ExactSum::of(&[-3.5]), -3.5);
        assert_eq!(ExactSum::of(&[f64::MAX, -f64::MAX, 1.0]), 1.0);
        // Subnormals and the smallest of them.
        let tiny = f64::from_bits(1);
        assert_eq!(ExactSum::of(&[tiny, tiny, tiny]), f64::from_bits(3));
        assert_eq!(
            ExactSum::of(&[f64::MIN_POSITIVE, -tiny]),
            f64::MIN_POSITIVE - tiny
        );
        // A sum beyond the float range, and infinities.
        assert_eq!(ExactSum::of(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(ExactSum::of(&[-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
        assert_eq!(ExactSum::of(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(ExactSum::of(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn removing_values_gives_back_the_exact_sum_of_the_rest() {
        // A sliding window over values of every magnitude: after each step the accumulator must equal
        // a fresh exact sum of the values inside, bit for bit, however many updates came before.
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let values: Vec<f64> = (0..20_000)
            .map(|i| match i % 4 {
                0 => wide(&mut rng, 1000),
                1 => wide(&mut rng, 30),
                2 => (rng.next() % 1000) as f64 - 500.0,
                _ => wide(&mut rng, 1070),
            })
            .collect();
        let width = 700;
        let mut running = ExactSum::new();
        for (i, &v) in values.iter().enumerate() {
            running.add(v);
            if i >= width {
                running.remove(values[i - width]);
            }
            if i % 997 == 0 || i == values.len() - 1 {
                let inside = &values[i.saturating_sub(width - 1)..=i];
                assert_eq!(
                    running.value().to_bits(),
                    ExactSum::of(inside).to_bits(),
                    "step {i}"
                );
            }
        }
        // Taking everything out leaves exactly zero.
        for &v in &values[values.len() - width..] {
            running.remove(v);
        }
        assert_eq!(running.value().to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn agrees_with_a_correctly_rounded_reference() {
        // With values on a common grid the exact sum fits an i128, whose rounding to f64 is correct;
        // the accumulator may differ from it by at most one unit in the last place.
        let mut rng = XorShift(42);
        for case in 0..200 {
            let n = 1 + (rng.next() % 3000) as usize;
            let ints: Vec<i64> = (0..n)
                .map(|_| {
                    (rng.next() >> (11 + case % 40)) as i64
                        * if rng.next() & 1 == 0 { 1 } else { -1 }
                })
                .collect();
            let scale = 2f64.powi((case % 7) * 40 - 120);
            let values: Vec<f64> = ints.iter().map(|&k| k as f64 * scale).collect();
            // Each value is k·scale exactly (|k| < 2⁵³), so the exact sum is (Σk)·scale.
            let exact: i128 = ints.iter().map(|&k| i128::from(k)).sum();
            let want = exact as f64 * scale;
            let got = ExactSum::of(&values);
            let ulps = (got.to_bits() as i64 - want.to_bits() as i64).abs();
            assert!(ulps <= 1, "case {case}: {got:e} vs {want:e}");
        }
    }
}
