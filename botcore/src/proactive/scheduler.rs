//! Timers and reminders that survive restarts.
//!
//! Jobs are stored in the bot's storage, one record per job, so they survive a restart and
//! several bot processes can share them. Something must call [`Scheduler::tick`] regularly (the
//! transports and examples do it once a second; tests call it after moving a
//! [`ManualClock`](crate::ManualClock)).
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
//! use botcore::proactive::scheduler::JobAction;
//! use botcore::Message;
//! let at = bot.clock().now_ms() + 60_000;
//! let reminder = Message::to(&saved).text("Time for the stand-up!");
//! let id = bot.scheduler().at(at, &saved, JobAction::Message { message: reminder }).await?;
//! // ... later, maybe in another process:
//! bot.scheduler().cancel(&id).await?;
//! # Ok(()) }
//! ```
//!
//! # Storage layout
//!
//! - `job/{at}/{id}`: one job. `at` is its due time in ms, zero-padded to 20 digits, so key
//!   order is due order and a tick finds the due jobs with one `list_keys`. The id is
//!   `{first due time:016x}-{random:016x}`: the job's first key follows from its id.
//! - `job-moved/{id}` → `{"at": ms}`: where a job went when a retry or a held-dialog re-check
//!   moved it to a later key. It is written and deleted in the same atomic batches that move
//!   and delete the job, so [`Scheduler::cancel`] never scans.
//! - `job-corrupt/{at}/{id}`: a job record that could not be decoded, moved aside with the
//!   reason so that it neither blocks the queue nor is lost.
//!
//! # Delivery guarantee
//!
//! A tick takes due jobs one at a time: it claims one by writing a lease (60 s) into it with
//! compare-and-set, so only one process runs it, then deletes it (or moves it, for a retry)
//! with compare-and-set on the leased version. A run is abandoned (outcome unknown) after half
//! the lease, so a slow run never overlaps another. A job runs once **except** when its runner
//! stops between the claim and that last write (a crash, a storage failure): once the lease
//! expires another tick runs that one job again — at least once, for it alone.
//!
//! # Failures
//!
//! Errors safe to retry (a throttle, an unreachable channel, a storage failure, a conflict)
//! move the job later: by `Retry-After` for a throttle, by exponential backoff otherwise, up
//! to [`MAX_ATTEMPTS`] starts. Other errors (the user never wrote, unknown dialog, a refused
//! or ambiguous delivery — never replayed blindly —, a bad address) drop it at once.

mod tick;

use crate::contracts::address::Address;
use crate::contracts::connector::DeliveryError;
use crate::contracts::error::BotError;
use crate::contracts::storage::{
    Precondition, StorageError, StorageExt, Stored, UPDATE_ATTEMPTS, Update, Version, WriteOp,
};
use crate::engine::bot::Bot;
use crate::engine::turn::{self, Entry};
use crate::model::job::{
    JOB_PREFIX, decode, encode, id_at, job_key, job_write_op, moved_key, parse_key,
};
pub use crate::model::job::{Job, JobAction, MAX_ATTEMPTS};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const CORRUPT_PREFIX: &str = "job-corrupt/";

/// How long a claimed job is reserved for the process that claimed it (ms).
pub const LEASE_MS: u64 = 60_000;
/// A run is abandoned after this long, well inside the lease.
const RUN_TIMEOUT: Duration = Duration::from_millis(LEASE_MS / 2);
/// The most jobs one [`Scheduler::tick`] handles; the rest wait for the next tick.
pub const MAX_JOBS_PER_TICK: usize = 32;
/// The most due keys one tick looks at (jobs leased by other processes are passed over).
const MAX_KEYS_PER_TICK: usize = 4 * MAX_JOBS_PER_TICK;
/// Keys listed per page by a tick (the first page alone tells whether anything is due).
const TICK_PAGE: usize = 16;
/// Keys listed per page by [`Scheduler::jobs`].
const LIST_PAGE: usize = 100;
/// The first retry waits this long; each further one twice as long as the one before.
const RETRY_BASE_MS: u64 = 15_000;
const RETRY_MAX_MS: u64 = 3_600_000;
/// The shortest wait after a throttle, whatever `Retry-After` said.
const RETRY_MIN_MS: u64 = 1_000;

/// What a tick did with one due job.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobOutcome {
    /// It ran and was removed.
    Done,
    /// It ran and runs again at `at` (a held-dialog check whose dialog is still waiting).
    Again {
        /// The next run (ms since the Unix epoch).
        at: u64,
    },
    /// It was found more than `max_lateness_ms` late and removed without running.
    Skipped {
        /// How late it was found (ms).
        late_ms: u64,
    },
    /// It failed with an error that is safe to retry, and runs again at `at`.
    Retrying {
        /// The next run (ms since the Unix epoch).
        at: u64,
        /// Why this run failed.
        error: BotError,
    },
    /// It failed for good (a permanent error, or the last attempt), or its record was corrupt
    /// ([`BotError::CorruptState`]; moved aside under `job-corrupt/`), and was removed.
    Dropped(BotError),
}

