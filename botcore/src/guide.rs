//! Guides: botcore explained step by step, each with examples that compile and run as tests.
//!
//! - [`dialogs`]: waterfalls, prompts, typed state and results, libraries, errors.
//! - [`proactive`]: speaking first — ad hoc messages and proactive dialogs.
//! - [`scheduling`]: jobs that survive restarts, and fan-out to many users.
//! - [`testing`]: testing your bot through the in-memory channel.
//! - [`transports`]: writing a channel adapter (a `Connector` and the way in).
//! - [`storage`]: writing a storage backend and running the conformance suite.
//! - [`deploying`]: deploying new versions of your dialogs (versions, migrations, renames).
//! - [`delivery`]: what is exactly once (turns) and at least once (messages), and the windows.
//! - [`observability`]: the spans and metrics botcore records, and how to export them.

#[doc = include_str!("docs/dialogs.md")]
pub mod dialogs {}

#[doc = include_str!("docs/proactive.md")]
pub mod proactive {}

#[doc = include_str!("docs/scheduling.md")]
pub mod scheduling {}

#[doc = include_str!("docs/testing.md")]
pub mod testing {}

#[doc = include_str!("docs/transports.md")]
pub mod transports {}

#[doc = include_str!("docs/storage.md")]
pub mod storage {}

#[doc = include_str!("docs/deploying.md")]
pub mod deploying {}

#[doc = include_str!("docs/delivery.md")]
pub mod delivery {}
#[doc = include_str!("docs/observability.md")]
pub mod observability {}
