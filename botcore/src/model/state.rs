//! Persisted state in the Bot Builder v3 shape, and the storage keys botcore uses.
//!
//! Per turn three records are read and written: user (channel + user), conversation
//! (channel + conversation) and private conversation (channel + conversation + user). The
//! dialog stack lives in the private record under `BotBuilder.Data.SessionState`:
//! `{ "callstack": [{ "id": "*:/", "state": {...} }], "lastAccess": ms, "version": 0 }`.

use crate::contracts::address::Address;
use crate::contracts::error::BotError;
use crate::contracts::storage::Version;
use percent_encoding::{AsciiSet, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Key of the session state (dialog stack) inside private conversation data.
pub(crate) const SESSION_STATE: &str = "BotBuilder.Data.SessionState";
/// Key of the waterfall step inside a frame's state.
pub(crate) const WATERFALL_STEP: &str = "BotBuilder.Data.WaterfallStep";
/// Key of the user's preferred locale inside user data.
pub(crate) const PREFERRED_LOCALE: &str = "BotBuilder.Data.PreferredLocale";
/// Key of held proactive dialogs (`WhenIdle`) inside private conversation data.
pub(crate) const HELD_DIALOGS: &str = "botcore.HeldDialogs";

/// One frame of the dialog stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// The qualified dialog id (`library:dialog`).
    pub id: String,
    /// The dialog's data (`session.dialog_data()`), including v3's reserved keys.
    #[serde(default)]
    pub state: Map<String, Value>,
}

/// The v3 `BotBuilder.Data.SessionState` record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionState {
    /// The dialog stack, bottom first.
    #[serde(default)]
    pub callstack: Vec<Frame>,
    /// When the conversation last had a turn (ms since the Unix epoch).
    #[serde(default)]
    pub last_access: u64,
    /// The state format version.
    #[serde(default)]
    pub version: f64,
}

/// The storage keys of one user in one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StateKeys {
    /// The user record.
    pub user: String,
    /// The conversation record.
    pub conversation: String,
    /// The private conversation record (holds the dialog stack).
    pub private: String,
    /// The address-book record of the user.
    pub address: String,
    /// The small record holding a fingerprint of the address last recorded for the user, read
    /// on every turn instead of the whole address-book record.
    pub address_mark: String,
    /// The conversation's outbox record (messages not known to be delivered yet).
    pub outbox: String,
}

impl StateKeys {
    /// The keys for `address`; it must have a conversation.
    pub(crate) fn for_address(address: &Address) -> Result<Self, BotError> {
        let conv = address
            .conversation_id()
            .ok_or_else(|| BotError::InvalidAddress("address has no conversation".into()))?;
        if address.channel_id.is_empty() || address.user.id.is_empty() {
            return Err(BotError::InvalidAddress(
                "address has no channelId or user id".into(),
            ));
        }
        let (ch, user, conv) = (
            escape(&address.channel_id),
            escape(&address.user.id),
            escape(conv),
        );
        // Built by hand: these run on every turn, and `format!` costs several times more.
        Ok(Self {
            user: join(&["user/", &ch, "/", &user]),
            conversation: join(&["conversation/", &ch, "/", &conv]),
            private: join(&["private/", &ch, "/", &conv, "/", &user]),
            address: join(&[ADDRESS_PREFIX, &ch, "/", &user]),
            address_mark: join(&[ADDRESS_MARK_PREFIX, &ch, "/", &user]),
            outbox: join(&[crate::model::outbox::OUTBOX_PREFIX, &ch, "/", &conv]),
        })
    }
}

/// Escapes `/` and `%` in a key component, so ids containing `/` cannot make two users' keys
/// collide (`a/b` + `c` vs `a` + `b/c`).
fn escape(id: &str) -> std::borrow::Cow<'_, str> {
    const KEY_SEPARATORS: &AsciiSet = &AsciiSet::EMPTY.add(b'/').add(b'%');
    utf8_percent_encode(id, KEY_SEPARATORS).into()
}

fn join(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// The address-book key of a user.
pub(crate) fn address_key(channel: &str, user: &str) -> String {
    join(&[ADDRESS_PREFIX, &escape(channel), "/", &escape(user)])
}

impl SessionState {
    /// Converts to the stored JSON shape, moving the frames' data (no serializer involved: this
    /// runs on every turn).
    pub(crate) fn into_value(self) -> Value {
        let frames = self
            .callstack
            .into_iter()
            .map(|f| {
                let mut m = Map::with_capacity(2);
                m.insert("id".into(), Value::String(f.id));
                m.insert("state".into(), Value::Object(f.state));
                Value::Object(m)
            })
            .collect();
        let mut m = Map::with_capacity(3);
        m.insert("callstack".into(), Value::Array(frames));
        m.insert("lastAccess".into(), Value::from(self.last_access));
        m.insert("version".into(), Value::from(self.version));
        Value::Object(m)
    }

    /// Reads the stored JSON shape, moving the frames' data out of `value`.
    pub(crate) fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut m) = value else {
            return Err("session state is not an object".into());
        };
        let callstack = match m.remove("callstack") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(frames)) => frames
                .into_iter()
                .map(|f| match f {
                    Value::Object(mut f) => {
                        let id = match f.remove("id") {
                            Some(Value::String(id)) => id,
                            _ => return Err("a frame has no string id".to_owned()),
                        };
                        let state = match f.remove("state") {
                            Some(Value::Object(s)) => s,
                            None | Some(Value::Null) => Map::new(),
                            Some(_) => return Err(format!("frame {id}: state is not an object")),
                        };
                        Ok(Frame { id, state })
                    }
                    _ => Err("a frame is not an object".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("callstack is not an array".into()),
        };
        let last_access = m.get("lastAccess").and_then(Value::as_u64).unwrap_or(0);
        let version = m.get("version").and_then(Value::as_f64).unwrap_or(0.0);
        Ok(Self {
            callstack,
            last_access,
            version,
        })
    }
}

