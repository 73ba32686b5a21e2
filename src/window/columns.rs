//! Windows of column values: what drift detection and data-quality checks read.
//!
//! A `ColumnWindow` holds rows of numeric and categorical values (one row per prediction, or one label
//! per labelled sample) and gives the drift tests, per column, the sorted numeric values or the counts
//! per category id, and the missing counts. Rows live in a slab so an event costs no allocation once
//! the window is warm.
//!
//! Categorical counts are updated on every insert and eviction. Numeric columns have two forms,
//! chosen by the window's capacity:
//!
//! - A long window (more than `GATHER_MAX` rows) keeps each numeric column as a sorted multiset that
//!   sorts in batches (`LazySorted`: O(1) per value plus an amortised share of a merge), so that an
//!   evaluation copies sorted values and never sorts a million of them.
//! - A short window keeps nothing per numeric column: a read gathers the column from the slab and the
//!   copy is sorted outside the model lock. An update then costs no work per column at all. Keeping
//!   a column sorted costs O(log k) per update; sorting it on read costs O(n log n) per evaluation, which
//!   is less as soon as a window sees more than its own length in updates between two evaluations, and
//!   is under a millisecond per column at this size in any case. On the single-event HTTP path the
//!   per-column work was a sixth of the instructions of a request.
//!
//! Both forms give the same copy, bit for bit (sorted values, missing count and exact sum).
//!
//! A window can have a *previous stage*: rows evicted from the window enter a second window of the same
//! size, which is the moving reference ("the N predictions before the last N", or the time range
//! [now − 2d, now − d)).

use super::lazy::LazySorted;
use super::queue::{EvictionQueue, Policy};
use super::sorted::normalise;

/// Windows of at most this many rows gather numeric columns on read instead of keeping them sorted.
/// Gathering a column of this many rows from a 17-column slab took 81 µs (under the model lock), and
/// sorting the copy and summing it 0.7 ms (outside the lock).
pub const GATHER_MAX: usize = 16_384;

/// Category id of a missing categorical value.
pub const MISSING: u32 = u32::MAX;

/// Numbers of numeric and categorical columns in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub numeric: usize,
    pub categorical: usize,
}

#[derive(Debug, Clone, Default)]
pub struct NumericColumn {
    pub sorted: LazySorted,
    pub missing: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CategoricalColumn {
    /// Count per category id; ids index into the model's interner for this column.
    pub counts: Vec<u64>,
    pub missing: u64,
}

impl CategoricalColumn {
    fn add(&mut self, id: u32) {
        if id == MISSING {
            self.missing += 1;
            return;
        }
        let i = id as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    fn remove(&mut self, id: u32) {
        if id == MISSING {
            self.missing -= 1;
        } else {
            self.counts[id as usize] -= 1;
        }
    }
}

/// Rows of a window, detached: timestamps and row-major values.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rows {
    pub numeric: usize,
    pub categorical: usize,
    pub ts: Vec<i64>,
    pub num: Vec<f64>,
    pub cat: Vec<u32>,
}

pub struct ColumnWindow {
    layout: Layout,
    queue: EvictionQueue<u32>,
    /// Slab of rows: row `s` has numeric values `num[s*layout.numeric..]` and categorical ids
    /// `cat[s*layout.categorical..]`. Missing numeric values are NaN.
    num: Vec<f64>,
    cat: Vec<u32>,
    free: Vec<u32>,
    slots: u32,
    numeric: Vec<NumericColumn>,
    categorical: Vec<CategoricalColumn>,
    previous: Option<Box<ColumnWindow>>,
    evicted: Vec<(i64, u32)>,
    /// Whether numeric columns are kept sorted on every update (long windows) or gathered from the
    /// slab when read (short ones). See the module docs.
    sorted_columns: bool,
}

/// A copy of one numeric column. A window that keeps its columns sorted gives them sorted, with their
/// exact sum; a short window gives the values as gathered, for the reader to sort outside the lock.
#[derive(Debug, Clone, PartialEq)]
pub enum NumericCopy {
    Sorted {
        values: Vec<f64>,
        missing: u64,
        sum: f64,
    },
    Unsorted {
        values: Vec<f64>,
        missing: u64,
    },
}

impl ColumnWindow {
    pub fn new(layout: Layout, policy: Policy, with_previous: bool) -> Self {
        Self::with_form(
            layout,
            policy,
            with_previous,
            policy.capacity() > GATHER_MAX,
        )
    }

