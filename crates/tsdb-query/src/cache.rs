//! A result cache keyed by (expression, start, end, step), bounded in entries
//! and in points, whose time to live grows with the age of the queried window:
//! results over data still being written expire in about a minute, results
//! wholly in the past after an hour.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::value::Value;

/// Shortest time to live: for windows that end now (or in the future).
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest time to live: for windows that ended an hour ago or earlier.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// Time to live of a result whose window ends at `end_ms`, evaluated at `now_ms`:
/// the window's age (now − end), clamped to `[MIN_TTL, MAX_TTL]`.
pub fn ttl_for(end_ms: i64, now_ms: i64) -> Duration {
    let age_ms = now_ms.saturating_sub(end_ms).max(0);
    let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
    age.clamp(MIN_TTL, MAX_TTL)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub expr: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

struct Entry {
    value: Value,
    expires: Instant,
    /// The value's [`weight`].
    points: usize,
}

struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<Key>,
    /// Sum of the entries' weights.
    points: usize,
}

impl Inner {
    /// Removes the entry of `key` (not its place in `order`).
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.points = self.points.saturating_sub(e.points);
        }
    }

    /// Removes the entry of `key` and its place in `order`, so that a later
    /// entry under the same key is not evicted by the old place.
    fn forget(&mut self, key: &Key) {
        if self.map.contains_key(key) {
            self.remove(key);
            self.order.retain(|k| k != key);
        }
    }
}

/// What a value costs the cache: its points, plus one per series (labels).
fn weight(v: &Value) -> usize {
    let series = match v {
        Value::Matrix(m) => m.len(),
        _ => 0,
    };
    v.num_points().saturating_add(series)
}

/// The cache: insertion-ordered eviction once `capacity` entries or
/// `max_points` points are held.
pub(crate) struct ResultCache {
    capacity: usize,
    max_points: usize,
    inner: Mutex<Inner>,
}

impl ResultCache {
    pub fn new(capacity: usize, max_points: usize) -> Self {
        ResultCache {
            capacity,
            max_points,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                points: 0,
            }),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        if self.capacity == 0 {
            return None;
        }
        let mut g = self.inner.lock();
        match g.map.get(key) {
            Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
            Some(_) => {
                g.forget(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: Key, value: Value, ttl: Duration) {
        let points = weight(&value);
        if self.capacity == 0 || points > self.max_points {
            return;
        }
        let mut g = self.inner.lock();
        g.forget(&key);
        while g.map.len() >= self.capacity || g.points.saturating_add(points) > self.max_points {
            match g.order.pop_front() {
                Some(old) => g.remove(&old),
                None => break,
            }
        }
        g.points = g.points.saturating_add(points);
        g.map.insert(
            key.clone(),
            Entry {
                value,
                expires: Instant::now() + ttl,
                points,
            },
        );
        g.order.push_back(key);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    #[cfg(test)]
    pub fn points(&self) -> usize {
        self.inner.lock().points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_grows_with_age() {
        let now = 10 * 86_400_000;
        assert_eq!(ttl_for(now, now), MIN_TTL);
        assert_eq!(ttl_for(now + 5_000, now), MIN_TTL);
        assert_eq!(ttl_for(now - 600_000, now), Duration::from_secs(600));
        assert_eq!(ttl_for(now - 86_400_000, now), MAX_TTL);
    }

    #[test]
    fn bounded_by_points() {
        let c = ResultCache::new(100, 25);
        let k = |i: i64| Key {
            expr: "up".into(),
            start_ms: i,
            end_ms: i,
            step_ms: 60_000,
        };
        // One series of 9 points weighs 10.
        let m = |n: usize| {
            Value::Matrix(vec![crate::compat::Series {
                labels: crate::compat::Labels::empty(),
                timestamps: (0..n as i64).collect(),
                values: vec![1.0; n],
            }])
        };
        for i in 0..5 {
            c.put(k(i), m(9), MIN_TTL);
            assert!(c.points() <= 25, "{} points held", c.points());
        }
        assert_eq!(c.len(), 2);
        assert!(c.get(&k(4)).is_some() && c.get(&k(3)).is_some());
        assert!(c.get(&k(2)).is_none());
        // A result larger than the whole budget is not cached at all.
        c.put(k(9), m(30), MIN_TTL);
        assert!(c.get(&k(9)).is_none());
        assert_eq!(c.points(), 20);
        // Replacing an entry does not count it twice, and it becomes the newest.
        c.put(k(3), m(9), MIN_TTL);
        assert_eq!(c.points(), 20);
        c.put(k(5), m(9), MIN_TTL);
        assert!(c.get(&k(3)).is_some() && c.get(&k(5)).is_some());
        assert!(c.get(&k(4)).is_none());
    }

    #[test]
    fn bounded() {
        let c = ResultCache::new(2, usize::MAX);
        let k = |i: i64| Key {
            expr: "up".into(),
            start_ms: i,
            end_ms: i,
            step_ms: 0,
        };
        let v = Value::Scalar {
            timestamp_ms: 0,
            value: 1.0,
        };
        for i in 0..5 {
            c.put(k(i), v.clone(), MIN_TTL);
        }
        assert_eq!(c.len(), 2);
        assert!(c.get(&k(4)).is_some());
        assert!(c.get(&k(0)).is_none());
    }
}
