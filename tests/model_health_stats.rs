//! The model-health statistics against scikit-learn: every case of
//! `tests/fixtures/model_health.json` (written by `tests/fixtures/gen_model_health_fixtures.py` with the
//! pinned versions of `tests/fixtures/requirements.txt`) computed by the pure functions and compared to
//! 1e-9 relative (absolute at an expected 0); an expected null must come out NaN.

use modelwatch::internals::stats::{
    brier, calibration, confusion_scores, lift, metrics, multiclass_scores, ranking,
    regression_errors, threshold_sweep,
};
use serde_json::Value;

const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model_health.json"
));

const TOLERANCE: f64 = 1e-9;

fn expected(v: &Value) -> f64 {
    match v {
        Value::Null => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().expect("a number"),
    }
}

fn check(case: &str, what: &str, actual: f64, want: &Value) {
    let want = expected(want);
    if want.is_nan() {
        assert!(actual.is_nan(), "{case} {what}: expected NaN, got {actual}");
        return;
    }
    if want.is_infinite() {
        assert_eq!(actual, want, "{case} {what}");
        return;
    }
    let err = if want == 0.0 {
        actual.abs()
    } else {
        ((actual - want) / want).abs()
    };
    assert!(
        err <= TOLERANCE,
        "{case} {what}: expected {want:e}, got {actual:e} (rel err {err:e})"
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn doc() -> Value {
    serde_json::from_str(FIXTURES).unwrap()
}

fn cases<'a>(doc: &'a Value, task: &str) -> Vec<&'a Value> {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["task"] == task)
        .collect()
}

fn zero_division(key: &str) -> f64 {
    match key {
        "nan" => f64::NAN,
        other => other.parse().unwrap(),
    }
}

