//! Fan-out: one message or dialog to many users, with bounded concurrency.
//!
//! [`Bot::fan_out`] runs the action for every address and returns per-recipient results.
//! [`Bot::fan_out_resumable`] does the same under a job id and journals its progress in the
//! bot's storage, so that running the job again after a crash skips everyone already handled.
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot) -> Result<(), botcore::BotError> {
//! use botcore::proactive::fanout::FanOutAction;
//! use botcore::Message;
//! let news = FanOutAction::Message(Message::default().text("We moved to a new office!"));
//! let everyone = bot.all_addresses().await?;
//! // If the process dies half-way, the same call (same job id) finishes the job.
//! let results = bot.fan_out_resumable("news-2024-05", everyone, news, 8).await;
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

use crate::contracts::address::Address;
use crate::contracts::connector::DeliveryError;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, StorageError, StorageExt, Version};
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

/// The result for one recipient.
#[derive(Debug)]
pub struct FanOutResult {
    /// The recipient.
    pub address: Address,
    /// What this call did: `Ok` with no deliveries when it skipped the recipient.
    pub result: Result<ProactiveOutcome, BotError>,
    /// Set by [`Bot::fan_out_resumable`] when it skipped the recipient because the job had
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
            e => matches!(e, BotError::Conflict { .. }),
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

/// A claim record: the recipients of one batch, and how many the job had when it was claimed.
#[derive(Default, Serialize, Deserialize)]
struct Chunk {
    total: usize,
    recipients: Vec<Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    channel: String,
    user: String,
    #[serde(flatten)]
    status: RecipientStatus,
}

/// A recipient: channel id and user id.
type Key = (String, String);

/// The storage keys of one job (`/` and `%` in the id escaped, so ids cannot collide).
struct JobKeys {
    prefix: String,
}

impl JobKeys {
    fn new(job_id: &str) -> Self {
        let id = job_id.replace('%', "%25").replace('/', "%2F");
        Self {
            prefix: format!("fanout/{id}"),
        }
    }

