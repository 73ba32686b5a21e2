//! Windows of column values: what drift detection and data-quality checks read.
//!
//! A `ColumnWindow` holds rows of numeric and categorical values (one row per prediction, or one label
//! per labelled sample) and gives the drift tests, per column, a copy of the numeric values or the
//! counts per category id.
//!
//! Storage is columnar: each column is one vector indexed by row slot, so a numeric value costs its 8
//! bytes and a categorical one its 4. A count window is a ring: slot k holds the k-th row modulo the
//! window's length, and a new row overwrites the oldest, with only its timestamp beside it. A time
//! window evicts by timestamp, so its rows are ordered by an eviction queue of (timestamp, slot) and a
//! row's slot is reused when the row leaves. An update writes one value per column and does nothing
//! that depends on the window's length: no column is kept in order. Everything order-based (KS, quantiles, distances) happens at evaluation time on a copy: the
//! copy of a column is one contiguous memory copy under the model lock, and the caller drops the missing
//! values and sorts it after releasing the lock (`drift::columns`).
//!
//! Missing numeric values are stored as NaN, and so is every free slot of a time window, so that a copy
//! needs no bookkeeping beyond the number of free slots: the missing values of the window are the NaNs
//! of the copy less the free slots. Categorical counts are kept up to date on every insert and eviction
//! (an O(1) update per value), because a categorical drift test reads only the counts.
//!
//! A window can have a *previous stage*: rows evicted from the window enter a second window of the same
//! size, which is the moving reference ("the N predictions before the last N", or the time range
//! [now − 2d, now − d)).

use super::queue::{EvictionQueue, Policy};

/// Category id of a missing categorical value.
pub const MISSING: u32 = u32::MAX;

/// Numbers of numeric and categorical columns in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub numeric: usize,
    pub categorical: usize,
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
    order: Order,
    /// Numeric column `i` of the row in slot `s` is `num[i][s]`; NaN when missing or when `s` is free.
    num: Vec<Vec<f64>>,
    /// Categorical column `j` of the row in slot `s` is `cat[j][s]` (read when the row leaves).
    cat: Vec<Vec<u32>>,
    /// The most slots the window can need. Columns grow to this and no further, so a full window
    /// wastes no capacity.
    max_slots: usize,
    categorical: Vec<CategoricalColumn>,
    previous: Option<Box<ColumnWindow>>,
    /// A row on its way to the previous stage (kept to reuse its allocation).
    row: (Vec<f64>, Vec<u32>),
}

/// Which rows are in a window, and in which order they leave.
enum Order {
    /// A count window of `n` rows: `ts[s]` is the timestamp of the row in slot `s`, and `head` the slot
    /// of the oldest row once the ring is full (rows fill slots 0, 1, … until then).
    Ring { n: usize, ts: Vec<i64>, head: usize },
    /// A time window: the eviction queue of (timestamp, slot), the free slots, and the slots in use or
    /// free.
    Queue {
        queue: EvictionQueue<u32>,
        free: Vec<u32>,
        slots: u32,
        evicted: Vec<(i64, u32)>,
    },
}

/// A copy of one numeric column in slot order, as taken under the model lock: the values of the rows
/// in the window, NaN for missing values, and `free` more NaNs for the free slots. Nothing in it is
/// sorted; `drift::columns` drops the NaNs and sorts it after the lock is released.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericCopy {
    pub values: Vec<f64>,
    pub free: u64,
}

impl ColumnWindow {
    pub fn new(layout: Layout, policy: Policy, with_previous: bool) -> Self {
        let (order, max_slots) = match policy {
            Policy::Count(n) => (
                Order::Ring {
                    n,
                    ts: Vec::new(),
                    head: 0,
                },
                n,
            ),
            // One more slot than rows: a row is pushed before the oldest leaves.
            Policy::Time { max, .. } => (
                Order::Queue {
                    queue: EvictionQueue::new(policy),
                    free: Vec::new(),
                    slots: 0,
                    evicted: Vec::new(),
                },
                max.saturating_add(1),
            ),
        };
        ColumnWindow {
            layout,
            order,
            num: vec![Vec::new(); layout.numeric],
            cat: vec![Vec::new(); layout.categorical],
            max_slots,
            categorical: vec![CategoricalColumn::default(); layout.categorical],
            previous: with_previous
                .then(|| Box::new(ColumnWindow::new(layout, policy.previous_stage(), false))),
            row: (Vec::new(), Vec::new()),
        }
    }

