//! Transcript assertions: `> user says`, `< bot says`.

use crate::kit::TestBot;
use botcore::{Message, MessageKind};
use std::fmt;

/// A transcript that did not match, with a readable diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptError(pub String);

impl fmt::Display for TranscriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TranscriptError {}

fn render(m: &Message) -> String {
    match &m.kind {
        MessageKind::Message => m.text.replace('\n', "\\n"),
        MessageKind::EndOfConversation => {
            format!("[endOfConversation:{}]", m.code.as_deref().unwrap_or(""))
        }
        other => format!("[{}]", other.as_str()),
    }
}

/// A side-by-side diff of expected and actual bot lines.
pub(crate) fn diff<E: AsRef<str>, A: AsRef<str>>(expected: &[E], actual: &[A]) -> String {
    let mut out = String::from("bot replies differ:\n");
    for i in 0..expected.len().max(actual.len()) {
        let e = expected.get(i).map(AsRef::as_ref);
        let a = actual.get(i).map(AsRef::as_ref);
        let mark = if e == a { ' ' } else { '✗' };
        out.push_str(&format!(
            "  {mark} expected: {}\n",
            e.map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "(nothing)".into())
        ));
        if e != a {
            out.push_str(&format!(
                "      actual: {}\n",
                a.map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| "(nothing)".into())
            ));
        }
    }
    out
}

impl TestBot {
    /// Plays a transcript for user `user_id` and panics with a diff at the first mismatch.
    ///
    /// Lines: `> text` the user says; `< text` the bot answers exactly that (`\n` for a line
    /// break); `< [typing]`, `< [endOfConversation:code]` for other activities. Blank lines
    /// are ignored, indentation too.
    #[track_caller]
    pub fn transcript<'a>(
        &'a self,
        user_id: &'a str,
        script: &'a str,
    ) -> impl Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            if let Err(e) = self.try_transcript(user_id, script).await {
                panic!("transcript failed ({caller}):\n{e}");
            }
        }
    }

    /// Plays a transcript; returns the first mismatch as an error.
    pub async fn try_transcript(&self, user_id: &str, script: &str) -> Result<(), TranscriptError> {
        let user = self.user(user_id);
        let mut turns: Vec<(String, Vec<String>)> = Vec::new();
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(said) = line.strip_prefix('>') {
                turns.push((said.trim().to_owned(), Vec::new()));
            } else if let Some(reply) = line.strip_prefix('<') {
                let Some(turn) = turns.last_mut() else {
                    return Err(TranscriptError(format!(
                        "bot line before any user line: {line}"
                    )));
                };
                turn.1.push(reply.trim().to_owned());
            } else {
                return Err(TranscriptError(format!(
                    "transcript lines start with > or <: {line}"
                )));
            }
        }
        for (i, (said, expected)) in turns.iter().enumerate() {
            let replies = user.say(said).await;
            let actual: Vec<String> = replies.messages.iter().map(render).collect();
            if &actual != expected {
                let mut msg = format!("at turn {} (> {said}):\n", i + 1);
                msg.push_str(&diff(expected, &actual));
                if let Err(e) = &replies.outcome {
                    msg.push_str(&format!("  the turn failed: {e}\n"));
                }
                return Err(TranscriptError(msg));
            }
        }
        Ok(())
    }
}
