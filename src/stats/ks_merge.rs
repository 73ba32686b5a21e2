//! The KS statistic of two sorted samples from their merged order: the merge split into several
//! independent lanes balanced at pooled order statistics, each carrying only its two indices and the
//! exact scaled CDF difference, so the CPU can run them side by side.

use std::hint::select_unpredictable;

/// Independent merges run side by side in [`ks_statistic_sorted`].
const KS_LANES: usize = 4;

/// One merge over u[i..i_end] and v[j..j_end], carrying the scaled CDF difference D = i·m − j·n
/// (an exact integer) of everything consumed so far.
#[derive(Clone, Copy)]
pub(super) struct KsLane {
    i: usize,
    j: usize,
    i_end: usize,
    j_end: usize,
    d: i64,
    /// The last value consumed (only kept by the merge that checks run ends on every step).
    prev: f64,
}

impl KsLane {
    /// Steps that certainly leave both sides non-empty (each step consumes one element of one side).
    #[inline(always)]
    fn safe_steps(&self) -> usize {
        (self.i_end - self.i).min(self.j_end - self.j)
    }

    /// Consumes the smaller head (u's on a tie). Written without branches on the data (which side
    /// advances is unpredictable for interleaved samples); the only branch is taken when D reaches one of
    /// the running extremes, rarely once they have settled.
    ///
    /// Where a run of equal values ends is checked in one of two ways. With `RUNS`, every step compares
    /// the value it consumes with the previous one, and the position before it is recorded if the value
    /// is larger. Without it, nothing is compared on the way and only a position where D reaches an
    /// extreme is checked; that is cheaper, except when long runs of ties keep D at its extreme.
    #[inline(always)]
    fn step<const RUNS: bool>(
        &mut self,
        u: &[f64],
        v: &[f64],
        n: i64,
        m: i64,
        ks: &mut KsExtremes,
    ) {
        let (x, y) = (u[self.i], v[self.j]);
        let take_u = x <= y;
        if RUNS {
            let cur = if y < x { y } else { x };
            if cur > self.prev && (self.d >= ks.max_d || self.d <= ks.min_d) {
                ks.observe(self.d, self.i, self.j, n, m);
            }
            self.prev = cur;
        }
        self.i += take_u as usize;
        // Written differently from the line above on purpose: two identical updates get packed into
        // one vector register, which costs more than it saves here.
        self.j = self.j + 1 - take_u as usize;
        self.d += select_unpredictable(take_u, m, -n);
        if !RUNS && (self.d >= ks.max_d || self.d <= ks.min_d) {
            ks.observe_at(self.d, self.i, self.j, u, v, n, m);
        }
    }

    /// Merges what is left of this lane, then consumes the side that remains in one jump.
    fn finish<const RUNS: bool>(
        &mut self,
        u: &[f64],
        v: &[f64],
        n: i64,
        m: i64,
        ks: &mut KsExtremes,
    ) {
        while self.safe_steps() > 0 {
            self.step::<RUNS>(u, v, n, m, ks);
        }
        if RUNS {
            // The position reached is recorded by the next step, and there is none in this lane.
            ks.observe_at(self.d, self.i, self.j, u, v, n, m);
        }
        let (rest_u, rest_v) = (&u[self.i..self.i_end], &v[self.j..self.j_end]);
        if rest_u.is_empty() && rest_v.is_empty() {
            return;
        }
        // Over what is left D moves one way, so among the run ends there its extremes are at the first
        // run end (after the values equal to the last one consumed) and at the end of the lane.
        let last = last_consumed(u, v, self.i, self.j).unwrap_or(u[0].min(v[0]));
        let (i1, j1) = (
            self.i + rest_u.partition_point(|&x| x <= last),
            self.j + rest_v.partition_point(|&y| y <= last),
        );
        let at = |i: usize, j: usize| i as i64 * m - j as i64 * n;
        ks.observe_at(at(i1, j1), i1, j1, u, v, n, m);
        (self.i, self.j) = (self.i_end, self.j_end);
        self.d = at(self.i, self.j);
        ks.observe_at(self.d, self.i, self.j, u, v, n, m);
    }
}