    fn with_form(
        layout: Layout,
        policy: Policy,
        with_previous: bool,
        sorted_columns: bool,
    ) -> Self {
        ColumnWindow {
            layout,
            queue: EvictionQueue::new(policy),
            num: Vec::new(),
            cat: Vec::new(),
            free: Vec::new(),
            slots: 0,
            numeric: if sorted_columns {
                vec![NumericColumn::default(); layout.numeric]
            } else {
                Vec::new()
            },
            categorical: vec![CategoricalColumn::default(); layout.categorical],
            previous: with_previous.then(|| {
                Box::new(ColumnWindow::with_form(
                    layout,
                    policy.previous_stage(),
                    false,
                    sorted_columns,
                ))
            }),
            evicted: Vec::new(),
            sorted_columns,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Rows in the window.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A copy of numeric column `i`.
    pub fn numeric_copy(&self, i: usize) -> NumericCopy {
        if self.sorted_columns {
            let c = &self.numeric[i];
            return NumericCopy::Sorted {
                values: c.sorted.to_vec(),
                missing: c.missing,
                sum: c.sorted.sum(),
            };
        }
        let n = self.layout.numeric;
        let mut values = Vec::with_capacity(self.len());
        let mut missing = 0;
        self.queue.for_each(|_, &slot| {
            let v = self.num[slot as usize * n + i];
            if v.is_nan() {
                missing += 1;
            } else {
                values.push(normalise(v));
            }
        });
        NumericCopy::Unsorted { values, missing }
    }

    /// Whether numeric column `i` holds any value that is not missing.
    pub fn has_numeric_values(&self, i: usize) -> bool {
        if self.sorted_columns {
            return !self.numeric[i].sorted.is_empty();
        }
        let n = self.layout.numeric;
        let mut any = false;
        self.queue
            .for_each(|_, &slot| any |= !self.num[slot as usize * n + i].is_nan());
        any
    }

    pub fn categorical(&self, i: usize) -> &CategoricalColumn {
        &self.categorical[i]
    }

    /// The moving-reference stage, if this window has one.
    pub fn previous(&self) -> Option<&ColumnWindow> {
        self.previous.as_deref()
    }

    /// Adds a row observed at `ts`. Rows too old for a time window go straight to the previous stage (if
    /// they are young enough for it) and are otherwise dropped.
    pub fn push(&mut self, ts: i64, num: &[f64], cat: &[u32], now: i64) {
        debug_assert_eq!(num.len(), self.layout.numeric);
        debug_assert_eq!(cat.len(), self.layout.categorical);
        if !self.queue.admits(ts, now) {
            if let Some(prev) = self.previous.as_mut()
                && prev.queue.admits(ts, now)
            {
                prev.push(ts, num, cat, now);
            }
            return;
        }
        let slot = self.alloc(num, cat);
        // A short window has no numeric column state (`self.numeric` is empty): nothing to do.
        for (col, &v) in self.numeric.iter_mut().zip(num) {
            if v.is_nan() {
                col.missing += 1;
            } else {
                col.sorted.insert(v);
            }
        }
        for (col, &id) in self.categorical.iter_mut().zip(cat) {
            col.add(id);
        }
        let mut evicted = std::mem::take(&mut self.evicted);
        self.queue.push(ts, slot, &mut evicted);
        self.queue.expire(now, &mut evicted);
        self.release(&mut evicted, now);
        self.evicted = evicted;
    }

    /// Evicts rows that time has pushed out, here and in the previous stage.
    pub fn expire(&mut self, now: i64) {
        let mut evicted = std::mem::take(&mut self.evicted);
        self.queue.expire(now, &mut evicted);
        self.release(&mut evicted, now);
        self.evicted = evicted;
        if let Some(prev) = self.previous.as_mut() {
            prev.expire(now);
        }
    }

    /// Merges the pending updates of numeric column `i` (here and in the previous stage), so that a
    /// copy reads contiguous sorted values. Called under the model lock before an evaluation copies it.
    pub fn merge_pending(&mut self, i: usize) {
        if let Some(c) = self.numeric.get_mut(i) {
            c.sorted.merge();
        }
        if let Some(prev) = self.previous.as_mut() {
            prev.merge_pending(i);
        }
    }

    /// Removes everything (used when a reference is reset).
    pub fn clear(&mut self) {
        let policy = self.queue.policy();
        let with_previous = self.previous.is_some();
        *self = ColumnWindow::with_form(self.layout, policy, with_previous, self.sorted_columns);
    }

    fn alloc(&mut self, num: &[f64], cat: &[u32]) -> u32 {
        let (n, c) = (self.layout.numeric, self.layout.categorical);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let s = self.slots;
                self.slots += 1;
                self.num.resize(self.slots as usize * n, f64::NAN);
                self.cat.resize(self.slots as usize * c, MISSING);
                s
            }
        };
        let s = slot as usize;
        self.num[s * n..(s + 1) * n].copy_from_slice(num);
        self.cat[s * c..(s + 1) * c].copy_from_slice(cat);
        slot
    }

