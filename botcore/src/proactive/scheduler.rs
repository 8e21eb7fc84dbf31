//! Timers and reminders that survive restarts.
//!
//! Jobs are stored in the bot's storage, one record per job, so they survive a restart and
//! several bot processes can share them. Something must call [`Bot::tick`] regularly (the
//! transports and examples do it once a second; tests call it after moving a
//! [`ManualClock`](crate::ManualClock)).
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
//! use botcore::proactive::scheduler::JobAction;
//! use botcore::Message;
//! let at = bot.clock().now_ms() + 60_000;
//! let reminder = Message::to(&saved).text("Time for the stand-up!");
//! let id = bot.schedule(at, &saved, JobAction::Message { message: reminder }).await?;
//! // ... later, maybe in another process:
//! bot.cancel_scheduled(&id).await?;
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
//!   and delete the job, so [`Bot::cancel_scheduled`] never scans.
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

use crate::contracts::address::Address;
use crate::contracts::connector::DeliveryError;
use crate::contracts::error::BotError;
use crate::contracts::storage::{Precondition, StorageError, StorageExt, Stored, Version, WriteOp};
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
/// The most jobs one [`Bot::tick`] handles; the rest wait for the next tick.
pub const MAX_JOBS_PER_TICK: usize = 32;
/// The most due keys one tick looks at (jobs leased by other processes are passed over).
const MAX_KEYS_PER_TICK: usize = 4 * MAX_JOBS_PER_TICK;
/// Keys listed per page by a tick (the first page alone tells whether anything is due).
const TICK_PAGE: usize = 16;
/// Keys listed per page by [`Bot::scheduled`].
const LIST_PAGE: usize = 100;
/// The first retry waits this long; each further one twice as long as the one before.
const RETRY_BASE_MS: u64 = 15_000;
const RETRY_MAX_MS: u64 = 3_600_000;
/// The shortest wait after a throttle, whatever `Retry-After` said.
const RETRY_MIN_MS: u64 = 1_000;
const CAS_TRIES: usize = 8;

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

/// How long to wait before retrying after `error` on start number `attempt`; `None` when a
/// retry is not safe.
fn retry_delay(error: &BotError, attempt: u32, action: &JobAction) -> Option<u64> {
    let backoff = RETRY_BASE_MS
        .saturating_mul(2u64.saturating_pow(attempt.saturating_sub(1)))
        .min(RETRY_MAX_MS);
    match error {
        BotError::Delivery(DeliveryError::Throttled {
            retry_after: Some(d),
        }) => Some(
            u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .max(RETRY_MIN_MS),
        ),
        BotError::Delivery(e) if e.is_retry_safe() => Some(backoff),
        // A dialog's turn may have been saved even though the storage answered `Unavailable`
        // (the contract allows it): beginning it again could stack the dialog twice.
        BotError::Storage(StorageError::Unavailable(_))
            if matches!(action, JobAction::Dialog { .. }) =>
        {
            None
        }
        BotError::Storage(_) | BotError::Conflict { .. } => Some(backoff),
        _ => None,
    }
}

impl Bot {
    /// Schedules `action` for `address` at `at_ms`; returns the job id.
    pub async fn schedule(
        &self,
        at_ms: u64,
        address: &Address,
        action: JobAction,
    ) -> Result<String, BotError> {
        self.schedule_job(at_ms, address, action, None).await
    }