/// The user-data key of a user.
pub(crate) fn user_key(channel: &str, user: &str) -> String {
    join(&["user/", &escape(channel), "/", &escape(user)])
}

/// The address-mark key of a user (see [`StateKeys::address_mark`]).
pub(crate) fn address_mark_key(channel: &str, user: &str) -> String {
    join(&[ADDRESS_MARK_PREFIX, &escape(channel), "/", &escape(user)])
}

/// The prefix of every address-mark key.
pub(crate) const ADDRESS_MARK_PREFIX: &str = "address-mark/";

/// The prefix of every address-book key.
pub(crate) const ADDRESS_PREFIX: &str = "address/";

/// One state record as loaded for a turn: its data, the version it was read at, and whether
/// the turn changed it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bag {
    pub(crate) data: Map<String, Value>,
    pub(crate) version: Option<Version>,
    pub(crate) dirty: bool,
}

impl Bag {
    pub(crate) fn load(
        key: &str,
        stored: Option<crate::contracts::storage::Stored>,
    ) -> Result<Self, BotError> {
        match stored {
            None => Ok(Self::default()),
            Some(s) => match s.value {
                Value::Object(data) => Ok(Self {
                    data,
                    version: Some(s.version),
                    dirty: false,
                }),
                Value::Null => Ok(Self {
                    data: Map::new(),
                    version: Some(s.version),
                    dirty: false,
                }),
                _ => Err(BotError::CorruptState(format!(
                    "{key} is not a JSON object"
                ))),
            },
        }
    }

    pub(crate) fn clear(&mut self) {
        if !self.data.is_empty() {
            self.data.clear();
            self.dirty = true;
        }
    }
}

/// FNV-1a: a small, fast, deterministic hash for per-turn bookkeeping (lock stripes, address
/// fingerprints) where `SipHash`'s flooding resistance buys nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::address::ChannelAccount;
    use serde_json::json;

    #[test]
    fn ids_with_slashes_do_not_collide_and_empty_ids_are_refused() {
        let a = |ch: &str, user: &str, conv: &str| {
            Address::new(ch, ChannelAccount::new(user), ChannelAccount::new("bot"))
                .with_conversation(conv)
        };
        let k1 = StateKeys::for_address(&a("x", "a/b", "c")).unwrap();
        let k2 = StateKeys::for_address(&a("x", "b", "a/c")).unwrap();
        assert_ne!(k1.private, k2.private);
        assert_eq!(k1.user, "user/x/a%2Fb");
        assert_eq!(k1.address, address_key("x", "a/b"));
        assert!(StateKeys::for_address(&a("x", "", "c")).is_err());
        assert!(StateKeys::for_address(&a("", "u", "c")).is_err());
    }

    #[test]
    fn session_state_round_trips_in_the_v3_shape() {
        let v3 = json!({"callstack": [{"id": "*:/", "state": {"BotBuilder.Data.WaterfallStep": 1, "name": "Ann"}},
                                      {"id": "BotBuilder:prompt-text", "state": {}}],
                        "lastAccess": 1_700_000_000_000u64, "version": 0.0});
        let s = SessionState::from_value(v3.clone()).unwrap();
        assert_eq!(s.callstack.len(), 2);
        assert_eq!(s.callstack[0].state["name"], json!("Ann"));
        assert_eq!(s.into_value(), v3);
        // The serde derive reads the same shape.
        let derived: SessionState = serde_json::from_value(v3.clone()).unwrap();
        assert_eq!(SessionState::from_value(v3).unwrap(), derived);
    }

    #[test]
    fn corrupt_session_state_is_an_error_not_a_panic() {
        for bad in [
            json!(1),
            json!({"callstack": 3}),
            json!({"callstack": [1]}),
            json!({"callstack": [{"state": {}}]}),
            json!({"callstack": [{"id": "x", "state": []}]}),
        ] {
            assert!(SessionState::from_value(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(
            SessionState::from_value(json!({})).unwrap(),
            SessionState::default()
        );
    }
}
