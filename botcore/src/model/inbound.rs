//! [`Inbound`]: the ids of the last activities a user's turns in a conversation processed, kept
//! in the private conversation record (key [`INBOUND`]) so they are saved in the same
//! compare-and-set batch as the turn they belong to. An activity whose id is in the list was
//! processed already: its turn is not run again.
//!
//! Stored shape: one string, oldest first, of space-separated entries — the id's 52-bit
//! fingerprint in 13 hex digits (two ids of one user's conversation share one with a chance of
//! about 16 in 2^52), followed by `:t:<size>:<limit>` for a turn whose state was refused as
//! too large, so a redelivery answers as the first time did:
//! `"00a1b2c3d4e5f 0f0e0d0c0b0a0 01234567890ab:t:70000:65536"`. One short string costs next to
//! nothing to read and write on every turn, where a list of numbers or ids does not.

use crate::model::state::Fnv;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::hash::Hasher;

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
    list: String,
}

impl Inbound {
    /// Takes the list out of the private record's data (anything unreadable reads as empty).
    pub(crate) fn take_from(private: &mut Map<String, Value>) -> Self {
        match private.remove(INBOUND) {
            Some(Value::String(list)) => Self { list },
            _ => Self::default(),
        }
    }

    /// How the first run of activity `id` ended, if it was processed.
    pub(crate) fn find(&self, id: &str) -> Option<FirstRun> {
        let fp = fingerprint(id);
        self.list.split(' ').rev().find_map(|entry| {
            let rest = entry.strip_prefix(fp.as_str())?;
            if rest.is_empty() {
                return Some(FirstRun::Handled);
            }
            let mut fields = rest.strip_prefix(":t:")?.split(':');
            let mut next = || fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            Some(FirstRun::TooLarge {
                size: next(),
                limit: next(),
            })
        })
    }

    /// Records activity `id`, keeping at most `window` entries (the oldest go first).
    pub(crate) fn record(&mut self, id: &str, first: &FirstRun, window: usize) {
        if window == 0 {
            self.list.clear();
            return;
        }
        if !self.list.is_empty() {
            self.list.push(' ');
        }
        self.list.push_str(&fingerprint(id));
        if let FirstRun::TooLarge { size, limit } = first {
            let _ = write!(self.list, ":t:{size}:{limit}");
        }
        let mut entries = self.list.bytes().filter(|b| *b == b' ').count() + 1;
        while entries > window {
            match self.list.find(' ') {
                Some(i) => drop(self.list.drain(..=i)),
                None => self.list.clear(),
            }
            entries -= 1;
        }
    }

    /// Puts the list back into the private record's data (nothing when it is empty).
    pub(crate) fn put_into(self, private: &mut Map<String, Value>) {
        if !self.list.is_empty() {
            private.insert(INBOUND.into(), Value::String(self.list));
        }
    }
}

/// The stored fingerprint of an activity id: FNV-1a, cut to 52 bits, as 13 hex digits.
fn fingerprint(id: &str) -> String {
    let mut h = Fnv::default();
    h.write(id.as_bytes());
    format!("{:013x}", h.finish() & ((1 << 52) - 1))
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