/// The largest value consumed once the merge is at (i, j): everything consumed is below everything
/// left. `None` at the start.
fn last_consumed(u: &[f64], v: &[f64], i: usize, j: usize) -> Option<f64> {
    match (i.checked_sub(1), j.checked_sub(1)) {
        (Some(a), Some(b)) => Some(u[a].max(v[b])),
        (Some(a), None) => Some(u[a]),
        (None, Some(b)) => Some(v[b]),
        (None, None) => None,
    }
}

/// The two-sided KS statistic of `scipy.stats.ks_2samp` (before any re-quantisation), from the
/// extremes of D = i·m − j·n over the merge (u first on ties).
///
/// scipy evaluates the CDFs only where a run of equal values ends, so a position counts only when the
/// next value is larger. That check is made only for the rare positions where D reaches a running
/// extreme. Skipping a position inside a run is safe: the run's end comes later and is checked in turn
/// if it reaches the extreme.
pub(super) fn ks_statistic_sorted(u: &[f64], v: &[f64], n: i64, m: i64) -> f64 {
    let mut ks = KsExtremes::new();
    let lanes = ks_lanes(u, v, n, m);
    if has_ties(u) || has_ties(v) {
        run_ks_lanes::<true>(lanes, u, v, n, m, &mut ks);
    } else {
        run_ks_lanes::<false>(lanes, u, v, n, m, &mut ks);
    }
    ks.statistic()
}

/// Whether a sorted sample looks like it has runs of equal values, from up to 256 neighbouring pairs
/// spread over it. Only picks the faster merge for the data; both give the same result.
fn has_ties(sorted: &[f64]) -> bool {
    let pairs = sorted.len().saturating_sub(1);
    let stride = (pairs / 256).max(1);
    (0..pairs)
        .step_by(stride)
        .any(|k| sorted[k] == sorted[k + 1])
}

/// Cuts the pooled sequence at its quantiles into `KS_LANES` lanes. Every value equal to a cut goes to
/// the later lane, from both samples, so each lane's merge is a contiguous piece of the whole merge.
pub(super) fn ks_lanes(u: &[f64], v: &[f64], n: i64, m: i64) -> [KsLane; KS_LANES] {
    let (nu, mv) = (u.len(), v.len());
    let mut lanes = [KsLane {
        i: 0,
        j: 0,
        i_end: nu,
        j_end: mv,
        d: 0,
        prev: u[0].min(v[0]),
    }; KS_LANES];
    let mut split = f64::NEG_INFINITY;
    for c in 1..KS_LANES {
        // Cuts must not decrease, or lanes would overlap.
        split = split.max(pooled_kth(u, v, c * (nu + mv) / KS_LANES));
        let (i, j) = (
            u.partition_point(|&x| x < split),
            v.partition_point(|&x| x < split),
        );
        (lanes[c - 1].i_end, lanes[c - 1].j_end) = (i, j);
        (lanes[c].i, lanes[c].j) = (i, j);
        lanes[c].d = i as i64 * m - j as i64 * n;
        // The last value before the lane; no position before the first value is a run end.
        lanes[c].prev = match (i, j) {
            (0, 0) => u[0].min(v[0]),
            (0, j) => v[j - 1],
            (i, 0) => u[i - 1],
            (i, j) => u[i - 1].max(v[j - 1]),
        };
    }
    lanes
}