    /// Takes evicted rows out of the statistics, frees their slots, and hands them to the previous stage.
    fn release(&mut self, evicted: &mut Vec<(i64, u32)>, now: i64) {
        let (n, c) = (self.layout.numeric, self.layout.categorical);
        for (ts, slot) in evicted.drain(..) {
            let s = slot as usize;
            let row_num = &self.num[s * n..(s + 1) * n];
            let row_cat = &self.cat[s * c..(s + 1) * c];
            for (col, &v) in self.numeric.iter_mut().zip(row_num) {
                if v.is_nan() {
                    col.missing -= 1;
                } else {
                    col.sorted.remove(v);
                }
            }
            for (col, &id) in self.categorical.iter_mut().zip(row_cat) {
                col.remove(id);
            }
            if let Some(prev) = self.previous.as_mut()
                && prev.queue.admits(ts, now)
            {
                prev.push(ts, row_num, row_cat, now);
            }
            self.free.push(slot);
        }
        // Give memory back when a window shrinks a lot (e.g. a time window after a burst).
        if self.free.len() > 1024 && self.free.len() * 2 > self.slots as usize {
            self.compact();
        }
    }

    /// Rebuilds the slab densely. Rare: only after a window has lost more than half its rows.
    fn compact(&mut self) {
        let (n, c) = (self.layout.numeric, self.layout.categorical);
        let mut rows = Vec::with_capacity(self.queue.len());
        self.queue.drain(|ts, slot| rows.push((ts, slot)));
        let mut num = Vec::with_capacity(rows.len() * n);
        let mut cat = Vec::with_capacity(rows.len() * c);
        // A FIFO drains in arrival order, so count windows keep their order exactly. A heap drains in no
        // particular order, which only reorders rows with equal timestamps among themselves.
        let mut relocated = Vec::with_capacity(rows.len());
        for (new_slot, &(ts, slot)) in rows.iter().enumerate() {
            let s = slot as usize;
            num.extend_from_slice(&self.num[s * n..(s + 1) * n]);
            cat.extend_from_slice(&self.cat[s * c..(s + 1) * c]);
            relocated.push((ts, new_slot as u32));
        }
        self.num = num;
        self.cat = cat;
        self.slots = rows.len() as u32;
        self.free = Vec::new();
        let mut sink = Vec::new();
        for (ts, slot) in relocated {
            self.queue.push(ts, slot, &mut sink);
        }
        debug_assert!(sink.is_empty());
    }

