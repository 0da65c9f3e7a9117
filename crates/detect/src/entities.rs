//! Per-entity state of a stateful rule (a threshold's groups, a sequence's partials per join key, the
//! terms a new-terms rule has seen), bounded whatever the input: an entity whose latest event is older than
//! the rule's window can no longer matter and is dropped as event time moves on (swept once per window),
//! and past a maximum of live entities the least recently seen tenth is evicted at once. Evictions are
//! counted for the rule's stats: a flood of spoofed sources cannot push the detector out of memory, and
//! the summary says what it cost.

use std::collections::HashMap;

use secops_event::Timestamp;

/// Live entities a rule keeps before evicting the least recently seen.
pub const MAX_ENTITIES: usize = 100_000;

#[derive(Debug)]
pub(crate) struct Entities<V> {
    map: HashMap<Vec<String>, Entry<V>>,
    /// How long after its latest event an entity can still matter (`None`: until evicted).
    keep: Option<i64>,
    max: usize,
    /// Event time of the last sweep.
    swept: Option<i64>,
    evicted: u64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Entry<V> {
    latest: i64,
    value: V,
}

impl<V> Entities<V> {
    /// Entities kept `keep` nanoseconds after their latest event, at most `max` at once.
    pub fn new(keep: Option<i64>, max: usize) -> Self {
        Entities {
            map: HashMap::new(),
            keep,
            max: max.max(1),
            swept: None,
            evicted: 0,
        }
    }

    /// The state of `key` at event time `now` (default when new), after dropping what the window has
    /// left behind and, when full, making room.
    pub fn entry(&mut self, key: &[String], now: Timestamp) -> &mut V
    where
        V: Default,
    {
        self.entry_or(key, now, V::default)
    }

    /// [`Entities::entry`], with `make` for a new entity.
    pub fn entry_or(&mut self, key: &[String], now: Timestamp, make: impl FnOnce() -> V) -> &mut V {
        let now = now.unix_nanos();
        self.sweep(now);
        if !self.map.contains_key(key) && self.map.len() >= self.max {
            self.evict();
        }
        let entry = self.map.entry(key.to_vec()).or_insert_with(|| Entry {
            latest: now,
            value: make(),
        });
        entry.latest = entry.latest.max(now);
        &mut entry.value
    }

    pub fn remove(&mut self, key: &[String]) -> Option<V> {
        self.map.remove(key).map(|e| e.value)
    }

    /// Entities evicted because too many were live, since the last call.
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// What a checkpoint keeps: the entities, the last sweep and the evictions not yet counted (the
    /// window and the cap are the rule's, given again when it is compiled).
    pub fn save<W: std::io::Write>(&self, out: W) -> Result<(), postcard::Error>
    where
        V: serde::Serialize,
    {
        postcard::to_io(&(&self.map, self.swept, self.evicted), out).map(|_| ())
    }

    /// Puts back what [`Entities::save`] kept; returns the bytes after it.
    pub fn restore<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], postcard::Error>
    where
        V: serde::de::DeserializeOwned,
    {
        let ((map, swept, evicted), rest): ((HashMap<Vec<String>, Entry<V>>, _, _), _) =
            postcard::take_from_bytes(bytes)?;
        (self.map, self.swept, self.evicted) = (map, swept, evicted);
        Ok(rest)
    }

    /// Forgets every entity (a state that could not be restored starts afresh).
    pub fn clear(&mut self) {
        self.map.clear();
        self.swept = None;
        self.evicted = 0;
    }

    fn sweep(&mut self, now: i64) {
        let Some(keep) = self.keep else { return };
        if self.swept.is_some_and(|s| now - s < keep) {
            return;
        }
        self.swept = Some(now);
        self.map.retain(|_, e| now - e.latest <= keep);
    }

    fn evict(&mut self) {
        let mut ages: Vec<(i64, Vec<String>)> = self
            .map
            .iter()
            .map(|(key, e)| (e.latest, key.clone()))
            .collect();
        let count = (ages.len() / 10).max(1);
        ages.select_nth_unstable_by_key(count - 1, |(t, _)| *t);
        for (_, key) in ages.into_iter().take(count) {
            self.map.remove(&key);
        }
        self.evicted += count as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Vec<String> {
        vec![format!("198.18.{}.{}", i / 256, i % 256)]
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_nanos(seconds * 1_000_000_000)
    }

    #[test]
    fn entities_the_window_has_left_behind_are_dropped() {
        let mut entities: Entities<u32> = Entities::new(Some(300_000_000_000), MAX_ENTITIES);
        for i in 0..86_400 {
            *entities.entry(&key(i as usize), at(i)) += 1;
        }
        assert!(entities.len() <= 601, "{}", entities.len());
        assert_eq!(entities.take_evicted(), 0);
    }

    #[test]
    fn past_the_cap_the_least_recently_seen_go_and_are_counted() {
        let mut entities: Entities<u32> = Entities::new(None, 100);
        for i in 0..1000 {
            *entities.entry(&key(10_000 + i), at(i as i64)) += 1;
            // one entity seen all along keeps its state
            *entities.entry(&key(1), at(i as i64)) += 1;
        }
        assert!(entities.len() <= 100);
        assert!(entities.take_evicted() >= 900);
        assert_eq!(*entities.entry(&key(1), at(1000)), 1000);
    }
}
