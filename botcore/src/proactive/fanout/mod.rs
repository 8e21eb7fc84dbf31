//! Fan-out: one message or dialog to many users, with bounded concurrency.
//!
//! [`Bot::fan_out`] runs the action for every address and returns per-recipient results.
//! [`FanOut::resumable`] does the same under a job id and journals its progress in the
//! bot's storage, so that running the job again after a crash skips everyone already handled.
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot) -> Result<(), botcore::BotError> {
//! use botcore::proactive::fanout::FanOutAction;
//! use botcore::Message;
//! let news = FanOutAction::Message(Message::default().text("We moved to a new office!"));
//! let everyone = bot.address_book().all().await?;
//! // If the process dies half-way, the same call (same job id) finishes the job.
//! let results = bot.fan_out(everyone, news).resumable("news-2024-05").await;
//! let skipped = results.iter().filter(|r| r.earlier.is_some()).count();
//! let progress = bot.fan_out_progress("news-2024-05").await?.unwrap_or_default();
//! println!("{skipped} handled before; {} done, {} pending", progress.done, progress.pending);
//! # Ok(()) }
//! ```
//!
//! **How progress is kept.** A resumable run works in batches of [`FanOutOptions::batch`]
//! recipients. A batch is first *claimed*: a new record `fanout/{job}/{n}` naming it is
//! written, only if absent. Then it is sent, [`FanOutOptions::concurrency`] at a time, and
//! once every send or turn of the batch has returned the record is rewritten (compare-and-set)
//! with the outcomes. Each record also keeps the job's number of recipients, for
//! [`Bot::fan_out_progress`].
//!
//! - *Nobody is messaged twice*: no send without a stored claim, and no run sends to a
//!   recipient someone claimed. A crash between a claim and its outcomes leaves that batch
//!   *in doubt* — some of it may have been messaged, some not. It is reported
//!   ([`RecipientStatus::InDoubt`], [`FanOutProgress::in_doubt`]) and left alone unless the
//!   caller opts into at-least-once ([`FanOutOptions::resend_in_doubt`]).
//! - *Writes are batched*: two writes per batch, each to a record no other run writes, so a
//!   large fan-out never queues behind one hot record and writes O(N) bytes in all. A larger
//!   batch means fewer writes but more recipients in doubt after a crash, and a short wait at
//!   the end of each batch for its slowest recipient; `batch: 1` risks only the one in flight.
//! - Two runs of one job at once do not overlap: a run whose claim finds the record number
//!   taken reads that record, leaves its recipients out, and tries the next number.
//! - Failures that reached nobody for sure (retry-safe delivery errors, storage outages,
//!   conflicts) are retried by the next run; the others are final. Addresses the address book
//!   marks unreachable are not attempted. (A dialog whose commit failed on an outage that hid
//!   a successful write is begun again: nothing was sent, but an interrupted stack holds the
//!   dialog twice.)
//!
//! Recipients are told apart by channel and user id; the counts assume every run of a job is
//! given the same recipients. The records are not deleted.

mod journal;

use journal::JobKeys;

use crate::contracts::address::Address;
use crate::contracts::connector::DeliveryError;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, StorageError, StorageExt, Version};
use crate::contracts::telemetry::{self, Recipient};
use crate::engine::bot::Bot;
use crate::model::proactive_mode::ProactiveMode;
use crate::model::state::address_key;
use crate::proactive::ProactiveOutcome;
use crate::proactive::address_book::AddressRecord;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What to do for each recipient of a fan-out.
// Built once per fan-out: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum FanOutAction {
    /// Send this message (its address is replaced by each recipient's).
    Message(Message),
    /// Begin this dialog for each recipient.
    Dialog {
        /// The dialog id.
        id: String,
        /// Its arguments.
        args: Option<Value>,
        /// How to treat a busy recipient.
        mode: ProactiveMode,
    },
}

impl FanOutAction {
    /// Send `message` (a text or a [`Message`]) to each recipient.
    pub fn message(message: impl Into<Message>) -> Self {
        Self::Message(message.into())
    }

    /// Begin dialog `id` for each recipient, interrupting whatever they are doing.
    pub fn dialog(id: impl Into<String>) -> Self {
        Self::Dialog {
            id: id.into(),
            args: None,
            mode: ProactiveMode::Interrupt,
        }
    }
}

