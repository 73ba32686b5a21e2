//! A sorted multiset that sorts in batches: what a window's numeric column keeps.
//!
//! A window column is written on every event (one value in, and on a full window one value out) and
//! read in sorted order only when a drift evaluation copies it, every few seconds. Keeping it sorted on
//! every write (as [`SortedList`](super::sorted::SortedList) does, which the ROC rank queries need)
//! costs two O(log n) searches and shifts in memory that the network stack has just evicted from the
//! cache. Here a write only appends to a pending list. The pending values are sorted and merged into
//! the sorted values (one linear pass) when they reach a quarter of the column, at most 4096, or when
//! a reader wants the column in order. A write therefore costs O(1) plus an amortised share of the
//! merge, and the sorted values stay in one contiguous vector, which an evaluation copies in one go.
//!
//! A merge is linear in the column, so on a very long column (a time window can hold millions of
//! values) the share of a merge per write would grow with the column. Past `FLAT_MAX` values the column
//! therefore turns into a chunked [`SortedList`] (O(log n) per write, whatever the length), and back
//! into the flat form when it shrinks below a quarter of that.
//!
//! Values must not be NaN. `-0.0` is stored as `0.0`, so equal values always compare equal.

use super::sorted::{SortedList, normalise};
use crate::stats::exact_sum::ExactSum;

/// Pending updates below which a column is never merged (a merge of a tiny column costs little, but so
/// does waiting).
const MIN_PENDING: usize = 64;
/// Pending updates above which a column is always merged, however long it is: this bounds the memory
/// of the pending lists and the time one merge holds the model lock.
const MAX_PENDING: usize = 4096;
/// Longest column kept flat: there a merge costs about 80 ns per pending update (a linear pass over
/// 32 values per update), about what an O(log n) insert into a chunked list costs. It holds a 100k
/// count window, whose evaluation copies then read one contiguous vector.
const FLAT_MAX: usize = 131_072;

#[derive(Debug, Clone)]
pub struct LazySorted {
    /// Values merged so far, ascending (flat form).
    sorted: Vec<f64>,
    /// Values inserted since the last merge, in arrival order (flat form).
    added: Vec<f64>,
    /// Values removed since the last merge, in arrival order. Each is in `sorted` or `added`.
    removed: Vec<f64>,
    /// Exact sum of the values, in either form.
    sum: ExactSum,
    /// The long form: every value, kept sorted on every write.
    chunked: Option<SortedList>,
    /// Length past which the column turns chunked (`FLAT_MAX`, smaller in tests).
    flat_max: usize,
}

impl Default for LazySorted {
    fn default() -> Self {
        LazySorted {
            sorted: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            sum: ExactSum::default(),
            chunked: None,
            flat_max: FLAT_MAX,
        }
    }
}

impl LazySorted {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        match &self.chunked {
            Some(list) => list.len(),
            None => self.sorted.len() + self.added.len() - self.removed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&mut self, x: f64) {
        debug_assert!(!x.is_nan(), "NaN must never enter a sorted column");
        let x = normalise(x);
        self.sum.add(x);
        if let Some(list) = self.chunked.as_mut() {
            list.insert(x);
            return;
        }
        self.added.push(x);
        self.merge_if_due();
    }

    /// Removes one occurrence of `x`, which the caller guarantees is present (a window removes only
    /// values it inserted).
    pub fn remove(&mut self, x: f64) {
        let x = normalise(x);
        self.sum.remove(x);
        if let Some(list) = self.chunked.as_mut() {
            let removed = list.remove(x);
            debug_assert!(removed, "removed a value that was never inserted");
            if list.len() < self.flat_max / 4 {
                self.sorted = list.to_vec();
                self.chunked = None;
            }
            return;
        }
        self.removed.push(x);
        self.merge_if_due();
    }

    /// The sum of the values, exact to within one rounding, in O(1).
    pub fn sum(&self) -> f64 {
        self.sum.value()
    }

    #[inline]
    fn merge_if_due(&mut self) {
        let pending = self.added.len() + self.removed.len();
        if pending >= (self.sorted.len() / 4).clamp(MIN_PENDING, MAX_PENDING) {
            self.merge();
        }
    }

    /// Merges the pending updates into the sorted values: O(n + k log k) for k pending updates.
    pub fn merge(&mut self) {
        if self.added.is_empty() && self.removed.is_empty() {
            return;
        }
        self.added.sort_unstable_by(f64::total_cmp);
        self.removed.sort_unstable_by(f64::total_cmp);
        let mut merged = Vec::with_capacity(self.len());
        merge_into(&self.sorted, &self.added, &self.removed, &mut merged);
        self.added.clear();
        self.removed.clear();
        if merged.len() > self.flat_max {
            self.chunked = Some(SortedList::from_sorted(&merged));
            self.sorted = Vec::new();
        } else {
            self.sorted = merged;
        }
    }

    /// Appends all values, ascending, to `out`. Pending updates are merged on the way without changing
    /// the column (call `merge` first when the column is writable, so the work is done once).
    pub fn copy_into(&self, out: &mut Vec<f64>) {
        if let Some(list) = &self.chunked {
            list.copy_into(out);
            return;
        }
        out.reserve(self.len());
        if self.added.is_empty() && self.removed.is_empty() {
            out.extend_from_slice(&self.sorted);
            return;
        }
        let mut added = self.added.clone();
        added.sort_unstable_by(f64::total_cmp);
        let mut removed = self.removed.clone();
        removed.sort_unstable_by(f64::total_cmp);
        merge_into(&self.sorted, &added, &removed, out);
    }

    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.len());
        self.copy_into(&mut v);
        v
    }

    /// Heap bytes in use, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        (self.sorted.capacity() + self.added.capacity() + self.removed.capacity()) * 8
            + self.chunked.as_ref().map_or(0, SortedList::heap_bytes)
    }
}