#[test]
fn binary_cases_match_scikit_learn() {
    let doc = doc();
    let betas = floats(&doc["betas"]);
    let quantiles = floats(&doc["quantiles"]);
    let bin_counts: Vec<usize> = doc["calibration_bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as usize)
        .collect();
    let binary = cases(&doc, "binary_classification");
    assert!(binary.len() >= 15, "{} binary cases", binary.len());
    for case in binary {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let scores = floats(&case["scores"]);
        let positive: Vec<bool> = floats(&case["labels"]).iter().map(|&y| y == 1.0).collect();
        let predicted: Vec<bool> = floats(&case["predictions"])
            .iter()
            .map(|&y| y == 1.0)
            .collect();
        let probability = case["score_kind"] == "probability";

        check(
            name,
            "average_precision",
            threshold_sweep::average_precision(&scores, &positive),
            &e["average_precision"],
        );
        check(
            name,
            "ks_separation",
            threshold_sweep::ks_separation(&scores, &positive),
            &e["ks_separation"],
        );
        let (mut pos, mut neg): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for (&s, &y) in scores.iter().zip(&positive) {
            if y { pos.push(s) } else { neg.push(s) }
        }
        pos.sort_by(f64::total_cmp);
        neg.sort_by(f64::total_cmp);
        let u2 = metrics::mann_whitney_u2_sorted(&pos, &neg);
        check(
            name,
            "gini",
            threshold_sweep::gini_from_u2(u2, pos.len() as u64, neg.len() as u64),
            &e["gini"],
        );

        if probability {
            check(
                name,
                "brier_score",
                brier::binary_brier_score(&scores, &positive),
                &e["brier_score"],
            );
            for (b, want) in bin_counts.iter().zip(e["calibration"].as_array().unwrap()) {
                let got = calibration::calibration(&scores, &positive, *b);
                match (got, want.is_null()) {
                    (None, true) => {}
                    (Some(got), false) => {
                        let what = format!("calibration[{b} bins]");
                        let index: Vec<usize> = got.bins.iter().map(|x| x.index).collect();
                        let count: Vec<u64> = got.bins.iter().map(|x| x.count).collect();
                        let want_index: Vec<usize> = want["index"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_u64().unwrap() as usize)
                            .collect();
                        let want_count: Vec<u64> = want["count"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_u64().unwrap())
                            .collect();
                        assert_eq!(index, want_index, "{name} {what} bin indexes");
                        assert_eq!(count, want_count, "{name} {what} bin counts");
                        for (i, bin) in got.bins.iter().enumerate() {
                            check(
                                name,
                                &format!("{what} mean_predicted[{i}]"),
                                bin.mean_predicted,
                                &want["mean_predicted"][i],
                            );
                            check(
                                name,
                                &format!("{what} fraction_positive[{i}]"),
                                bin.fraction_positive,
                                &want["fraction_positive"][i],
                            );
                        }
                        check(
                            name,
                            &format!("{what} ece"),
                            got.expected_calibration_error,
                            &want["ece"],
                        );
                    }
                    (got, _) => panic!("{name} calibration[{b}]: got {got:?}, expected {want}"),
                }
            }
        } else {
            assert!(e["brier_score"].is_null(), "{name}");
        }

        let points = lift::lift_curve(&scores, &positive, &quantiles);
        for (i, p) in points.iter().enumerate() {
            check(
                name,
                &format!("lift[{}]", p.quantile),
                p.lift,
                &e["lift"][i],
            );
            check(
                name,
                &format!("cumulative_gain[{}]", p.quantile),
                p.cumulative_gain,
                &e["cumulative_gain"][i],
            );
        }

        let mut counts = metrics::BinaryCounts::default();
        for (&y, &p) in positive.iter().zip(&predicted) {
            match (y, p) {
                (true, true) => counts.tp += 1,
                (false, true) => counts.fp += 1,
                (false, false) => counts.tn += 1,
                (true, false) => counts.fn_ += 1,
            }
        }
        let c = confusion_scores::binary_confusion(&counts);
        check(
            name,
            "balanced_accuracy",
            confusion_scores::balanced_accuracy(&c),
            &e["balanced_accuracy"],
        );
        check(
            name,
            "matthews_corrcoef",
            confusion_scores::matthews_corrcoef(&c),
            &e["matthews_corrcoef"],
        );
        check(
            name,
            "cohen_kappa",
            confusion_scores::cohen_kappa(&c),
            &e["cohen_kappa"],
        );
        for (key, values) in e["fbeta_score"].as_object().unwrap() {
            for (i, &beta) in betas.iter().enumerate() {
                check(
                    name,
                    &format!("fbeta_score[beta={beta}, zero_division={key}]"),
                    confusion_scores::binary_fbeta(&counts, beta, zero_division(key)),
                    &values[i],
                );
            }
        }
    }
}

/// MSLE to 1e-9 relative, or within what a one-ulp difference in each log1p can move it: numpy's
/// vectorised log1p (AVX-512 here) and the C library's differ by an ulp on some inputs, and MSLE on
/// labels around 1e9 with errors around 1 (a difference of logs of 1e-9 relative size) magnifies that
/// to ~1e-7 relative. The bound is mean(2·|d|·δ), δ = 2 ulps of the larger log, far below any difference
/// that an error in the formula would make.
fn check_msle(case: &str, actual: f64, want: &Value, y: &[f64], p: &[f64]) {
    let w = expected(want);
    if w.is_nan() {
        assert!(actual.is_nan(), "{case} msle: expected NaN, got {actual}");
        return;
    }
    let n = y.len() as f64;
    let ulp_bound: f64 = y
        .iter()
        .zip(p)
        .map(|(&a, &b)| {
            let (la, lb) = (a.ln_1p(), b.ln_1p());
            2.0 * (la - lb).abs() * 2.0 * f64::EPSILON * la.abs().max(lb.abs())
        })
        .sum::<f64>()
        / n;
    let err = (actual - w).abs();
    assert!(
        err <= TOLERANCE * w.abs() || err <= ulp_bound,
        "{case} msle: expected {w:e}, got {actual:e} (abs err {err:e}, one-ulp bound {ulp_bound:e})"
    );
}

#[test]
fn regression_cases_match_scikit_learn() {
    let doc = doc();
    let alphas = floats(&doc["pinball_alphas"]);
    let regression = cases(&doc, "regression");
    assert!(
        regression.len() >= 12,
        "{} regression cases",
        regression.len()
    );
    for case in regression {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let y = floats(&case["labels"]);
        let p = floats(&case["predictions"]);
        check(
            name,
            "median_absolute_error",
            regression_errors::median_absolute_error(&y, &p),
            &e["median_absolute_error"],
        );
        check(
            name,
            "max_error",
            regression_errors::max_error(&y, &p),
            &e["max_error"],
        );
        check(
            name,
            "explained_variance",
            regression_errors::explained_variance(&y, &p),
            &e["explained_variance"],
        );
        check(
            name,
            "mean_error",
            regression_errors::mean_error(&y, &p),
            &e["mean_error"],
        );
        check_msle(
            name,
            regression_errors::mean_squared_log_error(&y, &p),
            &e["mean_squared_log_error"],
            &y,
            &p,
        );
        for (i, &alpha) in alphas.iter().enumerate() {
            check(
                name,
                &format!("mean_pinball_loss[{alpha}]"),
                regression_errors::mean_pinball_loss(&y, &p, alpha),
                &e["mean_pinball_loss"][i],
            );
        }
    }
}

#[test]
fn multiclass_cases_match_scikit_learn() {
    let doc = doc();
    let betas = floats(&doc["betas"]);
    let top_ks: Vec<usize> = floats(&doc["top_ks"]).iter().map(|&t| t as usize).collect();
    let multiclass = cases(&doc, "multiclass_classification");
    assert!(
        multiclass.len() >= 10,
        "{} multiclass cases",
        multiclass.len()
    );
    for case in multiclass {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let k = case["classes"].as_u64().unwrap() as usize;
        let labels: Vec<usize> = floats(&case["labels"])
            .iter()
            .map(|&y| y as usize)
            .collect();
        let predictions: Vec<usize> = floats(&case["predictions"])
            .iter()
            .map(|&y| y as usize)
            .collect();
        let scores = floats(&case["scores"]);

        let auc = multiclass_scores::roc_auc_ovr(&scores, &labels, k);
        check(
            name,
            "roc_auc_ovr_macro",
            auc.macro_average,
            &e["roc_auc_ovr_macro"],
        );
        check(
            name,
            "roc_auc_ovr_weighted",
            auc.weighted,
            &e["roc_auc_ovr_weighted"],
        );
        for (i, &t) in top_ks.iter().enumerate() {
            check(
                name,
                &format!("top_k_accuracy[{t}]"),
                multiclass_scores::top_k_accuracy(&scores, &labels, k, t),
                &e["top_k_accuracy"][i],
            );
        }
        check(
            name,
            "brier_score",
            brier::multiclass_brier_score(&scores, &labels, k),
            &e["brier_score"],
        );

        let mut c = metrics::Confusion::new(k);
        for (&a, &p) in labels.iter().zip(&predictions) {
            c.add(a, p);
        }
        check(
            name,
            "balanced_accuracy",
            confusion_scores::balanced_accuracy(&c),
            &e["balanced_accuracy"],
        );
        check(
            name,
            "matthews_corrcoef",
            confusion_scores::matthews_corrcoef(&c),
            &e["matthews_corrcoef"],
        );
        check(
            name,
            "cohen_kappa",
            confusion_scores::cohen_kappa(&c),
            &e["cohen_kappa"],
        );
        for average in ["micro", "weighted"] {
            for (key, rows) in e[average].as_object().unwrap() {
                for (i, &beta) in betas.iter().enumerate() {
                    let zd = zero_division(key);
                    let got = if average == "micro" {
                        confusion_scores::micro_average(&c, beta, zd)
                    } else {
                        confusion_scores::weighted_average(&c, beta, zd)
                    };
                    let what = format!("{average}[beta={beta}, zero_division={key}]");
                    let want = &rows[i];
                    check(
                        name,
                        &format!("{what} precision"),
                        got.precision,
                        &want["precision"],
                    );
                    check(name, &format!("{what} recall"), got.recall, &want["recall"]);
                    check(name, &format!("{what} fbeta"), got.fbeta, &want["fbeta"]);
                }
            }
        }
    }
}

/// The value of one ranx metric name ("map@5", "mrr", "precision", ...) for one query.
fn ranx_metric(metric: &str, ranked: &[bool], n_relevant: usize) -> f64 {
    let (base, k) = match metric.split_once('@') {
        Some((b, k)) => (b, Some(k.parse::<usize>().unwrap())),
        None => (metric, None),
    };
    match base {
        "map" => ranking::average_precision_at_k(ranked, n_relevant, k),
        "precision" => ranking::precision_at_k(ranked, n_relevant, k),
        "recall" => ranking::recall_at_k(ranked, n_relevant, k),
        "hit_rate" => ranking::hit_rate_at_k(ranked, n_relevant, k),
        "mrr" => ranking::reciprocal_rank(ranked, n_relevant, k),
        other => panic!("unknown metric {other}"),
    }
}

#[test]
fn ranking_cases_match_scikit_learn_and_ranx() {
    let doc = doc();
    let thresholds = floats(&doc["relevance_thresholds"]);
    let ranking_cases = cases(&doc, "ranking");
    assert!(
        ranking_cases.len() >= 4,
        "{} ranking cases",
        ranking_cases.len()
    );
    let mut checked_queries = 0;
    for case in ranking_cases {
        let name = case["name"].as_str().unwrap();
        let e = &case["expected"];
        let queries = case["queries"].as_array().unwrap();

        for (k_key, want) in e["ndcg"].as_object().unwrap() {
            let k = k_key.parse::<usize>().ok();
            let per_query: Vec<f64> = queries
                .iter()
                .map(|q| ranking::ndcg(&floats(&q["relevance"]), &floats(&q["scores"]), k))
                .collect();
            for (i, v) in per_query.iter().enumerate() {
                check(name, &format!("ndcg@{k_key} query {i}"), *v, &want[i]);
            }
            check(
                name,
                &format!("mean ndcg@{k_key}"),
                ranking::mean_over_queries(&per_query),
                &e["ndcg_mean"][k_key],
            );
        }

        for &t in &thresholds {
            let key = format!("threshold_{t}");
            for (metric, want) in e[&key].as_object().unwrap() {
                let per_query: Vec<f64> = queries
                    .iter()
                    .map(|q| {
                        let relevance = floats(&q["relevance"]);
                        let order = ranking::ranking_order(&floats(&q["scores"]));
                        let ranked: Vec<f64> = order.iter().map(|&i| relevance[i]).collect();
                        let flags = ranking::relevant_flags(&ranked, t);
                        let unlisted = floats(&q["unlisted_relevance"])
                            .iter()
                            .filter(|&&g| g >= t)
                            .count();
                        let n_relevant = flags.iter().filter(|&&f| f).count() + unlisted;
                        ranx_metric(metric, &flags, n_relevant)
                    })
                    .collect();
                for (i, v) in per_query.iter().enumerate() {
                    check(name, &format!("{metric}-l{t} query {i}"), *v, &want[i]);
                }
                check(
                    name,
                    &format!("mean {metric}-l{t}"),
                    ranking::mean_over_queries(&per_query),
                    &e[format!("{key}_mean")][metric],
                );
            }
        }
        checked_queries += queries.len();
    }
    assert!(checked_queries >= 150, "{checked_queries} queries");
}
