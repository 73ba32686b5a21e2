//! Per-query ranking metrics: NDCG as scikit-learn 1.9's `ndcg_score` defines it, and MAP, MRR,
//! precision, recall and hit rate at k as ranx 0.3.21 defines them. A window's value is the mean of the
//! per-query values over its labelled queries ([`mean_over_queries`]).
//!
//! Inputs: per query, the relevance grade (a non-negative number; 0 for an item without a judgement)
//! and, for NDCG, the score of each listed item. For the ranx metrics the items come in ranked order,
//! highest first; [`ranking_order`] gives that order from scores: descending score, tied scores in
//! listing order. (ranx itself breaks ties by an unstable sort, so its tie order is not defined; the
//! fixtures hand ranx a ranking without ties.)
//!
//! Conventions, each checked against the reference in the fixtures:
//! - NDCG (scikit-learn): gain = grade, discount 1/log₂(rank + 1), cut at k (none without k). Tied
//!   scores are averaged: each tie group gets the mean grade of its members times the sum of the
//!   discounts of the ranks it spans. The ideal DCG ranks the grades themselves. A query whose ideal
//!   DCG is 0 (no item with a positive grade) scores 0. k larger than the list is the whole list.
//! - Binary relevance (ranx): an item is relevant when its grade is at least `relevance_threshold`
//!   (ranx's `rel_lvl`, which must be positive so that unjudged items are never relevant).
//!   `n_relevant` is the number of relevant judged items of the query, listed or not: a relevant item
//!   the model did not list still counts in recall's and MAP's denominators, as in ranx.
//! - A query with no relevant item scores 0.0 on every ranx metric (ranx returns 0.0 before computing
//!   anything) and is counted in the mean like any other query; its NDCG is 0 as well.
//! - precision@k divides the hits in the top k by k itself, even when fewer than k items are listed
//!   (ranx does not shorten k there); recall@k, hit rate, MRR and MAP look at the top min(k, n) items.
//! - MRR is 1/rank of the first relevant item within the cut-off (0 without one); ranx's `mrr` has no
//!   cut-off, which is k = None here.
//! - MAP@k = Σ over relevant ranks r ≤ k of (hits in the top r)/r, divided by all relevant items
//!   (`n_relevant`), not by min(k, n_relevant).

use super::quantile::numpy_pairwise_sum;

/// The ranking order of items by score: descending, ties in listing order. NaN scores rank last.
pub fn ranking_order(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (false, false) => y.partial_cmp(&x).unwrap(),
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
        }
    });
    order
}

/// scikit-learn's discount of 0-based rank i: 1 / (ln(i + 2) / ln 2), 0 from the cut-off on.
fn discount(i: usize, k: Option<usize>) -> f64 {
    if k.is_some_and(|k| i >= k) {
        0.0
    } else {
        1.0 / (((i + 2) as f64).ln() / 2f64.ln())
    }
}

/// NDCG of one query as scikit-learn's `ndcg_score([relevance], [scores], k=k)` computes it (ties
/// averaged). NaN for an empty query, a negative or non-finite grade, or a non-finite score (scikit-learn
/// refuses those).
pub fn ndcg(relevance: &[f64], scores: &[f64], k: Option<usize>) -> f64 {
    debug_assert_eq!(relevance.len(), scores.len());
    let n = relevance.len();
    if n == 0
        || relevance.iter().any(|r| !r.is_finite() || *r < 0.0)
        || scores.iter().any(|s| !s.is_finite())
    {
        return f64::NAN;
    }
    let mut cumulative = Vec::with_capacity(n);
    let mut acc = 0.0;
    for i in 0..n {
        acc += discount(i, k);
        cumulative.push(acc);
    }
    // Tie groups in descending score order: mean grade × the discounts of the ranks they span.
    let order = ranking_order(scores);
    let mut groups: Vec<(f64, f64)> = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // numpy's add.at sums each group's grades in listing order; the stable sort kept it.
        let mut sum = 0.0;
        for &i in &order[start..end] {
            sum += relevance[i];
        }
        let mean = sum / (end - start) as f64;
        let span = if start == 0 {
            cumulative[end - 1]
        } else {
            cumulative[end - 1] - cumulative[start - 1]
        };
        groups.push((mean, span));
        start = end;
    }
    let dcg = numpy_pairwise_sum(groups.len(), |g| groups[g].0 * groups[g].1);
    let mut ideal_order = relevance.to_vec();
    ideal_order.sort_by(|a, b| b.total_cmp(a));
    let ideal = numpy_pairwise_sum(n, |i| discount(i, k) * ideal_order[i]);
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