    /// Schedules with a catch-up policy: skipped if found more than `max_lateness_ms` late.
    pub async fn schedule_job(
        &self,
        at_ms: u64,
        address: &Address,
        action: JobAction,
        max_lateness_ms: Option<u64>,
    ) -> Result<String, BotError> {
        // Each job has a key of its own: a conflict means two random ids collided.
        for _ in 0..CAS_TRIES {
            let now = self.inner.clock().now_ms();
            let (id, op) = job_write_op(now, at_ms, address, action.clone(), max_lateness_ms)?;
            match self.inner.storage.write_many(vec![op]).await {
                Ok(_) => return Ok(id),
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(BotError::Conflict {
            attempts: CAS_TRIES,
        })
    }

    /// Cancels a job; `false` if there was none with that id (unknown, done or dropped). A run
    /// already under way is not stopped, but a job cancelled during its run is not retried.
    pub async fn cancel_scheduled(&self, id: &str) -> Result<bool, BotError> {
        let Some(first_at) = id_at(id) else {
            return Ok(false);
        };
        let storage = &self.inner.storage;
        let (home, moved) = (job_key(first_at, id), moved_key(id));
        for _ in 0..CAS_TRIES {
            let mut read = storage.read_many(&[&home, &moved]).await?.into_iter();
            let (at_home, pointer) = (read.next().flatten(), read.next().flatten());
            let mut ops = Vec::with_capacity(2);
            let target = match (at_home, pointer) {
                (Some(job), _) => Some((home.clone(), job.version)),
                (None, None) => return Ok(false),
                (None, Some(p)) => {
                    ops.push(WriteOp::delete(&moved, Precondition::IfMatch(p.version)));
                    // Nothing there: moved again meanwhile (the pointer changed, so the batch
                    // conflicts and we look again), or a stale pointer (removed).
                    match p.value.get("at").and_then(Value::as_u64) {
                        Some(at) => {
                            let key = job_key(at, id);
                            storage.read(&key).await?.map(|s| (key, s.version))
                        }
                        None => None,
                    }
                }
            };
            let found = target.is_some();
            ops.extend(target.map(|(k, v)| WriteOp::delete(k, Precondition::IfMatch(v))));
            match storage.write_many(ops).await {
                Ok(_) => return Ok(found),
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(BotError::Conflict {
            attempts: CAS_TRIES,
        })
    }

    /// Every scheduled job, earliest first. A record that cannot be decoded fails the listing
    /// with [`BotError::CorruptState`]; once due, a tick reports it and moves it aside.
    pub async fn scheduled(&self) -> Result<Vec<Job>, BotError> {
        let storage = &self.inner.storage;
        let mut jobs = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = storage
                .list_keys(JOB_PREFIX, after.as_deref(), LIST_PAGE)
                .await?;
            if keys.is_empty() {
                return Ok(jobs);
            }
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            for (key, stored) in keys.iter().zip(storage.read_many(&refs).await?) {
                // A job finished between the listing and the read is simply gone.
                if let Some(s) = stored {
                    let job = decode(key, s.value)
                        .map_err(|e| BotError::CorruptState(format!("{key}: {e}")))?;
                    jobs.push(job);
                }
            }
            if keys.len() < LIST_PAGE {
                return Ok(jobs);
            }
            after = keys.last().cloned();
        }
    }

    /// Runs the jobs that are due now (by the bot's clock), one at a time and at most
    /// [`MAX_JOBS_PER_TICK`], and reports what happened to each. A tick with nothing due
    /// writes nothing. Jobs another process is running are passed over. A storage failure
    /// ends the tick with an error: what was done before it is recorded, and the job in hand
    /// keeps its lease and runs again once the lease expires.
    pub async fn tick(&self) -> Result<Vec<JobReport>, BotError> {
        // Jobs that come due while the tick runs (retries included) wait for the next one.
        let due_by = self.inner.clock().now_ms();
        let mut reports = Vec::new();
        let mut examined = 0;
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .inner
                .storage
                .list_keys(JOB_PREFIX, after.as_deref(), TICK_PAGE)
                .await?;
            for key in &keys {
                if parse_key(key).is_some_and(|(at, _)| at > due_by) {
                    return Ok(reports);
                }
                if let Some(report) = self.take_job(key).await? {
                    reports.push(report);
                }
                examined += 1;
                if reports.len() >= MAX_JOBS_PER_TICK || examined >= MAX_KEYS_PER_TICK {
                    return Ok(reports);
                }
            }
            if keys.len() < TICK_PAGE {
                return Ok(reports);
            }
            after = keys.last().cloned();
        }
    }

    /// Claims, runs and records the job under `key`; `None` if another process has it.
    async fn take_job(&self, key: &str) -> Result<Option<JobReport>, BotError> {
        let storage = &self.inner.storage;
        let Some(stored) = storage.read(key).await? else {
            return Ok(None);
        };
        let mut job = match decode(key, stored.value.clone()) {
            Ok(job) => job,
            Err(reason) => return self.set_aside(key, stored, reason).await,
        };
        let now = self.inner.clock().now_ms();
        if job.lease_until.is_some_and(|l| l > now) {
            return Ok(None);
        }
        let late_ms = now.saturating_sub(job.at);
        if job.max_lateness_ms.is_some_and(|m| late_ms > m) {
            let outcome = JobOutcome::Skipped { late_ms };
            return self.record(key, &job, stored.version, outcome, false).await;
        }
        if job.attempts >= job.max_attempts {
            // Every start so far ended without its outcome being recorded (crashes).
            let error = BotError::dialog(format!(
                "job {} was started {} times without finishing",
                job.id, job.attempts
            ));
            let outcome = JobOutcome::Dropped(error);
            return self.record(key, &job, stored.version, outcome, false).await;
        }
        job.attempts = job.attempts.saturating_add(1);
        job.lease_until = Some(now.saturating_add(LEASE_MS));
        let leased = match storage
            .write(key, encode(&job)?, Precondition::IfMatch(stored.version))
            .await
        {
            Ok(v) => v,
            Err(StorageError::Conflict { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let result = tokio::time::timeout(RUN_TIMEOUT, self.run_job(&job))
            .await
            .unwrap_or_else(|_| {
                Err(BotError::Delivery(DeliveryError::Ambiguous(format!(
                    "the job did not finish within {RUN_TIMEOUT:?}"
                ))))
            });
        let now = self.inner.clock().now_ms();
        let outcome = match result {
            Ok(None) => JobOutcome::Done,
            Ok(Some(at)) => JobOutcome::Again {
                at: at.max(now.saturating_add(1)),
            },
            Err(error) => match retry_delay(&error, job.attempts, &job.action) {
                Some(delay) if job.attempts < job.max_attempts => JobOutcome::Retrying {
                    at: now.saturating_add(delay),
                    error,
                },
                _ => JobOutcome::Dropped(error),
            },
        };
        self.record(key, &job, leased, outcome, true).await
    }

    /// Removes the job under `key` (version `version`) or moves it to its next run, as
    /// `outcome` says, in one batch; `None` if the job changed meanwhile and was not `ran`.
    async fn record(
        &self,
        key: &str,
        job: &Job,
        version: Version,
        outcome: JobOutcome,
        ran: bool,
    ) -> Result<Option<JobReport>, BotError> {
        let mut ops = vec![WriteOp::delete(key, Precondition::IfMatch(version))];
        if let JobOutcome::Again { at } | JobOutcome::Retrying { at, .. } = outcome {
            let mut next = job.clone();
            next.at = at;
            next.lease_until = None;
            if matches!(outcome, JobOutcome::Again { .. }) {
                next.attempts = 0; // a re-check is not a failure
            }
            let put = WriteOp::put(job_key(at, &job.id), encode(&next)?, Precondition::IfAbsent);
            let pointer = WriteOp::put(moved_key(&job.id), json!({ "at": at }), Precondition::Any);
            ops.extend([put, pointer]);
        } else if id_at(&job.id) != Some(job.at) {
            ops.push(WriteOp::delete(moved_key(&job.id), Precondition::Any));
        }
        let attempt = if ran { job.attempts } else { 0 };
        let outcome = match self.inner.storage.write_many(ops).await {
            Ok(_) => outcome,
            Err(StorageError::Conflict { .. }) if !ran => return Ok(None),
            // Cancelled while it ran, or the lease ran out and another process took it over:
            // the record is theirs now.
            Err(StorageError::Conflict { .. }) => {
                tracing::warn!(job = %job.id, "the job changed while it ran; not rescheduled");
                match outcome {
                    JobOutcome::Retrying { error, .. } => JobOutcome::Dropped(error),
                    JobOutcome::Again { .. } => JobOutcome::Done,
                    other => other,
                }
            }
            Err(e) => return Err(e.into()),
        };
        if let JobOutcome::Dropped(e) | JobOutcome::Retrying { error: e, .. } = &outcome {
            tracing::warn!(job = %job.id, attempt, error = %e, "scheduled job failed");
        }
        Ok(Some(JobReport {
            id: job.id.clone(),
            attempt,
            outcome,
        }))
    }

    /// Moves an undecodable record to `job-corrupt/` and reports it.
    async fn set_aside(
        &self,
        key: &str,
        stored: Stored,
        reason: String,
    ) -> Result<Option<JobReport>, BotError> {
        let rest = key.strip_prefix(JOB_PREFIX).unwrap_or(key);
        let aside = format!("{CORRUPT_PREFIX}{rest}");
        let id = rest.rsplit_once('/').map_or(rest, |(_, id)| id).to_owned();
        let record = json!({
            "key": key,
            "error": reason,
            "found": self.inner.clock().now_ms(),
            "value": stored.value,
        });
        let mut ops = vec![
            WriteOp::put(&aside, record, Precondition::Any),
            WriteOp::delete(key, Precondition::IfMatch(stored.version)),
        ];
        if let Some((at, _)) = parse_key(key)
            && id_at(&id) != Some(at)
        {
            ops.push(WriteOp::delete(moved_key(&id), Precondition::Any));
        }
        if let Err(e) = self.inner.storage.write_many(ops).await {
            return match e {
                StorageError::Conflict { .. } => Ok(None),
                e => Err(e.into()),
            };
        }
        let error = BotError::CorruptState(format!("{key}: {reason} (moved to {aside})"));
        tracing::error!(error = %error, "corrupt scheduled job set aside");
        Ok(Some(JobReport {
            id,
            attempt: 0,
            outcome: JobOutcome::Dropped(error),
        }))
    }

    /// Runs one job; returns when it wants to run again (held-dialog checks).
    async fn run_job(&self, job: &Job) -> Result<Option<u64>, BotError> {
        match &job.action {
            JobAction::Message { message } => {
                let mut m = message.clone();
                m.address = job.address.clone();
                let results = self.send(vec![m]).await?;
                match results.into_iter().next() {
                    Some(Err(e)) => Err(BotError::Delivery(e)),
                    _ => Ok(None),
                }
            }
            JobAction::Dialog { id, args, mode } => {
                let out = self
                    .begin_dialog(&job.address, id, args.clone(), mode.clone())
                    .await?;
                // The dialog's state is saved: running it again would begin it twice.
                for e in out.deliveries.iter().filter_map(|d| d.as_ref().err()) {
                    tracing::warn!(job = %job.id, error = %e, "a scheduled dialog's message was not delivered");
                }
                Ok(None)
            }
            JobAction::CheckHeld => {
                let message = Arc::new(turn::proactive_message(&job.address));
                let ran = turn::run_full(&self.inner, message, Entry::CheckHeld).await?;
                Ok(ran.report.recheck_at)
            }
        }
    }
}
