//! A bounded result cache keyed by (expression, start, end, step), whose time to
//! live grows with the age of the queried window: results over data still being
//! written expire in about a minute, results wholly in the past after an hour.

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
}

struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<Key>,
}

/// The cache: insertion-ordered eviction once `capacity` entries are held.
pub(crate) struct ResultCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ResultCache {
    pub fn new(capacity: usize) -> Self {
        ResultCache {
            capacity,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
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
                g.map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: Key, value: Value, ttl: Duration) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.inner.lock();
        while g.map.len() >= self.capacity {
            match g.order.pop_front() {
                Some(old) => {
                    g.map.remove(&old);
                }
                None => break,
            }
        }
        if g.map
            .insert(
                key.clone(),
                Entry {
                    value,
                    expires: Instant::now() + ttl,
                },
            )
            .is_none()
        {
            g.order.push_back(key);
        }
        // Drop order entries whose map entry expired and was removed.
        if g.order.len() > 2 * self.capacity.max(1) {
            let Inner { map, order } = &mut *g;
            order.retain(|k| map.contains_key(k));
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
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
    fn bounded() {
        let c = ResultCache::new(2);
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