/// The result for one recipient.
#[derive(Debug)]
pub struct FanOutResult {
    /// The recipient.
    pub address: Address,
    /// What this call did: `Ok` with no deliveries when it skipped the recipient.
    pub result: Result<ProactiveOutcome, BotError>,
    /// Set by a [resumable](FanOut::resumable) run when it skipped the recipient because the job had
    /// already handled them (or, for [`RecipientStatus::InDoubt`], may have): what was recorded.
    pub earlier: Option<RecipientStatus>,
}

/// What a resumable fan-out recorded for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum RecipientStatus {
    /// Claimed by a run that has not recorded the outcome: in flight, or — if that run
    /// crashed — maybe messaged, maybe not.
    #[serde(rename = "claimed")]
    InDoubt,
    /// The action ran: the message was accepted, or the dialog's turn was saved.
    Done,
    /// The action failed.
    Failed {
        /// The error, as text.
        error: String,
        /// Whether nothing reached the user, so the next run tries again.
        retryable: bool,
    },
}

impl FanOutResult {
    fn new(
        address: Address,
        result: Result<ProactiveOutcome, BotError>,
        earlier: Option<RecipientStatus>,
    ) -> Self {
        Self {
            address,
            result,
            earlier,
        }
    }
}

impl RecipientStatus {
    fn of(result: &Result<ProactiveOutcome, BotError>) -> Self {
        let Err(e) = result else { return Self::Done };
        let retryable = match e {
            BotError::Delivery(d) => d.is_retry_safe(),
            BotError::Storage(StorageError::Unavailable(_) | StorageError::Conflict { .. }) => true,
            e => matches!(e, BotError::Conflict { .. } | BotError::Busy { .. }),
        };
        let error = e.to_string();
        Self::Failed { error, retryable }
    }

    /// Whether a run leaves the recipient alone.
    fn settled(&self, resend_in_doubt: bool) -> bool {
        match self {
            Self::InDoubt => !resend_in_doubt,
            Self::Done => true,
            Self::Failed { retryable, .. } => !retryable,
        }
    }
}

/// How a resumable fan-out runs.
///
/// ```
/// use botcore::proactive::fanout::FanOutOptions;
/// let options = FanOutOptions { batch: 50, ..Default::default() };
/// assert_eq!((options.concurrency, options.resend_in_doubt), (8, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanOutOptions {
    /// Recipients handled at once (default 8).
    pub concurrency: usize,
    /// Recipients per progress record (default 16): two writes per batch, and at most one
    /// batch in doubt after a crash. A batch smaller than `concurrency` caps the concurrency.
    pub batch: usize,
    /// Send again to recipients left in doubt by a crashed run (at-least-once; default off).
    /// Only while no other run of the job is active: its batch in flight looks in doubt too.
    pub resend_in_doubt: bool,
}

impl Default for FanOutOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            batch: 16,
            resend_in_doubt: false,
        }
    }
}

/// Where a resumable fan-out stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanOutProgress {
    /// Distinct recipients the job was given.
    pub total: usize,
    /// Recipients the action ran for.
    pub done: usize,
    /// Recipients whose action failed for good.
    pub failed: usize,
    /// Recipients claimed without a recorded outcome (see [`RecipientStatus::InDoubt`]).
    pub in_doubt: usize,
    /// Recipients not attempted yet, or whose failure the next run retries.
    pub pending: usize,
}

/// A fan-out about to run (from [`Bot::fan_out`]); await it for the per-recipient results,
/// in the order of the addresses. One recipient's failure does not stop the others.
///
/// ```no_run
/// # async fn f(bot: botcore::Bot, team: Vec<botcore::Address>) {
/// use botcore::proactive::fanout::FanOutAction;
/// let standup = FanOutAction::dialog("standup");
/// for r in bot.fan_out(team, standup).concurrency(8).await {
///     println!("{}: {}", r.address.user.id, if r.result.is_ok() { "asked" } else { "failed" });
/// }
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a fan-out does nothing until it is awaited"]
pub struct FanOut<'a> {
    bot: &'a Bot,
    addresses: Vec<Address>,
    action: FanOutAction,
    options: FanOutOptions,
    job: Option<String>,
}