    fn chunk(&self, n: u64) -> String {
        format!("{}/{n}", self.prefix)
    }
}

/// Everything the stored records say about a job.
#[derive(Default)]
struct Journal {
    total: usize,
    next_chunk: u64,
    status: HashMap<Key, RecipientStatus>,
}

impl Journal {
    fn merge(&mut self, chunk: Chunk) {
        self.total = self.total.max(chunk.total);
        for e in chunk.recipients {
            let key = (e.channel, e.user);
            // Records are read in the order they were claimed; a final outcome stays final.
            if !self.status.get(&key).is_some_and(|s| s.settled(true)) {
                self.status.insert(key, e.status);
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, v: Value) -> Result<T, BotError> {
    serde_json::from_value(v).map_err(|e| BotError::CorruptState(format!("{key}: {e}")))
}

/// A recipient this run still has to handle.
struct Pending {
    index: usize,
    key: Key,
    address: Address,
}

/// A stored claim: the record, its version, and who in it is to be sent to.
struct Claim {
    key: String,
    version: Version,
    entries: Vec<Entry>,
    send: Vec<(usize, Pending)>,
}

const PROBE: u64 = 16;
const MAX_ATTEMPTS: usize = 10_000;

/// One call of [`Bot::fan_out_resumable_with`].
struct Run<'a> {
    bot: &'a Bot,
    job: JobKeys,
    journal: Journal,
    results: Vec<Option<FanOutResult>>,
    /// Recipients another run of the same job claimed while this one was running: never
    /// ours to send, whatever batch they come up in.
    taken_by_others: std::collections::HashSet<Key>,
}

impl Run<'_> {
    fn skip(&mut self, p: Pending, status: RecipientStatus) {
        let outcome = ProactiveOutcome {
            address: p.address.clone(),
            ..Default::default()
        };
        self.results[p.index] = Some(FanOutResult::new(p.address, Ok(outcome), Some(status)));
    }

    fn fail(&mut self, p: Pending, error: BotError) {
        self.results[p.index] = Some(FanOutResult::new(p.address, Err(error), None));
    }

    /// Reads the journal, counts the recipients, and returns who is left to do
    /// (duplicates and recipients already handled are answered). `None` if storage failed.
    async fn start(&mut self, addresses: Vec<Address>, resend: bool) -> Option<Vec<Pending>> {
        let mut todo = Vec::new();
        let mut seen = HashSet::new();
        for (index, address) in addresses.into_iter().enumerate() {
            let key = (address.channel_id.clone(), address.user.id.clone());
            let p = Pending {
                index,
                key,
                address,
            };
            if seen.insert(p.key.clone()) {
                todo.push(p);
            } else {
                let e = BotError::InvalidAddress("recipient listed twice in a fan-out".into());
                self.fail(p, e);
            }
        }
        let loaded = self.bot.load_journal(&self.job).await;
        let mut journal = match loaded {
            Ok(journal) => journal.unwrap_or_default(),
            Err(e) => {
                for p in todo {
                    self.fail(p, not_attempted(&e));
                }
                return None;
            }
        };
        let known = &journal.status;
        let new = seen.iter().filter(|k| !known.contains_key(*k)).count();
        journal.total = journal.total.max(known.len() + new);
        self.journal = journal;
        let mut queue = Vec::with_capacity(todo.len());
        for p in todo {
            match self.journal.status.get(&p.key) {
                Some(s) if s.settled(resend) => {
                    let s = s.clone();
                    self.skip(p, s);
                }
                _ => queue.push(p),
            }
        }
        Some(queue)
    }

    /// Stores a claim for `batch` under the next free record number. Recipients another run
    /// claimed are answered as skipped, unreachable ones as failed; `Ok(None)` when nobody is
    /// left to send to. On error, what is left in `batch` was not sent.
    async fn claim(&mut self, batch: &mut Vec<Pending>) -> Result<Option<Claim>, BotError> {
        let storage = &self.bot.inner.storage;
        let book: Vec<String> = batch
            .iter()
            .map(|p| address_key(&p.key.0, &p.key.1))
            .collect();
        let refs: Vec<&str> = book.iter().map(String::as_str).collect();
        let stored = storage.read_many(&refs).await?;
        let unreachable: HashMap<Key, u16> = (batch.iter().zip(stored))
            .filter_map(|(p, s)| {
                let record: AddressRecord = serde_json::from_value(s?.value).ok()?;
                Some((p.key.clone(), record.unreachable?))
            })
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let mut i = 0;
            while i < batch.len() {
                if self.taken_by_others.contains(&batch[i].key) {
                    let p = batch.remove(i);
                    let status = self
                        .journal
                        .status
                        .get(&p.key)
                        .cloned()
                        .unwrap_or(RecipientStatus::InDoubt);
                    self.skip(p, status);
                } else {
                    i += 1;
                }
            }
            if batch.is_empty() {
                return Ok(None);
            }
            let entries: Vec<Entry> = batch
                .iter()
                .map(|p| Entry {
                    channel: p.key.0.clone(),
                    user: p.key.1.clone(),
                    status: match unreachable.get(&p.key) {
                        Some(status) => RecipientStatus::Failed {
                            error: format!("address marked unreachable (status {status})"),
                            retryable: false,
                        },
                        None => RecipientStatus::InDoubt,
                    },
                })
                .collect();
            let key = self.job.chunk(self.journal.next_chunk);
            let chunk = Chunk {
                total: self.journal.total,
                recipients: entries.clone(),
            };
            let value = serde_json::to_value(chunk).map_err(BotError::dialog)?;
            match storage.write(&key, value, Precondition::IfAbsent).await {
                Ok(version) => {
                    self.journal.next_chunk += 1;
                    let mut send = Vec::new();
                    for (pos, p) in batch.drain(..).enumerate() {
                        match unreachable.get(&p.key) {
                            Some(&status) => {
                                let e = DeliveryError::Permanent { status, code: None };
                                self.fail(p, BotError::Delivery(e));
                            }
                            None => send.push((pos, p)),
                        }
                    }
                    return Ok(Some(Claim {
                        key,
                        version,
                        entries,
                        send,
                    }));
                }
                Err(StorageError::Conflict { .. }) => {
                    // Another run took this number: what it claimed is not ours to send.
                    let theirs: Chunk = match storage.read(&key).await? {
                        Some(s) => decode(&key, s.value)?,
                        None => Chunk::default(),
                    };
                    for e in &theirs.recipients {
                        self.taken_by_others
                            .insert((e.channel.clone(), e.user.clone()));
                        let taken = |p: &Pending| p.key.0 == e.channel && p.key.1 == e.user;
                        if let Some(i) = batch.iter().position(taken) {
                            let p = batch.remove(i);
                            self.skip(p, e.status.clone());
                        }
                    }
                    self.journal.merge(theirs);
                    self.journal.next_chunk += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(BotError::Conflict {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Runs the action for the claimed recipients, then records their outcomes in the claim.
    async fn send(&mut self, claim: Claim, action: &FanOutAction, concurrency: usize) {
        let bot = self.bot;
        let outcomes: Vec<_> =
            futures::stream::iter(claim.send)
                .map(|(pos, p)| async move {
                    (pos, bot.fan_out_one(&p.address, action.clone()).await, p)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        let mut recipients = claim.entries;
        for (pos, result, p) in outcomes {
            recipients[pos].status = RecipientStatus::of(&result);
            self.results[p.index] = Some(FanOutResult::new(p.address, result, None));
        }
        let pre = Precondition::IfMatch(claim.version);
        let total = self.journal.total;
        let recorded = match serde_json::to_value(Chunk { total, recipients }) {
            Ok(v) => bot.inner.storage.write(&claim.key, v, pre).await.err(),
            Err(e) => Some(StorageError::Unavailable(e.to_string())),
        };
        if let Some(e) = recorded {
            let record = &claim.key;
            tracing::warn!(error = %e, %record, "fan-out outcomes not recorded: the batch stays in doubt");
        }
    }
}

impl Bot {
    /// Runs `action` for every address, at most `concurrency` at a time. Results come back in
    /// the order of `addresses`; one recipient's failure does not stop the others.
    ///
    /// ```no_run
    /// # async fn f(bot: botcore::Bot, team: Vec<botcore::Address>) {
    /// use botcore::proactive::fanout::FanOutAction;
    /// use botcore::ProactiveMode;
    /// let standup = FanOutAction::Dialog { id: "*:standup".into(), args: None, mode: ProactiveMode::Interrupt };
    /// for r in bot.fan_out(team, standup, 8).await {
    ///     println!("{}: {}", r.address.user.id, if r.result.is_ok() { "asked" } else { "failed" });
    /// }
    /// # }
    /// ```
    pub async fn fan_out(
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

    /// [`fan_out`](Self::fan_out) as job `job_id`, with its progress journaled in the bot's
    /// storage: calling it again with the same id (after a crash, or to retry failures)
    /// skips recipients already handled and reports them with
    /// [`earlier`](FanOutResult::earlier) set. See the [module docs](self) for the guarantees.
    /// Default [`FanOutOptions`] apart from `concurrency`.
    pub async fn fan_out_resumable(
        &self,
        job_id: &str,
        addresses: Vec<Address>,
        action: FanOutAction,
        concurrency: usize,
    ) -> Vec<FanOutResult> {
        let options = FanOutOptions {
            concurrency,
            ..Default::default()
        };
        self.fan_out_resumable_with(job_id, addresses, action, options)
            .await
    }

    /// [`fan_out_resumable`](Self::fan_out_resumable) with options. If progress cannot be
    /// read or a claim cannot be stored, the recipients not yet sent to get a
    /// [`BotError::Storage`] error and are left for the next run.
    pub async fn fan_out_resumable_with(
        &self,
        job_id: &str,
        addresses: Vec<Address>,
        action: FanOutAction,
        options: FanOutOptions,
    ) -> Vec<FanOutResult> {
        let mut run = Run {
            bot: self,
            job: JobKeys::new(job_id),
            journal: Journal::default(),
            results: addresses.iter().map(|_| None).collect(),
            taken_by_others: Default::default(),
        };
        let mut queue = run
            .start(addresses, options.resend_in_doubt)
            .await
            .unwrap_or_default()
            .into_iter();
        loop {
            let mut batch: Vec<Pending> = queue.by_ref().take(options.batch.max(1)).collect();
            if batch.is_empty() {
                break;
            }
            match run.claim(&mut batch).await {
                Ok(Some(claim)) => run.send(claim, &action, options.concurrency).await,
                Ok(None) => {}
                Err(e) => {
                    // No claim, no send: the rest waits for the next run.
                    for p in batch.into_iter().chain(queue.by_ref()) {
                        run.fail(p, not_attempted(&e));
                    }
                }
            }
        }
        run.results.into_iter().flatten().collect()
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

    /// Reads every claim record of a job (they are numbered densely from 0).
    async fn load_journal(&self, job: &JobKeys) -> Result<Option<Journal>, BotError> {
        let mut journal = Journal::default();
        loop {
            let from = journal.next_chunk;
            let keys: Vec<String> = (from..from + PROBE).map(|n| job.chunk(n)).collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            for (key, stored) in keys.iter().zip(self.inner.storage.read_many(&refs).await?) {
                let Some(s) = stored else {
                    return Ok((journal.next_chunk > 0).then_some(journal));
                };
                journal.merge(decode(key, s.value)?);
                journal.next_chunk += 1;
            }
        }
    }

    async fn fan_out_one(
        &self,
        address: &Address,
        action: FanOutAction,
    ) -> Result<ProactiveOutcome, BotError> {
        match action {
            FanOutAction::Message(mut m) => {
                m.address = address.clone();
                let deliveries = self.send(vec![m]).await?;
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
                self.begin_dialog(address, &id, args, mode).await
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