/// Which of the ranked items are relevant: grade ≥ `threshold`.
pub fn relevant_flags(ranked_relevance: &[f64], threshold: f64) -> Vec<bool> {
    ranked_relevance.iter().map(|&r| r >= threshold).collect()
}

fn cut(k: Option<usize>, n: usize) -> usize {
    k.map_or(n, |k| k.min(n))
}

fn hits(ranked: &[bool], k: Option<usize>) -> usize {
    ranked[..cut(k, ranked.len())]
        .iter()
        .filter(|&&r| r)
        .count()
}

/// ranx `precision@k`: hits in the top k over k (over the list length without k).
pub fn precision_at_k(ranked: &[bool], n_relevant: usize, k: Option<usize>) -> f64 {
    if n_relevant == 0 {
        return 0.0;
    }
    let denominator = k.unwrap_or(ranked.len());
    if denominator == 0 {
        return 0.0;
    }
    hits(ranked, k) as f64 / denominator as f64
}

/// ranx `recall@k`: hits in the top k over all relevant items.
pub fn recall_at_k(ranked: &[bool], n_relevant: usize, k: Option<usize>) -> f64 {
    if n_relevant == 0 || ranked.is_empty() {
        return 0.0;
    }
    hits(ranked, k) as f64 / n_relevant as f64
}

/// ranx `hit_rate@k`: 1 if a relevant item is in the top k.
pub fn hit_rate_at_k(ranked: &[bool], n_relevant: usize, k: Option<usize>) -> f64 {
    if n_relevant == 0 {
        return 0.0;
    }
    if hits(ranked, k) > 0 { 1.0 } else { 0.0 }
}

/// ranx `mrr` (k = None) or `mrr@k`: 1/rank of the first relevant item in the top k.
pub fn reciprocal_rank(ranked: &[bool], n_relevant: usize, k: Option<usize>) -> f64 {
    if n_relevant == 0 {
        return 0.0;
    }
    match ranked[..cut(k, ranked.len())].iter().position(|&r| r) {
        Some(i) => 1.0 / (i + 1) as f64,
        None => 0.0,
    }
}

/// ranx `map@k`: Σ over relevant ranks r ≤ k of precision at r, over all relevant items.
pub fn average_precision_at_k(ranked: &[bool], n_relevant: usize, k: Option<usize>) -> f64 {
    if n_relevant == 0 {
        return 0.0;
    }
    let m = cut(k, ranked.len());
    let mut found = 0usize;
    let precisions: Vec<f64> = ranked[..m]
        .iter()
        .enumerate()
        .map(|(r, &rel)| {
            if rel {
                found += 1;
                found as f64 / (r + 1) as f64
            } else {
                0.0
            }
        })
        .collect();
    numpy_pairwise_sum(m, |r| precisions[r]) / n_relevant as f64
}

/// The mean of per-query values (numpy's pairwise order); NaN without queries.
pub fn mean_over_queries(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    numpy_pairwise_sum(values.len(), |i| values[i]) / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_averaged_in_ndcg() {
        // Both items tied: each rank gets the mean grade 0.5.
        let all_tied = ndcg(&[1.0, 0.0], &[0.3, 0.3], None);
        let ideal = 1.0;
        let dcg = 0.5 * (1.0 + 1.0 / 3f64.log2());
        assert!((all_tied - dcg / ideal).abs() < 1e-15);
        assert_eq!(ndcg(&[0.0, 0.0], &[0.1, 0.2], None), 0.0);
        assert!(ndcg(&[], &[], None).is_nan());
    }

    #[test]
    fn no_relevant_item_scores_zero() {
        let ranked = [false, false];
        assert_eq!(precision_at_k(&ranked, 0, Some(5)), 0.0);
        assert_eq!(recall_at_k(&ranked, 0, Some(5)), 0.0);
        assert_eq!(reciprocal_rank(&ranked, 0, None), 0.0);
        assert_eq!(average_precision_at_k(&ranked, 0, None), 0.0);
        assert_eq!(hit_rate_at_k(&ranked, 0, None), 0.0);
    }

    #[test]
    fn precision_divides_by_k_beyond_the_list() {
        assert_eq!(precision_at_k(&[true, false], 1, Some(10)), 0.1);
        assert_eq!(recall_at_k(&[true, false], 2, Some(10)), 0.5);
    }
}