impl Bot {
    /// Runs `action` for every address (8 at a time unless told otherwise).
    pub fn fan_out(&self, addresses: Vec<Address>, action: FanOutAction) -> FanOut<'_> {
        FanOut {
            bot: self,
            addresses,
            action,
            options: FanOutOptions::default(),
            job: None,
        }
    }
}

impl<'a> FanOut<'a> {
    /// At most `n` recipients at a time.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.options.concurrency = n;
        self
    }

    /// Runs as job `job_id` with its progress journaled in the bot's storage: running the
    /// same job again (after a crash, or to retry failures) skips recipients already handled
    /// and reports them with [`earlier`](FanOutResult::earlier) set.
    pub fn resumable(mut self, job_id: impl Into<String>) -> Self {
        self.job = Some(job_id.into());
        self
    }

    /// The options of a resumable run (batch size, at-least-once for recipients in doubt).
    pub fn options(mut self, options: FanOutOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs the fan-out.
    pub async fn run(self) -> Vec<FanOutResult> {
        let (job, recipients) = (self.job.clone(), self.addresses.len());
        let run = async {
            match self.job {
                None => {
                    self.bot
                        .fan_out_plain(self.addresses, self.action, self.options.concurrency)
                        .await
                }
                Some(job) => {
                    self.bot
                        .fan_out_resumable(&job, self.addresses, self.action, self.options)
                        .await
                }
            }
        };
        telemetry::fan_out(job.as_deref(), recipients, run, |r| {
            match (&r.earlier, &r.result) {
                (Some(_), _) => Recipient::Skipped,
                (None, Ok(_)) => Recipient::Done,
                (None, Err(_)) => Recipient::Failed,
            }
        })
        .await
    }
}

impl<'a> std::future::IntoFuture for FanOut<'a> {
    type Output = Vec<FanOutResult>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl Bot {
    pub(crate) async fn fan_out_plain(
        &self,
        addresses: Vec<Address>,
        action: FanOutAction,
        concurrency: usize,
    ) -> Vec<FanOutResult> {
        let mut results: Vec<(usize, FanOutResult)> =
            futures::stream::iter(addresses.into_iter().enumerate())
                .map(|(i, address)| {
                    let action = action.clone();
                    async move {
                        let result = self.fan_out_one(&address, action).await;
                        (i, FanOutResult::new(address, result, None))
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// Where resumable fan-out `job_id` stands; `None` if nothing was recorded for it.
    pub async fn fan_out_progress(&self, job_id: &str) -> Result<Option<FanOutProgress>, BotError> {
        let Some(journal) = self.load_journal(&JobKeys::new(job_id)).await? else {
            return Ok(None);
        };
        let mut p = FanOutProgress {
            total: journal.total.max(journal.status.len()),
            ..Default::default()
        };
        for s in journal.status.values() {
            match s {
                RecipientStatus::Done => p.done += 1,
                RecipientStatus::InDoubt => p.in_doubt += 1,
                RecipientStatus::Failed { retryable, .. } => p.failed += usize::from(!retryable),
            }
        }
        p.pending = p.total - p.done - p.failed - p.in_doubt;
        Ok(Some(p))
    }

    pub(super) async fn fan_out_one(
        &self,
        address: &Address,
        action: FanOutAction,
    ) -> Result<ProactiveOutcome, BotError> {
        let result = self.fan_out_action(address, action).await;
        telemetry::fan_out_recipient(result.is_ok());
        result
    }

    async fn fan_out_action(
        &self,
        address: &Address,
        action: FanOutAction,
    ) -> Result<ProactiveOutcome, BotError> {
        match action {
            FanOutAction::Message(mut m) => {
                m.address = address.clone();
                let deliveries = self.send_all(vec![m]).await?;
                if let Some(Err(e)) = deliveries.first() {
                    return Err(BotError::Delivery(e.clone()));
                }
                Ok(ProactiveOutcome {
                    address: address.clone(),
                    deliveries,
                    ..Default::default()
                })
            }
            FanOutAction::Dialog { id, args, mode } => {
                self.begin_proactive(address, &id, args, mode, false, Vec::new())
                    .await
            }
        }
    }
}

/// The error of a recipient a run did not attempt because its progress could not be kept.
fn not_attempted(cause: &BotError) -> BotError {
    BotError::Storage(StorageError::Unavailable(format!(
        "fan-out progress not recorded ({cause}); recipient not attempted"
    )))
}
