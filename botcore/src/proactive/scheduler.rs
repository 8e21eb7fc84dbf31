//! Timers and reminders that survive restarts.
//!
//! Jobs are stored in the bot's storage (one record, updated with compare-and-set), so they
//! survive a restart and several bot processes can share them: a job is claimed with a lease
//! before it runs, so it fires once. Something must call [`Bot::tick`] regularly (the
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

use crate::address::Address;
use crate::bot::Bot;
use crate::error::BotError;
use crate::message::Message;
use crate::proactive::ProactiveMode;
use crate::storage::{Precondition, StorageError, StorageExt};
use crate::turn::{self, Entry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const JOBS_KEY: &str = "schedule/jobs";
const LEASE_MS: u64 = 60_000;

/// What a job does when it comes due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
// Built once per job: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum JobAction {
    /// Send a message (ad hoc).
    Message {
        /// The message; its address is the job's.
        message: Message,
    },
    /// Begin a dialog.
    Dialog {
        /// The dialog id.
        id: String,
        /// Its arguments.
        #[serde(default)]
        args: Option<Value>,
        /// How to treat a busy user.
        mode: ProactiveMode,
    },
    /// Re-check dialogs held until the user is idle (scheduled by `WhenIdle`).
    CheckHeld,
}

/// A scheduled job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// When it is due (ms since the Unix epoch).
    pub at: u64,
    /// Whom it is for.
    pub address: Address,
    /// What it does.
    pub action: JobAction,
    /// Skip the job if it is found more than this late (e.g. after downtime); `None` runs it late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lateness_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<u64>,
}

/// What happened to a due job.
#[derive(Debug)]
pub struct JobReport {
    /// The job's id.
    pub id: String,
    /// The result (`Ok(false)` when it was skipped as too late).
    pub result: Result<bool, BotError>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Jobs {
    jobs: Vec<Job>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_id(now: u64) -> String {
    use std::hash::{BuildHasher, RandomState};
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let salt = RandomState::new().hash_one(n) & 0xffff_ffff;
    format!("job-{now:x}-{n:x}-{salt:08x}")
}

impl Bot {
    async fn update_jobs<T>(&self, mut f: impl FnMut(&mut Vec<Job>) -> T) -> Result<T, BotError> {
        for _ in 0..32 {
            let stored = self.inner.storage.read(JOBS_KEY).await?;
            let (mut jobs, pre) = match stored {
                Some(s) => {
                    let j: Jobs = serde_json::from_value(s.value)
                        .map_err(|e| BotError::CorruptState(format!("{JOBS_KEY}: {e}")))?;
                    (j.jobs, Precondition::IfMatch(s.version))
                }
                None => (Vec::new(), Precondition::IfAbsent),
            };
            let out = f(&mut jobs);
            let v = serde_json::to_value(Jobs { jobs }).map_err(BotError::dialog)?;
            match self.inner.storage.write(JOBS_KEY, v, pre).await {
                Ok(_) => return Ok(out),
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(BotError::Conflict { attempts: 32 })
    }

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
        let id = new_id(self.inner.clock.now_ms());
        let job = Job {
            id: id.clone(),
            at: at_ms,
            address: address.clone(),
            action,
            max_lateness_ms,
            lease_until: None,
        };
        self.update_jobs(|jobs| jobs.push(job.clone())).await?;
        Ok(id)
    }

    /// Cancels a job; `false` if there was none with that id.
    pub async fn cancel_scheduled(&self, id: &str) -> Result<bool, BotError> {
        self.update_jobs(|jobs| {
            let before = jobs.len();
            jobs.retain(|j| j.id != id);
            jobs.len() != before
        })
        .await
    }

    /// Every scheduled job, earliest first.
    pub async fn scheduled(&self) -> Result<Vec<Job>, BotError> {
        let stored = self.inner.storage.read(JOBS_KEY).await?;
        let mut jobs = match stored {
            Some(s) => serde_json::from_value::<Jobs>(s.value)
                .map(|j| j.jobs)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        jobs.sort_by_key(|j| j.at);
        Ok(jobs)
    }

    /// Runs every job that is due now (by the bot's clock) and returns what happened.
    pub async fn tick(&self) -> Result<Vec<JobReport>, BotError> {
        let now = self.inner.clock.now_ms();
        let is_due = |j: &Job| j.at <= now && j.lease_until.is_none_or(|l| l <= now);
        // A read first: most ticks find nothing due and write nothing.
        if !self.scheduled().await?.iter().any(is_due) {
            return Ok(Vec::new());
        }
        let due = self
            .update_jobs(|jobs| {
                let mut due = Vec::new();
                for j in jobs.iter_mut() {
                    if is_due(j) {
                        j.lease_until = Some(now + LEASE_MS);
                        due.push(j.clone());
                    }
                }
                due
            })
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut reports = Vec::with_capacity(due.len());
        let mut reschedule: Vec<(String, u64)> = Vec::new();
        for job in due {
            let late = now.saturating_sub(job.at);
            let result = if job.max_lateness_ms.is_some_and(|m| late > m) {
                Ok(false)
            } else {
                self.run_job(&job).await.map(|recheck| {
                    if let Some(at) = recheck {
                        reschedule.push((job.id.clone(), at));
                    }
                    true
                })
            };
            reports.push(JobReport { id: job.id, result });
        }
        let done: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
        self.update_jobs(|jobs| {
            jobs.retain_mut(|j| {
                if let Some((_, at)) = reschedule.iter().find(|(id, _)| *id == j.id) {
                    j.at = *at;
                    j.lease_until = None;
                    return true;
                }
                !done.contains(&j.id.as_str())
            })
        })
        .await?;
        Ok(reports)
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
            JobAction::Dialog { id, args, mode } => self
                .begin_dialog(&job.address, id, args.clone(), mode.clone())
                .await
                .map(|_| None),
            JobAction::CheckHeld => {
                let message = Arc::new(turn::proactive_message(&job.address));
                let ran = turn::run_full(&self.inner, message, Entry::CheckHeld).await?;
                Ok(ran.report.recheck_at)
            }
        }
    }
}
