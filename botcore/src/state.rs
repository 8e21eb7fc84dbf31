//! Persisted state in the Bot Builder v3 shape, and the storage keys botcore uses.
//!
//! Per turn three records are read and written: user (channel + user), conversation
//! (channel + conversation) and private conversation (channel + conversation + user). The
//! dialog stack lives in the private record under `BotBuilder.Data.SessionState`:
//! `{ "callstack": [{ "id": "*:/", "state": {...} }], "lastAccess": ms, "version": 0 }`.

use crate::address::Address;
use crate::error::BotError;
use crate::storage::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Key of the session state (dialog stack) inside private conversation data.
pub const SESSION_STATE: &str = "BotBuilder.Data.SessionState";
/// Key of the waterfall step inside a frame's state.
pub const WATERFALL_STEP: &str = "BotBuilder.Data.WaterfallStep";
/// Key of the user's preferred locale inside user data.
pub const PREFERRED_LOCALE: &str = "BotBuilder.Data.PreferredLocale";
/// Key of held proactive dialogs (`WhenIdle`) inside private conversation data.
pub const HELD_DIALOGS: &str = "botcore.HeldDialogs";

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
pub struct SessionState {
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
pub struct StateKeys {
    /// The user record.
    pub user: String,
    /// The conversation record.
    pub conversation: String,
    /// The private conversation record (holds the dialog stack).
    pub private: String,
    /// The address-book record of the user.
    pub address: String,
}

impl StateKeys {
    /// The keys for `address`; it must have a conversation.
    pub fn for_address(address: &Address) -> Result<Self, BotError> {
        let conv = address
            .conversation_id()
            .ok_or_else(|| BotError::InvalidAddress("address has no conversation".into()))?;
        let ch = &address.channel_id;
        let user = &address.user.id;
        Ok(Self {
            user: format!("user/{ch}/{user}"),
            conversation: format!("conversation/{ch}/{conv}"),
            private: format!("private/{ch}/{conv}/{user}"),
            address: address_key(ch, user),
        })
    }
}

/// The address-book key of a user.
pub fn address_key(channel: &str, user: &str) -> String {
    format!("{ADDRESS_PREFIX}{channel}/{user}")
}

/// The prefix of every address-book key.
pub const ADDRESS_PREFIX: &str = "address/";

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
        stored: Option<crate::storage::Stored>,
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
