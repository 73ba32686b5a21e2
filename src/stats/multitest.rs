//! Multiple-testing corrections for the per-feature drift p-values of one
//! check, matching `statsmodels.stats.multitest.multipletests(p, method=…)[1]`
//! for "bonferroni", "holm" and "fdr_bh" (Benjamini–Hochberg).
//!
//! Features whose test was not run carry a NaN p-value. They stay NaN and are
//! left out of the family: m counts only the tests that ran.

use std::fmt;
use std::str::FromStr;

/// Which family-wise / false-discovery correction to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Correction {
    /// Raw p-values, unchanged.
    #[default]
    None,
    /// p·m, capped at 1.
    Bonferroni,
    /// Holm's step-down: running max over sorted p of p₍ₖ₎·(m − k + 1).
    Holm,
    /// Benjamini–Hochberg step-up: running min from the top of p₍ₖ₎/(k/m).
    FdrBh,
}

/// Error for an unknown correction name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCorrectionError(String);

impl fmt::Display for ParseCorrectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown multiple-testing correction {:?} (expected none, bonferroni, holm or fdr_bh)",
            self.0
        )
    }
}

impl std::error::Error for ParseCorrectionError {}

impl FromStr for Correction {
    type Err = ParseCorrectionError;

    /// Accepts the statsmodels method names (ASCII case-insensitive) plus "none".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Correction::None),
            "bonferroni" => Ok(Correction::Bonferroni),
            "holm" => Ok(Correction::Holm),
            "fdr_bh" => Ok(Correction::FdrBh),
            _ => Err(ParseCorrectionError(s.to_owned())),
        }
    }
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Correction::None => "none",
            Correction::Bonferroni => "bonferroni",
            Correction::Holm => "holm",
            Correction::FdrBh => "fdr_bh",
        })
    }
}

/// Adjusted p-values in the input order, capped at 1; NaN inputs stay NaN and
/// do not count towards m.
///
/// The arithmetic is statsmodels': Bonferroni p·m, Holm p·(m − k + 1) and
/// Benjamini–Hochberg p / (k/m) (a division by the rounded ECDF value, not
/// p·m/k), so results are bit-identical. Tied p-values get identical adjusted
/// values whatever order the sort leaves them in.
pub fn adjust(p_values: &[f64], method: Correction) -> Vec<f64> {
    let mut adjusted = p_values.to_vec();
    if method == Correction::None {
        return adjusted;
    }
    // Indices of the tests that ran, in ascending order of p.
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    let m = order.len();
    if m == 0 {
        return adjusted;
    }
    let mf = m as f64;
    match method {
        Correction::None => {}
        Correction::Bonferroni => {
            for &i in &order {
                adjusted[i] = (p_values[i] * mf).min(1.0);
            }
        }
        Correction::Holm => {
            order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
            let mut running_max = f64::NEG_INFINITY;
            for (k, &i) in order.iter().enumerate() {
                running_max = running_max.max(p_values[i] * (m - k) as f64);
                adjusted[i] = running_max.min(1.0);
            }
        }
        Correction::FdrBh => {
            order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
            let mut running_min = f64::INFINITY;
            for (k, &i) in order.iter().enumerate().rev() {
                let ecdf = (k + 1) as f64 / mf;
                running_min = running_min.min(p_values[i] / ecdf);
                adjusted[i] = running_min.min(1.0);
            }
        }
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drift_stats.json"
    ));

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
    fn adjustments_match_statsmodels() {
        let fx: Value = serde_json::from_str(FIXTURES).unwrap();
        let cases = fx["multitest"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let p = vec_f64(&case["p"]);
            for method in ["bonferroni", "holm", "fdr_bh"] {
                let want = vec_f64(&case[method]);
                let got = adjust(&p, method.parse().unwrap());
                assert_eq!(got.len(), want.len());
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    if w.is_nan() {
                        assert!(g.is_nan(), "{name} {method}[{k}]: {g:e} should be NaN");
                    } else {
                        // Same operations in the same order: bit-identical.
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{name} {method}[{k}]: got {g:e}, statsmodels {w:e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn none_returns_input_and_names_round_trip() {
        let p = [0.2, f64::NAN, 0.01];
        let got = adjust(&p, Correction::None);
        assert_eq!(got[0], 0.2);
        assert!(got[1].is_nan());
        assert_eq!(got[2], 0.01);
        for c in [
            Correction::None,
            Correction::Bonferroni,
            Correction::Holm,
            Correction::FdrBh,
        ] {
            assert_eq!(c.to_string().parse::<Correction>(), Ok(c));
        }
        assert_eq!("FDR_BH".parse::<Correction>(), Ok(Correction::FdrBh));
        assert!("fdr_by".parse::<Correction>().is_err());
        assert!(adjust(&[], Correction::Holm).is_empty());
        assert!(adjust(&[f64::NAN], Correction::FdrBh)[0].is_nan());
    }
}
