//! Fixtures shared by the dialog, regression and API tests (included with `mod common;`).
// Each test crate uses only some of these.
#![allow(dead_code)]

use botcore::MessageKind;
use std::sync::{Arc, Mutex};
use transport_mock::Replies;

/// v3's message for a turn that failed (`BotBuilder:default_error`).
pub(crate) const V3_ERROR: &str = "Oops. Something went wrong and we need to start over.";

/// Asserts that a turn ended the v3 way after an error: only the error message was sent
/// (nothing the failed turn queued), followed by an endOfConversation with code `unknown`.
#[track_caller]
pub(crate) fn assert_v3_reset(r: &Replies) {
    r.expect(&[V3_ERROR]);
    let eoc = r
        .messages
        .last()
        .expect("an endOfConversation after the error message");
    assert_eq!(
        (eoc.kind.clone(), eoc.code.as_deref()),
        (MessageKind::EndOfConversation, Some("unknown"))
    );
}

/// Lines recorded by steps (shared with them through `BotBuilder::app_data`) or by an error
/// hook; clones share the lines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Records a line.
    pub(crate) fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    /// Every line recorded so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