    /// The rows in eviction order (arrival order for count windows), for snapshots. Pushing them back in
    /// this order into an empty window of the same policy rebuilds it.
    pub fn export(&self) -> Rows {
        let (n, c) = (self.layout.numeric, self.layout.categorical);
        let mut rows = Rows {
            numeric: n,
            categorical: c,
            ..Rows::default()
        };
        self.queue.for_each(|ts, &slot| {
            let s = slot as usize;
            rows.ts.push(ts);
            rows.num.extend_from_slice(&self.num[s * n..(s + 1) * n]);
            rows.cat.extend_from_slice(&self.cat[s * c..(s + 1) * c]);
        });
        rows
    }

    /// Pushes exported rows back (into this window, which should be empty).
    pub fn import(&mut self, rows: &Rows, now: i64) {
        if rows.numeric != self.layout.numeric || rows.categorical != self.layout.categorical {
            return;
        }
        let (n, c) = (rows.numeric, rows.categorical);
        for (i, &ts) in rows.ts.iter().enumerate() {
            self.push(
                ts,
                &rows.num[i * n..(i + 1) * n],
                &rows.cat[i * c..(i + 1) * c],
                now,
            );
        }
    }

    /// Pushes exported rows into the previous stage (the moving reference), if there is one.
    pub fn import_previous(&mut self, rows: &Rows, now: i64) {
        if let Some(prev) = self.previous.as_mut() {
            prev.import(rows, now);
        }
    }

