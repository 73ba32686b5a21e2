//! A sorted multiset of finite floats with O(log n) insert, remove and rank queries: the score lists of
//! ROC AUC's incremental Mann–Whitney U (`window::metric`), which asks four ranks per labelled sample.
//!
//! The values live in a list of sorted chunks of bounded size (the layout of a B+ tree's leaves without
//! the inner nodes): an insert or removal binary-searches the chunk maxima, then shifts at most
//! `2 * LOAD` values inside one chunk, and the memory overhead is a fraction of a value per value.
//!
//! Rank queries (how many values are below x) need the number of values in the chunks before x's
//! chunk; a Fenwick tree over the chunk lengths answers that in O(log chunks), so a rank query stays
//! O(log n) even for windows of millions of values. The tree is updated by ±1 on an ordinary insert or
//! removal and rebuilt in O(chunks) when chunks split or merge, which happens once every few dozen
//! updates.
//!
//! Values must not be NaN (callers treat NaN as missing and never insert it). `-0.0` is stored as
//! `0.0`, so equal values always compare equal.

/// Target chunk length; chunks split at twice this and merge with a neighbour below half of it. Small
/// chunks keep the shift of an insert or removal short (a window of a few thousand values is the common
/// case), and the chunk index is binary-searched, so many chunks cost little.
const LOAD: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct SortedList {
    chunks: Vec<Vec<f64>>,
    /// `maxes[i]` is the last (largest) value of `chunks[i]`.
    maxes: Vec<f64>,
    len: usize,
    /// Fenwick tree (1-based) of the chunk lengths.
    tree: Vec<usize>,
}

#[inline]
fn normalise(x: f64) -> f64 {
    // Adding +0.0 turns -0.0 into +0.0 and leaves every other value unchanged.
    x + 0.0
}

