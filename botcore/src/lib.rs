//! # botcore
//!
//! Conversational bots the way Bot Builder v3 built them — addresses, messages, sessions,
//! dialogs, waterfalls, prompts, a dialog stack — with proactive messaging first: a bot that
//! speaks first, from a timer, a webhook or a queue, to a user it met before.
//!
//! botcore is transport-agnostic: a transport feeds incoming [`Message`]s to
//! [`Bot::receive`] and implements [`Connector`] for the way out; state lives in any
//! [`Storage`] backend.
#![doc = include_str!("docs/quickstart.md")]

mod contracts;
mod engine;
pub mod guide;

/// Deploy safety: what a new release would do to stored conversations (see the guide
/// [`deploying`](crate::guide::deploying)).
pub mod deploy {
    pub use crate::engine::deploy::{CheckReport, check, check_storage};
}
mod model;
pub mod proactive;
#[cfg(feature = "testing")]
pub mod testing;

pub use contracts::address::{Address, ChannelAccount, ConversationAccount};
pub use contracts::card::{
    ADAPTIVE_CARD, AdaptiveCard, Attachment, AttachmentLayout, CardAction, CardImage, HERO_CARD,
    HeroCard, SuggestedActions, THUMBNAIL_CARD, ThumbnailCard,
};
pub use contracts::clock::{Clock, ManualClock, SystemClock};
pub use contracts::connector::{ByChannel, Connector, DeliveryError, Receipt, Refusal};
pub use contracts::error::{BotError, StepError};
pub use contracts::message::{Message, MessageKind};
pub use contracts::middleware::Middleware;
pub use contracts::rate_limit;
pub use contracts::rate_limit::{Rate, RateLimited, RateLimits};
pub use contracts::storage;
pub use contracts::storage::{
    Precondition, Storage, StorageError, StorageExt, Stored, Update, Version, WriteOp,
};
pub use contracts::telemetry;
pub use engine::bot::Bot;
pub use engine::builder::BotBuilder;
pub use engine::config::{DialogVersion, EventAction, ProactiveRefusal, UnknownDialogPolicy};
pub use engine::events::MembersChanged;
pub use engine::outbox::SweepReport;
pub use engine::turn::TurnOutcome;
pub use model::channels::{CHANNELS, ChannelCapabilities};
pub use model::data::{Data, DataMut};
pub use model::dialog::Dialog;
pub use model::dialog::list_style::ListStyle;
pub use model::dialog::prompts::{self, Prompt};
pub use model::dialog::waterfall::{StepFn, StepOutput, Waterfall};
pub use model::job::JobAction;
pub use model::library::Library;
pub use model::localize::Localizer;
pub use model::proactive_mode::{DeadlineAction, ProactiveMode};
pub use model::result::{Choice, DialogResult, ResumeReason};
pub use model::session::Session;
pub use model::state::Frame;
pub use model::version::{FrameMut, MigrationError, VersionPolicy};
pub use proactive::{BeginDialog, Proactive, ProactiveOutcome, SendOptions, WhenIdle};

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Re-exported so dialogs and handlers can name JSON values without another dependency.
pub use serde_json::{Value, json};

/// Re-exported so steps can name the time prompt's answer ([`DialogResult::time`]) without
/// another dependency.
pub use jiff;