/// Runs the lanes' merges in one loop: all of them advance in blocks of steps that cannot exhaust
/// either side of any lane, so the inner loop needs no end checks. The lanes are copied into named
/// locals so that their state lives in registers (left in an array, it went through the stack on every
/// step).
pub(super) fn run_ks_lanes<const RUNS: bool>(
    lanes: [KsLane; KS_LANES],
    u: &[f64],
    v: &[f64],
    n: i64,
    m: i64,
    ks: &mut KsExtremes,
) {
    let [mut a, mut b, mut c, mut e] = lanes;
    loop {
        let steps = a
            .safe_steps()
            .min(b.safe_steps())
            .min(c.safe_steps())
            .min(e.safe_steps());
        if steps == 0 {
            break;
        }
        for _ in 0..steps {
            a.step::<RUNS>(u, v, n, m, ks);
            b.step::<RUNS>(u, v, n, m, ks);
            c.step::<RUNS>(u, v, n, m, ks);
            e.step::<RUNS>(u, v, n, m, ks);
        }
    }
    for lane in [&mut a, &mut b, &mut c, &mut e] {
        lane.finish::<RUNS>(u, v, n, m, ks);
    }
}

/// Largest and smallest scaled CDF difference D = i·m − j·n at the points where the empirical CDFs are
/// evaluated (the end of each run of equal values), with the float i/n − j/m scipy would compute there.
/// Several positions can share the extreme D (always, with equal sizes); their float values can differ
/// in the last bit, so the float is maximised (minimised) over all of them. A smaller D can never win in
/// floating point, because neighbouring D levels differ by 1/(n·m), far more than rounding.
#[derive(Clone, Copy)]
pub(super) struct KsExtremes {
    max_d: i64,
    max_f: f64,
    min_d: i64,
    min_f: f64,
}

impl KsExtremes {
    pub(super) fn new() -> Self {
        KsExtremes {
            max_d: i64::MIN,
            max_f: f64::NEG_INFINITY,
            min_d: i64::MAX,
            min_f: f64::INFINITY,
        }
    }

    /// Records the CDF difference at (i, j), where a run of equal values ends.
    #[inline(always)]
    fn observe(&mut self, d: i64, i: usize, j: usize, n: i64, m: i64) {
        if d >= self.max_d {
            let f = i as f64 / n as f64 - j as f64 / m as f64;
            self.max_f = if d > self.max_d { f } else { self.max_f.max(f) };
            self.max_d = d;
        }
        if d <= self.min_d {
            let f = i as f64 / n as f64 - j as f64 / m as f64;
            self.min_f = if d < self.min_d { f } else { self.min_f.min(f) };
            self.min_d = d;
        }
    }

    /// Records the position (i, j) of the merge if it ends a run of equal values: the last value
    /// consumed, max(u[i − 1], v[j − 1]), is below the next one, min(u[i], v[j]), or nothing follows.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn observe_at(&mut self, d: i64, i: usize, j: usize, u: &[f64], v: &[f64], n: i64, m: i64) {
        let Some(last) = last_consumed(u, v, i, j) else {
            return;
        };
        let next = match (u.get(i), v.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => f64::INFINITY,
        };
        if next > last {
            self.observe(d, i, j, n, m);
        }
    }

    /// The two-sided statistic with scipy's rule: the negative side wins only when strictly larger.
    pub(super) fn statistic(&self) -> f64 {
        let min_s = (-self.min_f).clamp(0.0, 1.0);
        if min_s > self.max_f {
            min_s
        } else {
            self.max_f
        }
    }
}

/// The k-th smallest (0-based) value of the union of two ascending slices,
/// by binary search on how many of the first k come from `u`. Only used to
/// balance the merge lanes, so any value would be correct, just slower.
fn pooled_kth(u: &[f64], v: &[f64], k: usize) -> f64 {
    let (n, m) = (u.len(), v.len());
    let (mut lo, mut hi) = (k.saturating_sub(m), k.min(n));
    while lo < hi {
        let from_u = lo + (hi - lo) / 2;
        // from_u < hi <= n and k - from_u > 0, so both indices are valid.
        if u[from_u] < v[k - from_u - 1] {
            lo = from_u + 1;
        } else {
            hi = from_u;
        }
    }
    match (u.get(lo), v.get(k - lo)) {
        (Some(&a), Some(&b)) => a.min(b),
        (Some(&a), None) => a,
        (None, Some(&b)) => b,
        (None, None) => u[n - 1].max(v[m - 1]),
    }
}