    fn policy(&self) -> Policy {
        match &self.order {
            Order::Ring { n, .. } => Policy::Count(*n),
            Order::Queue { queue, .. } => queue.policy(),
        }
    }

    fn admits(&self, ts: i64, now: i64) -> bool {
        match &self.order {
            Order::Ring { .. } => true,
            Order::Queue { queue, .. } => queue.admits(ts, now),
        }
    }

    /// Slots not holding a row (time windows only).
    fn free_slots(&self) -> usize {
        match &self.order {
            Order::Ring { .. } => 0,
            Order::Queue { free, .. } => free.len(),
        }
    }

    /// Calls `f(ts, slot)` for every row, in eviction order for count windows (oldest first).
    fn for_each_row(&self, mut f: impl FnMut(i64, usize)) {
        match &self.order {
            Order::Ring { ts, head, .. } => {
                let (newer, older) = ts.split_at(*head);
                for (k, &t) in older.iter().enumerate() {
                    f(t, head + k);
                }
                for (k, &t) in newer.iter().enumerate() {
                    f(t, k);
                }
            }
            Order::Queue { queue, .. } => queue.for_each(|t, &slot| f(t, slot as usize)),
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Rows in the window.
    pub fn len(&self) -> usize {
        match &self.order {
            Order::Ring { ts, .. } => ts.len(),
            Order::Queue { queue, .. } => queue.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of numeric column `i`: one memory copy, whatever the values.
    pub fn numeric_copy(&self, i: usize) -> NumericCopy {
        self.numeric_copy_into(i, Vec::new())
    }

    /// A copy of numeric column `i` into `buffer` (its contents are replaced). A buffer whose pages the
    /// caller has touched before taking the model lock keeps page faults out of the lock.
    pub fn numeric_copy_into(&self, i: usize, mut buffer: Vec<f64>) -> NumericCopy {
        buffer.clear();
        buffer.extend_from_slice(&self.num[i]);
        NumericCopy {
            values: buffer,
            free: self.free_slots() as u64,
        }
    }

    /// Whether numeric column `i` holds any value that is not missing.
    pub fn has_numeric_values(&self, i: usize) -> bool {
        self.num[i].iter().any(|v| !v.is_nan())
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
        if !self.admits(ts, now) {
            if let Some(prev) = self.previous.as_mut()
                && prev.admits(ts, now)
            {
                prev.push(ts, num, cat, now);
            }
            return;
        }
        for (col, &id) in self.categorical.iter_mut().zip(cat) {
            col.add(id);
        }
        match &mut self.order {
            Order::Ring {
                n,
                ts: stamps,
                head,
            } => {
                if stamps.len() < *n {
                    stamps.push(ts);
                    let len = stamps.len();
                    for (col, &v) in self.num.iter_mut().zip(num) {
                        grow(col, len, self.max_slots);
                        col.push(v);
                    }
                    for (col, &id) in self.cat.iter_mut().zip(cat) {
                        grow(col, len, self.max_slots);
                        col.push(id);
                    }
                    return;
                }
                if *n == 0 {
                    // A window of no rows: the row leaves as it arrives.
                    for (col, &id) in self.categorical.iter_mut().zip(cat) {
                        col.remove(id);
                    }
                    if let Some(prev) = self.previous.as_mut() {
                        prev.push(ts, num, cat, now);
                    }
                    return;
                }
                let slot = *head;
                let old_ts = std::mem::replace(&mut stamps[slot], ts);
                *head = (slot + 1) % *n;
                self.take_out(old_ts, slot, now);
                self.write(slot, num, cat);
            }
            Order::Queue { .. } => {
                let slot = self.alloc(num, cat);
                let Order::Queue { queue, evicted, .. } = &mut self.order else {
                    unreachable!()
                };
                let mut out = std::mem::take(evicted);
                queue.push(ts, slot, &mut out);
                queue.expire(now, &mut out);
                self.release(&mut out, now);
            }
        }
    }

    /// Evicts rows that time has pushed out, here and in the previous stage.
    pub fn expire(&mut self, now: i64) {
        if let Order::Queue { queue, evicted, .. } = &mut self.order {
            let mut out = std::mem::take(evicted);
            queue.expire(now, &mut out);
            self.release(&mut out, now);
        }
        if let Some(prev) = self.previous.as_mut() {
            prev.expire(now);
        }
    }

    /// Removes everything (used when a reference is reset).
    pub fn clear(&mut self) {
        let with_previous = self.previous.is_some();
        *self = ColumnWindow::new(self.layout, self.policy(), with_previous);
    }

    fn write(&mut self, slot: usize, num: &[f64], cat: &[u32]) {
        for (col, &v) in self.num.iter_mut().zip(num) {
            col[slot] = v;
        }
        for (col, &id) in self.cat.iter_mut().zip(cat) {
            col[slot] = id;
        }
    }

    /// Takes the row in `slot` out of the category counts and hands it to the previous stage. The
    /// caller then overwrites or frees the slot.
    fn take_out(&mut self, ts: i64, slot: usize, now: i64) {
        for (col, stats) in self.cat.iter().zip(self.categorical.iter_mut()) {
            stats.remove(col[slot]);
        }
        if let Some(prev) = self.previous.as_mut()
            && prev.admits(ts, now)
        {
            let (row_num, row_cat) = &mut self.row;
            row_num.clear();
            row_num.extend(self.num.iter().map(|col| col[slot]));
            row_cat.clear();
            row_cat.extend(self.cat.iter().map(|col| col[slot]));
            prev.push(ts, row_num, row_cat, now);
        }
    }

    /// A slot for a new row of a time window, holding the row.
    fn alloc(&mut self, num: &[f64], cat: &[u32]) -> u32 {
        let Order::Queue { free, slots, .. } = &mut self.order else {
            unreachable!("count windows are rings")
        };
        let slot = match free.pop() {
            Some(s) => s,
            None => {
                let s = *slots;
                *slots += 1;
                let len = *slots as usize;
                for col in &mut self.num {
                    grow(col, len, self.max_slots);
                    col.push(f64::NAN);
                }
                for col in &mut self.cat {
                    grow(col, len, self.max_slots);
                    col.push(MISSING);
                }
                s
            }
        };
        self.write(slot as usize, num, cat);
        slot
    }

    /// Takes rows evicted from a time window out of the statistics, frees their slots (NaN), and hands
    /// them to the previous stage. `evicted` is the window's reusable buffer, given back empty.
    fn release(&mut self, evicted: &mut Vec<(i64, u32)>, now: i64) {
        for (ts, slot) in evicted.drain(..) {
            let s = slot as usize;
            self.take_out(ts, s, now);
            for col in &mut self.num {
                col[s] = f64::NAN;
            }
            if let Order::Queue { free, .. } = &mut self.order {
                free.push(slot);
            }
        }
        let Order::Queue {
            free,
            slots,
            evicted: buffer,
            ..
        } = &mut self.order
        else {
            unreachable!("only time windows release")
        };
        *buffer = std::mem::take(evicted);
        // Give memory back when a window shrinks a lot (e.g. a time window after a burst).
        if free.len() > 1024 && free.len() * 2 > *slots as usize {
            self.compact();
        }
    }

    /// Rebuilds a time window's columns densely. Rare: only after it has lost more than half its rows.
    fn compact(&mut self) {
        let Order::Queue {
            queue, free, slots, ..
        } = &mut self.order
        else {
            return;
        };
        let mut rows = Vec::with_capacity(queue.len());
        // The heap drains in no particular order, which only reorders rows with equal timestamps among
        // themselves.
        queue.drain(|ts, slot| rows.push((ts, slot)));
        for col in &mut self.num {
            *col = rows.iter().map(|&(_, slot)| col[slot as usize]).collect();
        }
        for col in &mut self.cat {
            *col = rows.iter().map(|&(_, slot)| col[slot as usize]).collect();
        }
        *slots = rows.len() as u32;
        *free = Vec::new();
        let mut sink = Vec::new();
        for (new_slot, &(ts, _)) in rows.iter().enumerate() {
            queue.push(ts, new_slot as u32, &mut sink);
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
        rows.ts.reserve(self.len());
        rows.num.reserve(self.len() * n);
        rows.cat.reserve(self.len() * c);
        self.for_each_row(|ts, s| {
            rows.ts.push(ts);
            rows.num.extend(self.num.iter().map(|col| col[s]));
            rows.cat.extend(self.cat.iter().map(|col| col[s]));
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
        let order = match &self.order {
            Order::Ring { ts, .. } => ts.capacity() * 8,
            Order::Queue { queue, free, .. } => queue.len() * 24 + free.capacity() * 4,
        };
        order
            + self.num.iter().map(|c| c.capacity() * 8).sum::<usize>()
            + self.cat.iter().map(|c| c.capacity() * 4).sum::<usize>()
            + self
                .categorical
                .iter()
                .map(|c| c.counts.capacity() * 8)
                .sum::<usize>()
            + self.previous.as_ref().map_or(0, |p| p.heap_bytes())
    }
}

/// Makes room in a column for `len` slots: doubling, as a `Vec` does, but never beyond `max` slots.
fn grow<T>(col: &mut Vec<T>, len: usize, max: usize) {
    if len > col.capacity() {
        let target = (col.capacity() * 2).max(64).min(max).max(len);
        col.reserve_exact(target - col.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column `i` of a window without its missing values, sorted, as an evaluation reads it.
    fn sorted(w: &ColumnWindow, i: usize) -> Vec<f64> {
        let mut values: Vec<f64> = w
            .numeric_copy(i)
            .values
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect();
        values.sort_unstable_by(f64::total_cmp);
        values
    }

    fn missing(w: &ColumnWindow, i: usize) -> u64 {
        let copy = w.numeric_copy(i);
        copy.values.iter().filter(|v| v.is_nan()).count() as u64 - copy.free
    }

    fn layout() -> Layout {
        Layout {
            numeric: 2,
            categorical: 1,
        }
    }

    #[test]
    fn count_window_statistics_follow_the_contents() {
        let mut w = ColumnWindow::new(layout(), Policy::Count(3), false);
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
        w.push(5, &[f64::NAN, f64::NAN], &[0], 0);
        assert_eq!((missing(&w, 0), missing(&w, 1)), (1, 1));
    }

    #[test]
    fn moving_reference_holds_the_rows_before_the_window() {
        let mut w = ColumnWindow::new(layout(), Policy::Count(2), true);
        for i in 0..7 {
            w.push(i, &[i as f64, 0.0], &[0], 0);
        }
        assert_eq!(sorted(&w, 0), vec![5.0, 6.0]);
        let prev = w.previous().unwrap();
        assert_eq!(sorted(prev, 0), vec![3.0, 4.0]);
        assert!(prev.previous().is_none());
    }

    #[test]
    fn time_window_and_its_previous_stage() {
        let d = 100;
        let mut w = ColumnWindow::new(
            layout(),
            Policy::Time {
                duration_ns: d,
                max: 1000,
            },
            true,
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
        assert_eq!(missing(&w, 0), 0);
        assert!(!w.has_numeric_values(0));
    }

    #[test]
    fn export_and_import_rebuild_the_window() {
        let mut w = ColumnWindow::new(layout(), Policy::Count(3), false);
        for i in 0..5 {
            w.push(i, &[i as f64, f64::NAN], &[i as u32 % 2], 0);
        }
        let rows = w.export();
        assert_eq!(rows.ts, vec![2, 3, 4]);
        assert_eq!(rows.cat, vec![0, 1, 0]);
        let mut back = ColumnWindow::new(layout(), Policy::Count(3), false);
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

    #[test]
    fn slab_is_compacted_after_a_burst() {
        let mut w = ColumnWindow::new(
            layout(),
            Policy::Time {
                duration_ns: 10,
                max: 100_000,
            },
            false,
        );
        for i in 0..5000 {
            w.push(100, &[i as f64, 1.0], &[2], 100);
        }
        w.push(200, &[7.0, 1.0], &[2], 200);
        assert_eq!(w.len(), 1);
        assert!(
            w.num[0].len() < 100,
            "not compacted: {} slots",
            w.num[0].len()
        );
        assert_eq!(sorted(&w, 0), vec![7.0]);
        assert_eq!(missing(&w, 0), 0);
        assert_eq!(w.categorical(0).counts, vec![0, 0, 1]);
    }

    /// Ingest never scans: a push into a full window writes the new row's slot and nothing else, in
    /// every column (no value of the window moves, whatever the window's length).
    #[test]
    fn a_push_writes_one_slot_per_column() {
        let policies = [
            Policy::Count(5000),
            Policy::Time {
                duration_ns: i64::MAX,
                max: 5000,
            },
        ];
        for policy in policies {
            let mut w = ColumnWindow::new(layout(), policy, false);
            for i in 0..7000 {
                w.push(i, &[(i % 97) as f64, -(i as f64)], &[i as u32 % 3], i);
            }
            let before: Vec<Vec<u64>> = w
                .num
                .iter()
                .map(|c| c.iter().map(|v| v.to_bits()).collect())
                .collect();
            w.push(7000, &[0.5, 0.25], &[1], 7000);
            for (col, old) in w.num.iter().zip(&before) {
                assert_eq!(col.len(), old.len(), "{policy:?}");
                let changed = col
                    .iter()
                    .zip(old)
                    .filter(|(v, o)| v.to_bits() != **o)
                    .count();
                // The new row's slot, and for a time window also the evicted row's freed slot.
                let expected = if matches!(policy, Policy::Count(_)) {
                    1
                } else {
                    2
                };
                assert_eq!(changed, expected, "{policy:?}");
            }
        }
    }

    /// Locks are short: a column copy is the column as stored, in slot order with its NaNs, so that all
    /// the work on it (dropping missing values, sorting) happens after the lock is released.
    #[test]
    fn a_copy_is_the_column_as_stored() {
        let mut w = ColumnWindow::new(layout(), Policy::Count(4), false);
        for (i, v) in [3.0, f64::NAN, 1.0, 2.0, 0.5, -1.0].into_iter().enumerate() {
            w.push(i as i64, &[v, 0.0], &[0], 0);
        }
        let copy = w.numeric_copy(0);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&copy.values), bits(&[0.5, -1.0, 1.0, 2.0]));
        assert_eq!(copy.free, 0);
        assert_eq!(
            w.export()
                .num
                .iter()
                .step_by(2)
                .copied()
                .collect::<Vec<_>>(),
            vec![1.0, 2.0, 0.5, -1.0]
        );
    }

    /// A full window holds 8 bytes per numeric value and 4 per categorical one, with no growth slack:
    /// the memory target of a million-event window rests on it.
    #[test]
    fn a_full_window_holds_its_values_without_slack() {
        let n = 100_000;
        let mut w = ColumnWindow::new(layout(), Policy::Count(n), false);
        for i in 0..(n + 5000) {
            w.push(i as i64, &[i as f64, 1.0], &[1], 0);
        }
        for col in &w.num {
            assert_eq!(col.capacity(), n);
        }
        for col in &w.cat {
            assert_eq!(col.capacity(), n);
        }
        assert_eq!(w.num[0].len(), n);
    }

    /// The window's copies follow a plain list of its rows through pushes, evictions, expiry, late rows
    /// and the previous stage, for count and time windows.
    #[test]
    fn copies_match_a_recount_of_the_rows() {
        use crate::testing::XorShift;
        let policies = [
            Policy::Count(1),
            Policy::Count(7),
            Policy::Count(300),
            Policy::Time {
                duration_ns: 50,
                max: 40,
            },
        ];
        // What a window should hold, recounted from its exported rows.
        let expected = |w: &ColumnWindow, i: usize| {
            let rows = w.export();
            let mut values = Vec::new();
            let mut missing = 0;
            for r in 0..rows.ts.len() {
                let v = rows.num[r * 2 + i];
                if v.is_nan() {
                    missing += 1;
                } else {
                    values.push(v);
                }
            }
            values.sort_unstable_by(f64::total_cmp);
            let mut counts = vec![0u64; 4];
            let mut cat_missing = 0;
            for &id in &rows.cat {
                if id == MISSING {
                    cat_missing += 1;
                } else {
                    counts[id as usize] += 1;
                }
            }
            (values, missing, counts, cat_missing)
        };
        let observed = |w: &ColumnWindow, i: usize| {
            let mut counts = w.categorical(0).counts.clone();
            counts.resize(4, 0);
            (
                sorted(w, i),
                missing(w, i),
                counts,
                w.categorical(0).missing,
            )
        };
        let mut rng = XorShift(0x5eed_c01d);
        for policy in policies {
            let mut w = ColumnWindow::new(layout(), policy, true);
            let mut now = 0i64;
            let mut pushed = 0;
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
                w.push(ts, &num, &cat, now);
                pushed += 1;
                if step % 11 == 0 {
                    now += rng.below(30) as i64;
                    w.expire(now);
                }
                assert!(w.len() <= policy.capacity().min(pushed));
                for i in 0..2 {
                    assert_eq!(observed(&w, i), expected(&w, i), "{policy:?} step {step}");
                    let prev = w.previous().unwrap();
                    assert_eq!(
                        observed(prev, i),
                        expected(prev, i),
                        "{policy:?} step {step} previous"
                    );
                    assert_eq!(w.has_numeric_values(i), !expected(&w, i).0.is_empty());
                }
            }
        }
    }
}
