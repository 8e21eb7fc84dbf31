//! The scheduler's and fan-out's span and metrics: `scheduler_tick`, `fan_out`,
//! `botcore_scheduler_*` and `botcore_fanout_*`.

use super::{
    FANOUT_ACTIVE, FANOUT_RECIPIENTS_TOTAL, FANOUT_RUNS_TOTAL, SCHEDULER_DUE_JOBS,
    SCHEDULER_JOBS_TOTAL, SCHEDULER_LAG_SECONDS, SCHEDULER_TICKS_TOTAL, count, gauge, observe,
};
use crate::contracts::error::BotError;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;
use tracing::field::{Empty, display};

/// Runs one scheduler tick in a `scheduler_tick` span and counts it.
pub(crate) async fn scheduler_tick<T>(
    tick: impl Future<Output = Result<Vec<T>, BotError>>,
) -> Result<Vec<T>, BotError> {
    let span = tracing::debug_span!("scheduler_tick", jobs = Empty, error = Empty);
    // Boxed (once a tick) so that the turns a tick runs do not sit deeper on the stack.
    let result = Box::pin(tick).instrument(span.clone()).await;
    match &result {
        Ok(jobs) => {
            count(key!(SCHEDULER_TICKS_TOTAL, "outcome" => "ok"), 1);
            gauge(key!(SCHEDULER_DUE_JOBS), |g| g.set(jobs.len() as f64));
            span.record("jobs", jobs.len());
        }
        Err(e) => {
            count(key!(SCHEDULER_TICKS_TOTAL, "outcome" => "error"), 1);
            span.record("error", display(e));
        }
    }
    result
}

/// What a tick did with a due job (the `JobOutcome` variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobEnd {
    Done,
    Again,
    Skipped,
    Retrying,
    Dropped,
}

/// A due job starts, `late` after its due time.
pub(crate) fn job_started(late: Duration) {
    observe(key!(SCHEDULER_LAG_SECONDS), late);
}

/// A tick recorded what it did with a due job.
pub(crate) fn job_ended(end: JobEnd) {
    count(
        match end {
            JobEnd::Done => key!(SCHEDULER_JOBS_TOTAL, "outcome" => "done"),
            JobEnd::Again => key!(SCHEDULER_JOBS_TOTAL, "outcome" => "again"),
            JobEnd::Skipped => key!(SCHEDULER_JOBS_TOTAL, "outcome" => "skipped"),
            JobEnd::Retrying => key!(SCHEDULER_JOBS_TOTAL, "outcome" => "retrying"),
            JobEnd::Dropped => key!(SCHEDULER_JOBS_TOTAL, "outcome" => "dropped"),
        },
        1,
    );
}

/// What a fan-out did for one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recipient {
    Done,
    Failed,
    Skipped,
}

/// A fan-out recipient's action returned.
pub(crate) fn fan_out_recipient(ok: bool) {
    count(
        match ok {
            true => key!(FANOUT_RECIPIENTS_TOTAL, "outcome" => "done"),
            false => key!(FANOUT_RECIPIENTS_TOTAL, "outcome" => "failed"),
        },
        1,
    );
}

/// Runs one fan-out in a `fan_out` span; `of` tells what it did for each recipient.
pub(crate) async fn fan_out<T>(
    job: Option<&str>,
    recipients: usize,
    run: impl Future<Output = Vec<T>>,
    of: impl Fn(&T) -> Recipient,
) -> Vec<T> {
    let span = tracing::info_span!(
        "fan_out",
        job,
        recipients,
        done = Empty,
        failed = Empty,
        skipped = Empty,
    );
    count(key!(FANOUT_RUNS_TOTAL), 1);
    let _active = Active::start();
    let results = run.instrument(span.clone()).await;
    let (mut done, mut failed, mut skipped) = (0, 0, 0);
    for r in &results {
        match of(r) {
            Recipient::Done => done += 1,
            Recipient::Failed => failed += 1,
            Recipient::Skipped => skipped += 1,
        }
    }
    if skipped > 0 {
        count(
            key!(FANOUT_RECIPIENTS_TOTAL, "outcome" => "skipped"),
            skipped,
        );
    }
    span.record("done", done);
    span.record("failed", failed);
    span.record("skipped", skipped);
    results
}

/// Counts a fan-out in `botcore_fanout_active` while it runs (and until it is dropped).
struct Active;

impl Active {
    fn start() -> Self {
        gauge(key!(FANOUT_ACTIVE), |g| g.increment(1.0));
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        gauge(key!(FANOUT_ACTIVE), |g| g.decrement(1.0));
    }
}