/// What happened to a due job.
#[derive(Debug)]
pub struct JobReport {
    /// The job's id.
    pub id: String,
    /// Which start of the job this was (1 for the first run; 0 when it did not run).
    pub attempt: u32,
    /// What happened.
    pub outcome: JobOutcome,
}

/// Where a cancel stands.
enum Cancel {
    Done(bool),
    LookAt(String),
}

/// The scheduler (from [`Bot::scheduler`]): jobs stored in the bot's storage that survive
/// restarts and are shared by every process of the bot.
#[derive(Debug, Clone, Copy)]
pub struct Scheduler<'a> {
    bot: &'a Bot,
}

impl Bot {
    /// The scheduler.
    pub fn scheduler(&self) -> Scheduler<'_> {
        Scheduler { bot: self }
    }
}

impl Scheduler<'_> {
    /// Schedules `action` for `address` at `at_ms` (ms since the Unix epoch); returns the
    /// job id.
    pub async fn at(
        self,
        at_ms: u64,
        address: &Address,
        action: JobAction,
    ) -> Result<String, BotError> {
        self.at_with_lateness(at_ms, address, action, None).await
    }

    /// Schedules `action` for `address` `delay` from now; returns the job id.
    pub async fn after(
        self,
        delay: Duration,
        address: &Address,
        action: JobAction,
    ) -> Result<String, BotError> {
        let delay = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let at = self.bot.inner.clock().now_ms().saturating_add(delay);
        self.at(at, address, action).await
    }

    /// Schedules with a catch-up policy: skipped if found more than `max_lateness_ms` late
    /// (say, after the bot was down).
    pub async fn at_with_lateness(
        self,
        at_ms: u64,
        address: &Address,
        action: JobAction,
        max_lateness_ms: Option<u64>,
    ) -> Result<String, BotError> {
        // Each job has a key of its own: a conflict means two random ids collided.
        self.bot
            .inner
            .storage
            .update(&[], |_| {
                let (id, op) = job_write_op(at_ms, address, action.clone(), max_lateness_ms)?;
                Ok::<_, BotError>(Update::Write(vec![op], id))
            })
            .await
    }

    /// Cancels a job; `false` if there was none with that id (unknown, done or dropped). A run
    /// already under way is not stopped, but a job cancelled during its run is not retried.
    pub async fn cancel(self, id: &str) -> Result<bool, BotError> {
        let Some(first_at) = id_at(id) else {
            return Ok(false);
        };
        let storage = &self.bot.inner.storage;
        let (home, moved) = (job_key(first_at, id), moved_key(id));
        // Where the job is: at home, or where its pointer says it moved to. A job that moves
        // again meanwhile changes the pointer, and the search starts over.
        let mut key = home.clone();
        for _ in 0..UPDATE_ATTEMPTS {
            let outcome = storage
                .update(&[&key, &moved], |read| {
                    let mut read = read.into_iter();
                    let (job, pointer) = (read.next().flatten(), read.next().flatten());
                    let pointed = pointer.as_ref().map(|p| {
                        let at = p.value.get("at").and_then(Value::as_u64);
                        (at.map(|at| job_key(at, id)), p.version)
                    });
                    Ok::<_, BotError>(match (job, pointed) {
                        (Some(job), pointed) => {
                            let mut ops =
                                vec![WriteOp::delete(&key, Precondition::IfMatch(job.version))];
                            if let Some((_, v)) = pointed {
                                ops.push(WriteOp::delete(&moved, Precondition::IfMatch(v)));
                            }
                            Update::Write(ops, Cancel::Done(true))
                        }
                        (None, None) => Update::Done(Cancel::Done(false)),
                        (None, Some((Some(at_key), _))) if at_key != key => {
                            Update::Done(Cancel::LookAt(at_key))
                        }
                        // A pointer to nowhere: the job is gone; remove the stale pointer.
                        (None, Some((_, v))) => Update::Write(
                            vec![WriteOp::delete(&moved, Precondition::IfMatch(v))],
                            Cancel::Done(false),
                        ),
                    })
                })
                .await?;
            match outcome {
                Cancel::Done(found) => return Ok(found),
                Cancel::LookAt(k) => key = k,
            }
        }
        Err(BotError::Conflict {
            attempts: UPDATE_ATTEMPTS,
        })
    }

    /// Every scheduled job, earliest first. A record that cannot be decoded fails the listing
    /// with [`BotError::CorruptState`]; once due, a tick reports it and moves it aside.
    pub async fn jobs(self) -> Result<Vec<Job>, BotError> {
        let storage = &self.bot.inner.storage;
        let mut jobs = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = storage
                .read_page(JOB_PREFIX, after.as_deref(), LIST_PAGE)
                .await?;
            for (key, s) in page {
                let job = decode(&key, s.value)
                    .map_err(|e| BotError::CorruptState(format!("{key}: {e}")))?;
                jobs.push(job);
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(jobs),
            }
        }
    }
}
