//! [`Inbound`]: the ids of the last activities a user's turns in a conversation processed, kept
//! in the private conversation record (key [`INBOUND`]) so they are saved in the same
//! compare-and-set batch as the turn they belong to. An activity whose id is in the list was
//! processed already: its turn is not run again.
//!
//! Stored shape: an array, oldest first, of ids (`"a-17"`), or of objects
//! (`{"id": "a-18", "tooLarge": {"size": 70000, "limit": 65536}}`) for a turn whose state was
//! refused as too large, so a redelivery answers as the first time did.

use serde_json::{Map, Value, json};

/// The key of the list in the private conversation record.
pub(crate) const INBOUND: &str = "botcore.inbound";

/// How the first run of an activity ended, as far as its answer to the channel goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FirstRun {
    /// The turn ran (or failed in a dialog and was reset, which the bot handled).
    Handled,
    /// The turn's state was refused as too large (the reset was saved instead).
    TooLarge {
        /// The serialized size refused.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// The processed-activity list of one private conversation record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inbound {
    entries: Vec<Value>,
}

impl Inbound {
    /// Takes the list out of the private record's data (unreadable entries are dropped).
    pub(crate) fn take_from(private: &mut Map<String, Value>) -> Self {
        match private.remove(INBOUND) {
            Some(Value::Array(entries)) => Self { entries },
            _ => Self::default(),
        }
    }

    /// How the first run of activity `id` ended, if it was processed.
    pub(crate) fn find(&self, id: &str) -> Option<FirstRun> {
        self.entries.iter().rev().find_map(|e| match e {
            Value::String(s) if s == id => Some(FirstRun::Handled),
            Value::Object(m) if m.get("id").and_then(Value::as_str) == Some(id) => {
                let too_large = m.get("tooLarge")?;
                let field = |k: &str| {
                    too_large
                        .get(k)
                        .and_then(Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(0)
                };
                Some(FirstRun::TooLarge {
                    size: field("size"),
                    limit: field("limit"),
                })
            }
            _ => None,
        })
    }

    /// Records activity `id`, keeping at most `window` entries (the oldest go first).
    pub(crate) fn record(&mut self, id: &str, first: &FirstRun, window: usize) {
        if window == 0 {
            self.entries.clear();
            return;
        }
        let entry = match first {
            FirstRun::Handled => Value::String(id.to_owned()),
            FirstRun::TooLarge { size, limit } => {
                json!({ "id": id, "tooLarge": { "size": size, "limit": limit } })
            }
        };
        self.entries.push(entry);
        if self.entries.len() > window {
            let extra = self.entries.len() - window;
            self.entries.drain(..extra);
        }
    }

    /// Puts the list back into the private record's data (nothing when it is empty).
    pub(crate) fn put_into(self, private: &mut Map<String, Value>) {
        if !self.entries.is_empty() {
            private.insert(INBOUND.into(), Value::Array(self.entries));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_the_newest_ids_up_to_the_window() {
        let mut seen = Inbound::default();
        for id in ["a", "b", "c"] {
            seen.record(id, &FirstRun::Handled, 2);
        }
        assert_eq!(seen.find("a"), None);
        assert_eq!(seen.find("b"), Some(FirstRun::Handled));
        assert_eq!(seen.find("c"), Some(FirstRun::Handled));
    }

    #[test]
    fn a_too_large_first_run_round_trips_through_the_record() {
        let mut seen = Inbound::default();
        let first = FirstRun::TooLarge {
            size: 70,
            limit: 64,
        };
        seen.record("x", &first, 8);
        let mut private = Map::new();
        seen.put_into(&mut private);
        let back = Inbound::take_from(&mut private);
        assert!(private.is_empty());
        assert_eq!(back.find("x"), Some(first));
    }
}
