//! # transport-mock
//!
//! An in-memory channel and test kit for botcore bots: scripted users in several
//! conversations, transcript assertions with a readable diff, every outgoing activity
//! captured (typing and endOfConversation included), a manual clock, and injected faults
//! (429 with Retry-After, 5xx, 403, 404, slow or failing storage, a changed service URL).
//!
//! ```
//! use botcore::{prompts, Bot, Waterfall};
//! use transport_mock::TestBot;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let bot = Bot::builder().dialog("/", Waterfall::new()
//!     .step(async |s, _| prompts::text(s, "What's your name?"))
//!     .step(async |s, r| { s.send(format!("Hi {}!", r.as_str().unwrap_or(""))); s.end_dialog(); Ok(()) }));
//! let test = TestBot::new(bot);
//! test.transcript("ann", "
//!     > hi
//!     < What's your name?
//!     > Ann
//!     < Hi Ann!
//! ").await;
//! # }
//! ```

mod channel;
mod kit;
mod storage;
mod transcript;

pub use channel::{Fault, MOCK_CHANNEL_ID, MOCK_SERVICE_URL, MockChannel};
pub use kit::{Replies, START_MS, TestBot, TestUser, UserState};
pub use storage::FaultyStorage;
pub use transcript::TranscriptError;