    /// Approximate heap bytes held, for the memory accounting in the benchmarks.
    pub fn heap_bytes(&self) -> usize {
        self.num.capacity() * 8
            + self.cat.capacity() * 4
            + self.free.capacity() * 4
            + self
                .numeric
                .iter()
                .map(|c| c.sorted.heap_bytes())
                .sum::<usize>()
            + self
                .categorical
                .iter()
                .map(|c| c.counts.capacity() * 8)
                .sum::<usize>()
            + self.queue.len() * 24
            + self.previous.as_ref().map_or(0, |p| p.heap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column `i` of a window, sorted, as an evaluation reads it.
    fn sorted(w: &ColumnWindow, i: usize) -> Vec<f64> {
        match w.numeric_copy(i) {
            NumericCopy::Sorted { values, .. } => values,
            NumericCopy::Unsorted { mut values, .. } => {
                values.sort_unstable_by(f64::total_cmp);
                values
            }
        }
    }

    fn missing(w: &ColumnWindow, i: usize) -> u64 {
        match w.numeric_copy(i) {
            NumericCopy::Sorted { missing, .. } | NumericCopy::Unsorted { missing, .. } => missing,
        }
    }

    fn layout() -> Layout {
        Layout {
            numeric: 2,
            categorical: 1,
        }
    }

    #[test]
    fn count_window_statistics_follow_the_contents() {
        for form in [false, true] {
            let mut w = ColumnWindow::with_form(layout(), Policy::Count(3), false, form);
            w.push(1, &[1.0, f64::NAN], &[0], 0);
            w.push(2, &[2.0, 5.0], &[1], 0);
            w.push(3, &[3.0, 6.0], &[MISSING], 0);
            w.push(4, &[4.0, 7.0], &[1], 0);
            assert_eq!(w.len(), 3);
            assert_eq!(sorted(&w, 0), vec![2.0, 3.0, 4.0]);
            assert_eq!(sorted(&w, 1), vec![5.0, 6.0, 7.0]);
            assert_eq!(missing(&w, 1), 0);
            assert_eq!(w.categorical(0).counts, vec![0, 2]);
            assert_eq!(w.categorical(0).missing, 1);
        }
    }

    #[test]
    fn moving_reference_holds_the_rows_before_the_window() {
        for form in [false, true] {
            let mut w = ColumnWindow::with_form(layout(), Policy::Count(2), true, form);
            for i in 0..7 {
                w.push(i, &[i as f64, 0.0], &[0], 0);
            }
            assert_eq!(sorted(&w, 0), vec![5.0, 6.0]);
            let prev = w.previous().unwrap();
            assert_eq!(sorted(prev, 0), vec![3.0, 4.0]);
            assert!(prev.previous().is_none());
        }
    }

    #[test]
    fn time_window_and_its_previous_stage() {
        for form in [false, true] {
            let d = 100;
            let mut w = ColumnWindow::with_form(
                layout(),
                Policy::Time {
                    duration_ns: d,
                    max: 1000,
                },
                true,
                form,
            );
            // Rows at t = 0, 50, 120, 180, observed at now = 200: window (100, 200], previous (0, 100].
            w.push(0, &[0.0, 0.0], &[0], 0);
            w.push(50, &[50.0, 0.0], &[0], 50);
            w.push(120, &[120.0, 0.0], &[0], 120);
            w.push(180, &[180.0, 0.0], &[0], 180);
            w.expire(200);
            assert_eq!(sorted(&w, 0), vec![120.0, 180.0]);
            assert_eq!(sorted(w.previous().unwrap(), 0), vec![50.0]);
            // A late row that is already too old for the window goes to the previous stage.
            w.push(150 - d, &[42.0, 0.0], &[0], 200);
            assert_eq!(sorted(w.previous().unwrap(), 0), vec![42.0, 50.0]);
            // Time passes with no traffic: everything leaves.
            w.expire(1000);
            assert!(w.is_empty());
            assert!(w.previous().unwrap().is_empty());
            assert_eq!(sorted(&w, 0).len(), 0);
        }
    }

    #[test]
    fn export_and_import_rebuild_the_window() {
        for form in [false, true] {
            let mut w = ColumnWindow::with_form(layout(), Policy::Count(3), false, form);
            for i in 0..5 {
                w.push(i, &[i as f64, f64::NAN], &[i as u32 % 2], 0);
            }
            let rows = w.export();
            assert_eq!(rows.ts, vec![2, 3, 4]);
            let mut back = ColumnWindow::with_form(layout(), Policy::Count(3), false, form);
            back.import(&rows, 0);
            let again = back.export();
            assert_eq!((&again.ts, &again.cat), (&rows.ts, &rows.cat));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&again.num), bits(&rows.num));
            assert_eq!(sorted(&back, 0), vec![2.0, 3.0, 4.0]);
            assert_eq!(missing(&back, 1), 3);
            assert_eq!(back.categorical(0).counts, vec![2, 1]);
            // Arrival order survives: the next push evicts the oldest.
            back.push(9, &[9.0, 0.0], &[0], 0);
            assert_eq!(sorted(&back, 0), vec![3.0, 4.0, 9.0]);
        }
    }

    #[test]
    fn slab_is_compacted_after_a_burst() {
        for form in [false, true] {
            let mut w = ColumnWindow::with_form(
                layout(),
                Policy::Time {
                    duration_ns: 10,
                    max: 100_000,
                },
                false,
                form,
            );
            for i in 0..5000 {
                w.push(100, &[i as f64, 1.0], &[2], 100);
            }
            w.push(200, &[7.0, 1.0], &[2], 200);
            assert_eq!(w.len(), 1);
            assert!(w.slots < 100, "slab was not compacted: {} slots", w.slots);
            assert_eq!(sorted(&w, 0), vec![7.0]);
            assert_eq!(w.categorical(0).counts, vec![0, 0, 1]);
        }
    }

