//! A tick: claims due jobs one at a time with a lease, runs each, and records the outcome
//! (done, moved later for a retry or a re-check, or dropped), as the module docs describe.

use super::*;
use crate::contracts::telemetry::{self, JobEnd};

impl JobOutcome {
    /// The `outcome` label of the job's metrics.
    fn end(&self) -> JobEnd {
        match self {
            Self::Done => JobEnd::Done,
            Self::Again { .. } => JobEnd::Again,
            Self::Skipped { .. } => JobEnd::Skipped,
            Self::Retrying { .. } => JobEnd::Retrying,
            Self::Dropped(_) => JobEnd::Dropped,
        }
    }
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
        BotError::Storage(_) | BotError::Conflict { .. } | BotError::Busy { .. } => Some(backoff),
        _ => None,
    }
}

impl Scheduler<'_> {
    /// Runs the jobs that are due now (by the bot's clock), one at a time and at most
    /// [`MAX_JOBS_PER_TICK`], and reports what happened to each. A tick with nothing due
    /// writes nothing. Jobs another process is running are passed over. A storage failure
    /// ends the tick with an error: what was done before it is recorded, and the job in hand
    /// keeps its lease and runs again once the lease expires.
    pub async fn tick(self) -> Result<Vec<JobReport>, BotError> {
        telemetry::scheduler_tick(self.run_due()).await
    }

    /// [`tick`](Self::tick) without its telemetry.
    async fn run_due(self) -> Result<Vec<JobReport>, BotError> {
        // Jobs that come due while the tick runs (retries included) wait for the next one.
        let due_by = self.bot.inner.clock().now_ms();
        let mut reports = Vec::new();
        let mut examined = 0;
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .bot
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
        let storage = &self.bot.inner.storage;
        let Some(stored) = storage.read(key).await? else {
            return Ok(None);
        };
        let mut job = match decode(key, stored.value.clone()) {
            Ok(job) => job,
            Err(reason) => return self.set_aside(key, stored, reason).await,
        };
        let now = self.bot.inner.clock().now_ms();
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
        telemetry::job_started(Duration::from_millis(late_ms));
        // A dialog job's completion is saved with the dialog's turn: a process that stops
        // after that turn cannot leave the job behind to begin the dialog a second time.
        let done = Self::done_ops(key, &job, leased);
        let result = tokio::time::timeout(RUN_TIMEOUT, self.run_job(&job, done))
            .await
            .unwrap_or_else(|_| {
                Err(BotError::Delivery(DeliveryError::Ambiguous(format!(
                    "the job did not finish within {RUN_TIMEOUT:?}"
                ))))
            });
        let now = self.bot.inner.clock().now_ms();
        let outcome = match result {
            Ok(Ran::Recorded) => {
                return Ok(Some(JobReport {
                    id: job.id.clone(),
                    attempt: job.attempts,
                    outcome: JobOutcome::Done,
                }));
            }
            Ok(Ran::Finished(None)) => JobOutcome::Done,
            Ok(Ran::Finished(Some(at))) => JobOutcome::Again {
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
        let outcome = match self.bot.inner.storage.write_many(ops).await {
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
        telemetry::job_ended(outcome.end());
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
            "found": self.bot.inner.clock().now_ms(),
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
        if let Err(e) = self.bot.inner.storage.write_many(ops).await {
            return match e {
                StorageError::Conflict { .. } => Ok(None),
                e => Err(e.into()),
            };
        }
        let error = BotError::CorruptState(format!("{key}: {reason} (moved to {aside})"));
        tracing::error!(error = %error, "corrupt scheduled job set aside");
        telemetry::job_ended(JobEnd::Dropped);
        Ok(Some(JobReport {
            id,
            attempt: 0,
            outcome: JobOutcome::Dropped(error),
        }))
    }

    /// The writes that record job `job` (leased at `version` under `key`) as done.
    fn done_ops(key: &str, job: &Job, version: Version) -> Vec<WriteOp> {
        let mut ops = vec![WriteOp::delete(key, Precondition::IfMatch(version))];
        if id_at(&job.id) != Some(job.at) {
            ops.push(WriteOp::delete(moved_key(&job.id), Precondition::Any));
        }
        ops
    }

    /// Runs one job; `done` are the writes that record it as done, for a turn to save with
    /// its own.
    async fn run_job(&self, job: &Job, done: Vec<WriteOp>) -> Result<Ran, BotError> {
        match &job.action {
            JobAction::Message { message } => {
                let mut m = message.clone();
                m.address = job.address.clone();
                let results = self.bot.send_all(vec![m]).await?;
                match results.into_iter().next() {
                    Some(Err(e)) => Err(BotError::Delivery(e)),
                    _ => Ok(Ran::Finished(None)),
                }
            }
            JobAction::Dialog { id, args, mode } => {
                let out = self
                    .bot
                    .begin_proactive(&job.address, id, args.clone(), mode.clone(), false, done)
                    .await?;
                // The dialog's state is saved: running it again would begin it twice.
                for e in out.deliveries.iter().filter_map(|d| d.as_ref().err()) {
                    tracing::warn!(job = %job.id, error = %e, "a scheduled dialog's message was not delivered");
                }
                Ok(Ran::Recorded)
            }
            JobAction::CheckHeld => {
                let message = Arc::new(turn::proactive_message(&job.address));
                let ran = turn::run(&self.bot.inner, message, Entry::CheckHeld).await?;
                Ok(Ran::Finished(ran.report.recheck_at))
            }
        }
    }
}

/// How a job's run ended, when it did not fail.
enum Ran {
    /// Its completion was saved with its turn.
    Recorded,
    /// It finished; `Some(at)`: it wants to run again then (held-dialog checks).
    Finished(Option<u64>),
}