impl SortedList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the Fenwick tree after the chunks changed shape, in O(chunks).
    fn rebuild_tree(&mut self) {
        let n = self.chunks.len();
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for (i, c) in self.chunks.iter().enumerate() {
            self.tree[i + 1] += c.len();
            let parent = (i + 1) + ((i + 1) & (i + 1).wrapping_neg());
            if parent <= n {
                let v = self.tree[i + 1];
                self.tree[parent] += v;
            }
        }
    }

    /// Adds `delta` (±1) to the length of chunk `ci` in the tree.
    #[inline]
    fn tree_add(&mut self, ci: usize, add: bool) {
        let mut i = ci + 1;
        while i < self.tree.len() {
            if add {
                self.tree[i] += 1;
            } else {
                self.tree[i] -= 1;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// Number of values in the chunks before chunk `ci`.
    #[inline]
    fn before(&self, ci: usize) -> usize {
        let mut i = ci.min(self.chunks.len());
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index of the first chunk whose maximum is >= x (the chunk where x belongs), clamped to the last.
    #[inline]
    fn chunk_for(&self, x: f64) -> usize {
        let i = self.maxes.partition_point(|&m| m < x);
        i.min(self.chunks.len().saturating_sub(1))
    }

    pub fn insert(&mut self, x: f64) {
        debug_assert!(!x.is_nan(), "NaN must never enter a sorted list");
        let x = normalise(x);
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(Vec::with_capacity(2 * LOAD));
            self.chunks[0].push(x);
            self.maxes.push(x);
            self.rebuild_tree();
            return;
        }
        let ci = self.chunk_for(x);
        let chunk = &mut self.chunks[ci];
        let pos = chunk.partition_point(|&v| v <= x);
        chunk.insert(pos, x);
        if pos == chunk.len() - 1 {
            self.maxes[ci] = x;
        }
        if chunk.len() >= 2 * LOAD {
            // Both halves keep room to grow back to a full chunk without reallocating on the way.
            let mut tail = Vec::with_capacity(2 * LOAD);
            tail.extend_from_slice(&chunk[LOAD..]);
            chunk.truncate(LOAD);
            self.maxes[ci] = chunk[LOAD - 1];
            self.maxes.insert(ci + 1, *tail.last().expect("non-empty"));
            self.chunks.insert(ci + 1, tail);
            self.rebuild_tree();
        } else {
            self.tree_add(ci, true);
        }
    }

    /// Removes one occurrence of `x`; returns whether it was present.
    pub fn remove(&mut self, x: f64) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let x = normalise(x);
        let ci = self.chunk_for(x);
        let chunk = &mut self.chunks[ci];
        let pos = chunk.partition_point(|&v| v < x);
        if pos >= chunk.len() || chunk[pos] != x {
            return false;
        }
        chunk.remove(pos);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(ci);
            self.maxes.remove(ci);
            self.rebuild_tree();
            return true;
        }
        self.maxes[ci] = *chunk.last().expect("non-empty");
        if chunk.len() >= LOAD / 2 || self.chunks.len() == 1 {
            self.tree_add(ci, false);
        } else {
            // Merge with a neighbour so chunks stay large and the chunk index stays short.
            let (left, right) = if ci + 1 < self.chunks.len() {
                (ci, ci + 1)
            } else {
                (ci - 1, ci)
            };
            let moved = self.chunks.remove(right);
            self.maxes.remove(right);
            self.chunks[left].extend_from_slice(&moved);
            self.maxes[left] = *self.chunks[left].last().expect("non-empty");
            if self.chunks[left].len() >= 2 * LOAD {
                let half = self.chunks[left].len() / 2;
                let tail = self.chunks[left].split_off(half);
                self.maxes[left] = *self.chunks[left].last().expect("non-empty");
                self.maxes
                    .insert(left + 1, *tail.last().expect("non-empty"));
                self.chunks.insert(left + 1, tail);
            }
            self.rebuild_tree();
        }
        true
    }

    /// Number of values strictly less than `x`.
    pub fn count_lt(&self, x: f64) -> usize {
        let x = normalise(x);
        let ci = self.maxes.partition_point(|&m| m < x);
        self.before(ci)
            + self
                .chunks
                .get(ci)
                .map_or(0, |c| c.partition_point(|&v| v < x))
    }

    /// Number of values less than or equal to `x`.
    pub fn count_le(&self, x: f64) -> usize {
        let x = normalise(x);
        let ci = self.maxes.partition_point(|&m| m <= x);
        self.before(ci)
            + self
                .chunks
                .get(ci)
                .map_or(0, |c| c.partition_point(|&v| v <= x))
    }

    /// All values, in order.
    #[cfg(test)]
    fn to_vec(&self) -> Vec<f64> {
        self.chunks.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Lcg;

    fn check_against(list: &SortedList, model: &[f64]) {
        let mut sorted = model.to_vec();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(list.len(), sorted.len());
        assert_eq!(list.to_vec(), sorted);
        for probe in [-1.0, 0.0, 3.0, 50.0, 99.0, 1e9] {
            assert_eq!(
                list.count_lt(probe),
                sorted.iter().filter(|&&v| v < probe).count()
            );
            assert_eq!(
                list.count_le(probe),
                sorted.iter().filter(|&&v| v <= probe).count()
            );
        }
        for (ci, chunk) in list.chunks.iter().enumerate() {
            assert!(!chunk.is_empty());
            assert_eq!(list.maxes[ci], *chunk.last().unwrap());
        }
    }

    #[test]
    fn random_inserts_and_removes_match_a_sorted_vec() {
        let mut rng = Lcg(42);
        let mut list = SortedList::new();
        let mut model: Vec<f64> = Vec::new();
        for step in 0..20_000 {
            if model.is_empty() || !rng.next().is_multiple_of(3) {
                // Few distinct values, so ties are common.
                let v = (rng.next() % 100) as f64;
                list.insert(v);
                model.push(v);
            } else {
                let i = (rng.next() as usize) % model.len();
                let v = model.swap_remove(i);
                assert!(list.remove(v));
            }
            if step % 997 == 0 {
                check_against(&list, &model);
            }
        }
        check_against(&list, &model);
        while let Some(v) = model.pop() {
            assert!(list.remove(v));
        }
        assert!(list.is_empty());
        assert_eq!(list.chunks.len(), 0);
    }

    #[test]
    fn removing_an_absent_value_changes_nothing() {
        let mut list = SortedList::new();
        for v in [3.0, 1.0, 2.0] {
            list.insert(v);
        }
        assert!(!list.remove(5.0));
        assert!(!list.remove(1.5));
        assert_eq!(list.to_vec(), vec![1.0, 2.0, 3.0]);
        assert!(!SortedList::new().remove(1.0));
    }

    #[test]
    fn negative_zero_equals_zero() {
        let mut list = SortedList::new();
        list.insert(-0.0);
        assert_eq!(list.count_le(0.0), 1);
        assert!(list.remove(0.0));
        assert!(list.is_empty());
    }
}