/// Writes the multiset (sorted ∪ added) − removed to `out`, ascending; all three inputs ascending.
fn merge_into(sorted: &[f64], added: &[f64], removed: &[f64], out: &mut Vec<f64>) {
    let (mut i, mut j, mut r) = (0, 0, 0);
    loop {
        let next = match (sorted.get(i), added.get(j)) {
            (Some(&a), Some(&b)) if a <= b => {
                i += 1;
                a
            }
            (_, Some(&b)) => {
                j += 1;
                b
            }
            (Some(&a), None) => {
                i += 1;
                a
            }
            (None, None) => break,
        };
        // Every removed value is present, so it is met in ascending order; anything below `next` left
        // in `removed` would be a caller's mistake, skipped rather than matched to a wrong value.
        let unmatched = r;
        while r < removed.len() && removed[r] < next {
            r += 1;
        }
        debug_assert_eq!(r, unmatched, "removed a value that was never inserted");
        if r < removed.len() && removed[r] == next {
            r += 1;
        } else {
            out.push(next);
        }
    }
    debug_assert_eq!(r, removed.len(), "removed values that were never inserted");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Lcg;

    fn check(list: &LazySorted, model: &[f64]) {
        let mut want = model.to_vec();
        want.sort_by(f64::total_cmp);
        assert_eq!(list.len(), want.len());
        assert_eq!(list.is_empty(), want.is_empty());
        assert_eq!(list.to_vec(), want);
        // Integer values: the compensated sum afresh is exact, so must equal the running sum.
        assert_eq!(
            list.sum().to_bits(),
            crate::stats::quantile::sum(&want).to_bits()
        );
    }

    #[test]
    fn sliding_windows_of_every_size_match_a_sorted_vec() {
        // A window of `width` values slides over a stream with many ties; the column must always hold
        // exactly the values inside, before and after merges, read with and without merging first.
        // With a small `flat_max`, the longer windows turn chunked as they fill.
        let mut rng = Lcg(11);
        for (width, flat_max) in [
            (1, FLAT_MAX),
            (2, FLAT_MAX),
            (5, FLAT_MAX),
            (63, FLAT_MAX),
            (64, FLAT_MAX),
            (65, FLAT_MAX),
            (300, FLAT_MAX),
            (1000, FLAT_MAX),
            (5000, FLAT_MAX),
            (20_000, FLAT_MAX),
            (1000, 400),
            (5000, 400),
        ] {
            let stream: Vec<f64> = (0..width * 3 + 500)
                .map(|_| (rng.next() % 200) as f64 - 100.0)
                .collect();
            let mut list = LazySorted {
                flat_max,
                ..LazySorted::new()
            };
            for (k, &v) in stream.iter().enumerate() {
                list.insert(v);
                if k >= width {
                    list.remove(stream[k - width]);
                }
                if k % 97 == 0 || k == stream.len() - 1 {
                    let inside = &stream[(k + 1).saturating_sub(width)..=k];
                    check(&list, inside);
                    if k % 2 == 0 {
                        list.merge();
                        check(&list, inside);
                        assert!(list.added.is_empty() && list.removed.is_empty());
                    }
                }
                let pending = list.added.len() + list.removed.len();
                assert!(pending < MAX_PENDING.max(MIN_PENDING));
            }
            assert_eq!(list.chunked.is_some(), width > flat_max, "width {width}");
        }
    }

    #[test]
    fn a_column_turns_chunked_when_long_and_flat_again_when_short() {
        let mut list = LazySorted {
            flat_max: 1000,
            ..LazySorted::new()
        };
        let values: Vec<f64> = (0..3000)
            .map(|k| ((k * 7919) % 3001) as f64 * 0.5)
            .collect();
        for &v in &values {
            list.insert(v);
        }
        assert!(list.chunked.is_some());
        check(&list, &values);
        // Shrinking below a quarter of `flat_max` goes back to the flat form, sum included.
        for &v in &values[..2800] {
            list.remove(v);
        }
        assert!(list.chunked.is_none());
        check(&list, &values[2800..]);
        list.insert(-1.5);
        let mut rest = values[2800..].to_vec();
        rest.push(-1.5);
        check(&list, &rest);
        list.merge();
        check(&list, &rest);
    }

    #[test]
    fn removals_of_values_still_pending_and_negative_zero() {
        let mut list = LazySorted::new();
        list.insert(-0.0);
        list.insert(2.0);
        list.insert(2.0);
        list.remove(0.0);
        list.remove(2.0);
        check(&list, &[2.0]);
        assert_eq!(list.to_vec()[0].to_bits(), 2.0f64.to_bits());
        list.insert(-0.0);
        list.merge();
        assert_eq!(list.to_vec()[0].to_bits(), 0.0f64.to_bits());
        list.remove(-0.0);
        list.remove(2.0);
        check(&list, &[]);
        list.merge();
        check(&list, &[]);
    }

    #[test]
    fn merges_keep_the_pending_lists_bounded() {
        let mut list = LazySorted::new();
        for k in 0..100_000 {
            list.insert(k as f64);
            let pending = list.added.len() + list.removed.len();
            assert!(pending <= (list.sorted.len() / 4).clamp(MIN_PENDING, MAX_PENDING));
        }
        assert!(list.added.len() < MAX_PENDING);
        assert_eq!(list.len(), 100_000);
    }
}
