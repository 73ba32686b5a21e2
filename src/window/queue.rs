//! The eviction order of a window: first in, first out for count windows; oldest timestamp first for time
//! windows.
//!
//! A time window holds the samples whose timestamp lies within `duration` of now. Samples do not arrive
//! in timestamp order (a delayed label makes an old prediction a labelled sample long after newer ones),
//! so time windows keep a min-heap on (timestamp, arrival sequence) rather than a queue: insert and
//! eviction are O(log n) whatever the order of arrival. Every window is capped, so memory stays bounded
//! even when a client sends timestamps far in the future.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use crate::config::WindowKind;

/// How a window decides what leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Keep the last `n` items.
    Count(usize),
    /// Keep items with `ts > now - duration_ns`, at most `max` of them (the oldest go first).
    Time { duration_ns: i64, max: usize },
}

impl Policy {
    pub fn from_kind(kind: WindowKind) -> Policy {
        match kind {
            WindowKind::Count(n) => Policy::Count(n),
            WindowKind::Time {
                duration,
                max_events,
            } => Policy::Time {
                duration_ns: duration.as_nanos().min(i64::MAX as u128) as i64,
                max: max_events,
            },
        }
    }

    /// The policy of the stage just before this one, which a moving reference reads: the same number of
    /// items for a count window; for a time window, items older than `duration` but younger than twice it.
    /// The most items a queue of this policy can hold.
    pub fn capacity(self) -> usize {
        match self {
            Policy::Count(n) => n,
            Policy::Time { max, .. } => max,
        }
    }

    pub fn previous_stage(self) -> Policy {
        match self {
            Policy::Count(n) => Policy::Count(n),
            Policy::Time { duration_ns, max } => Policy::Time {
                duration_ns: duration_ns.saturating_mul(2),
                max,
            },
        }
    }
}

struct Timed<T> {
    ts: i64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Timed<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl<T> Eq for Timed<T> {}
impl<T> PartialOrd for Timed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Timed<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

enum Store<T> {
    Fifo(VecDeque<(i64, T)>),
    Heap(BinaryHeap<Reverse<Timed<T>>>),
}

/// Items in eviction order. Evicted items are handed back to the caller, which removes them from its
/// statistics (and may pass them to a previous stage).
pub struct EvictionQueue<T> {
    policy: Policy,
    store: Store<T>,
    seq: u64,
}

impl<T> EvictionQueue<T> {
    pub fn new(policy: Policy) -> Self {
        let store = match policy {
            Policy::Count(_) => Store::Fifo(VecDeque::new()),
            Policy::Time { .. } => Store::Heap(BinaryHeap::new()),
        };
        EvictionQueue {
            policy,
            store,
            seq: 0,
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn len(&self) -> usize {
        match &self.store {
            Store::Fifo(q) => q.len(),
            Store::Heap(h) => h.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an item with this timestamp would be admitted at `now`. Time windows refuse items that are
    /// already too old; count windows take everything.
    pub fn admits(&self, ts: i64, now: i64) -> bool {
        match self.policy {
            Policy::Count(_) => true,
            Policy::Time { duration_ns, .. } => ts > now.saturating_sub(duration_ns),
        }
    }

    /// Adds an item. Items pushed out (by the count or the cap) are appended to `evicted`. The caller must
    /// check `admits` first for time windows.
    pub fn push(&mut self, ts: i64, item: T, evicted: &mut Vec<(i64, T)>) {
        self.seq += 1;
        match (&mut self.store, self.policy) {
            (Store::Fifo(q), Policy::Count(n)) => {
                q.push_back((ts, item));
                while q.len() > n {
                    evicted.push(q.pop_front().expect("non-empty"));
                }
            }
            (Store::Heap(h), Policy::Time { max, .. }) => {
                h.push(Reverse(Timed {
                    ts,
                    seq: self.seq,
                    item,
                }));
                while h.len() > max {
                    let Reverse(t) = h.pop().expect("non-empty");
                    evicted.push((t.ts, t.item));
                }
            }
            _ => unreachable!("store always matches policy"),
        }
    }

    /// Evicts what time has pushed out of a time window. Count windows never expire by time.
    pub fn expire(&mut self, now: i64, evicted: &mut Vec<(i64, T)>) {
        if let (Store::Heap(h), Policy::Time { duration_ns, .. }) = (&mut self.store, self.policy) {
            let cutoff = now.saturating_sub(duration_ns);
            while h.peek().is_some_and(|Reverse(t)| t.ts <= cutoff) {
                let Reverse(t) = h.pop().expect("peeked");
                evicted.push((t.ts, t.item));
            }
        }
    }

    /// All items with their timestamps, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(i64, &T)) {
        match &self.store {
            Store::Fifo(q) => q.iter().for_each(|(ts, item)| f(*ts, item)),
            Store::Heap(h) => h.iter().for_each(|Reverse(t)| f(t.ts, &t.item)),
        }
    }

    /// Removes everything, handing each item to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(i64, T)) {
        match &mut self.store {
            Store::Fifo(q) => q.drain(..).for_each(|(ts, item)| f(ts, item)),
            Store::Heap(h) => h.drain().for_each(|Reverse(t)| f(t.ts, t.item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_keeps_the_last_n_in_arrival_order() {
        let mut q = EvictionQueue::new(Policy::Count(3));
        let mut out = Vec::new();
        for i in 0..5 {
            q.push(100 - i, i, &mut out);
        }
        assert_eq!(out, vec![(100, 0), (99, 1)]);
        assert_eq!(q.len(), 3);
        // Count windows ignore time.
        out.clear();
        q.expire(i64::MAX, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn time_window_evicts_by_timestamp_not_arrival() {
        let mut q = EvictionQueue::new(Policy::Time {
            duration_ns: 10,
            max: 100,
        });
        let mut out = Vec::new();
        for (ts, item) in [(50, 'a'), (45, 'b'), (58, 'c'), (41, 'd')] {
            assert!(q.admits(ts, 50));
            q.push(ts, item, &mut out);
        }
        assert!(out.is_empty());
        assert!(!q.admits(40, 50), "a sample exactly `duration` old is out");
        q.expire(55, &mut out);
        assert_eq!(out, vec![(41, 'd'), (45, 'b')]);
        out.clear();
        q.expire(68, &mut out);
        assert_eq!(out, vec![(50, 'a'), (58, 'c')]);
        assert!(q.is_empty());
    }

    #[test]
    fn time_window_cap_evicts_oldest_first() {
        let mut q = EvictionQueue::new(Policy::Time {
            duration_ns: 1000,
            max: 2,
        });
        let mut out = Vec::new();
        q.push(5, 'a', &mut out);
        q.push(3, 'b', &mut out);
        q.push(9, 'c', &mut out);
        assert_eq!(out, vec![(3, 'b')]);
    }

    #[test]
    fn equal_timestamps_leave_in_arrival_order() {
        let mut q = EvictionQueue::new(Policy::Time {
            duration_ns: 5,
            max: 2,
        });
        let mut out = Vec::new();
        q.push(1, 'a', &mut out);
        q.push(1, 'b', &mut out);
        q.push(1, 'c', &mut out);
        assert_eq!(out, vec![(1, 'a')]);
    }
}