    /// The two forms of a numeric column must give the same copy, bit for bit, through pushes,
    /// evictions, expiry, late rows and the previous stage, for count and time windows.
    #[test]
    fn gathered_and_sorted_columns_give_identical_copies() {
        use crate::testing::XorShift;
        let bits = |c: NumericCopy| {
            let (values, missing, sum) = match c {
                NumericCopy::Sorted {
                    values,
                    missing,
                    sum,
                } => (values, missing, sum),
                NumericCopy::Unsorted {
                    mut values,
                    missing,
                } => {
                    values.sort_unstable_by(f64::total_cmp);
                    let sum = crate::stats::exact_sum::ExactSum::of(&values);
                    (values, missing, sum)
                }
            };
            let v: Vec<u64> = values.iter().map(|x| x.to_bits()).collect();
            (v, missing, sum.to_bits())
        };
        let policies = [
            Policy::Count(1),
            Policy::Count(7),
            Policy::Count(300),
            Policy::Time {
                duration_ns: 50,
                max: 40,
            },
        ];
        let mut rng = XorShift(0x5eed_c01d);
        for policy in policies {
            let mut a = ColumnWindow::with_form(layout(), policy, true, false);
            let mut b = ColumnWindow::with_form(layout(), policy, true, true);
            let mut now = 0i64;
            for step in 0..3000 {
                now += rng.below(3) as i64;
                // Late rows now and then, which a time window may send to its previous stage.
                let ts = now - rng.below(if step % 17 == 0 { 120 } else { 2 }) as i64;
                let value = |rng: &mut XorShift| match rng.below(8) {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => 0.0,
                    3 => (rng.below(5) as f64) * 1e300,
                    4 => -(rng.below(5) as f64) * 1e-300,
                    _ => rng.below(10) as f64 - 4.5,
                };
                let num = [value(&mut rng), value(&mut rng)];
                let cat = [if rng.below(5) == 0 {
                    MISSING
                } else {
                    rng.below(4) as u32
                }];
                a.push(ts, &num, &cat, now);
                b.push(ts, &num, &cat, now);
                if step % 11 == 0 {
                    now += rng.below(30) as i64;
                    a.expire(now);
                    b.expire(now);
                }
                assert_eq!(a.len(), b.len());
                for i in 0..2 {
                    assert_eq!(
                        bits(a.numeric_copy(i)),
                        bits(b.numeric_copy(i)),
                        "{policy:?} step {step} column {i}"
                    );
                    assert_eq!(a.has_numeric_values(i), b.has_numeric_values(i));
                    let (pa, pb) = (a.previous().unwrap(), b.previous().unwrap());
                    assert_eq!(pa.len(), pb.len());
                    assert_eq!(
                        bits(pa.numeric_copy(i)),
                        bits(pb.numeric_copy(i)),
                        "{policy:?} step {step} previous column {i}"
                    );
                }
                if step % 97 == 0 {
                    // Merging a sorted column's pending updates changes nothing a reader sees.
                    b.merge_pending(0);
                    a.merge_pending(0);
                }
                assert!(matches!(a.numeric_copy(0), NumericCopy::Unsorted { .. }));
                assert!(matches!(b.numeric_copy(0), NumericCopy::Sorted { .. }));
                assert_eq!(a.categorical(0).counts, b.categorical(0).counts);
                assert_eq!(a.categorical(0).missing, b.categorical(0).missing);
            }
        }
    }

    #[test]
    fn the_form_follows_the_capacity() {
        let short = ColumnWindow::new(layout(), Policy::Count(GATHER_MAX), true);
        let long = ColumnWindow::new(layout(), Policy::Count(GATHER_MAX + 1), true);
        assert!(!short.sorted_columns && !short.previous().unwrap().sorted_columns);
        assert!(long.sorted_columns && long.previous().unwrap().sorted_columns);
        let time = |max| Policy::Time {
            duration_ns: 1,
            max,
        };
        assert!(!ColumnWindow::new(layout(), time(100), false).sorted_columns);
        assert!(ColumnWindow::new(layout(), time(1 << 20), false).sorted_columns);
    }
}
