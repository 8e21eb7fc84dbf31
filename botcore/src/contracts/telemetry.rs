//! Telemetry: the [`tracing`] spans and the [`metrics`] botcore records.
//!
//! Both go through facades: nothing is collected until the application installs a `tracing`
//! subscriber or a `metrics` recorder (say `metrics-exporter-prometheus`, as the examples'
//! bench bot and demo do at `GET /metrics`). Without them a span is a disabled handle and a
//! metric a no-op: the keys are built at compile time, so recording allocates nothing.
//! [`describe`] gives the installed recorder the unit and help text of every metric.
//!
//! **Install the recorder before building the bot.** The metrics of turns and deliveries,
//! recorded for every message, are registered once with the recorder in force when
//! [`BotBuilder::build`](crate::BotBuilder::build) runs (so their series show from the start,
//! at zero); the others are looked up in the recorder in force when they are recorded.
//!
//! # Metrics
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `botcore_turns_total` | counter | `kind`, `outcome` | turns run |
//! | `botcore_turn_duration_seconds` | histogram | `kind` | a turn from its lock to its last delivery |
//! | `botcore_turn_conflicts_total` | counter | `kind` | compare-and-set conflicts met by turns; each threw an attempt away, and all but the last of a turn that gave up (`outcome="conflict"`) ran it again |
//! | `botcore_deliveries_total` | counter | `outcome` | connector sends (a turn's messages, ad hoc sends) |
//! | `botcore_rate_limit_throttled_total` | counter | — | `429` answers a [`RateLimited`](crate::RateLimited) connector got from the channel |
//! | `botcore_rate_limit_pause_seconds` | histogram | — | the pauses those `429`s set (`Retry-After`, or the backoff) |
//! | `botcore_rate_limit_wait_seconds` | histogram | — | each wait of a send for a token or for a pause to end |
//! | `botcore_rate_limit_refused_total` | counter | — | sends failed at once because their wait would exceed `max_wait` |
//! | `botcore_scheduler_ticks_total` | counter | `outcome` (`ok`, `error`) | scheduler ticks |
//! | `botcore_scheduler_due_jobs` | gauge | — | jobs the last tick found due and handled (at most `MAX_JOBS_PER_TICK`) |
//! | `botcore_scheduler_jobs_total` | counter | `outcome` | due jobs handled |
//! | `botcore_scheduler_lag_seconds` | histogram | — | how late each job started after its due time |
//! | `botcore_fanout_runs_total` | counter | — | fan-outs started |
//! | `botcore_fanout_active` | gauge | — | fan-outs running |
//! | `botcore_fanout_recipients_total` | counter | `outcome` | fan-out recipients, counted as each one's action returns |
//!
//! Label values:
//! - turn `kind`: `user` (a user's activity), `proactive` (a proactive dialog, including
//!   scheduled and fan-out ones), `scheduled` (the scheduler's re-check of dialogs held until
//!   the user is idle), `custom` (a custom flow over a session);
//! - turn `outcome`: `ok`; `reset` (a user's turn failed and the reset of its conversation was
//!   saved); `failed` (a proactive dialog or flow failed: nothing saved); `conflict`
//!   (compare-and-set conflicts on every attempt); `busy` (a proactive turn waited too long
//!   for the conversation); `storage` (a storage error: nothing saved); `error` (anything else:
//!   a bad address, a user who never wrote, a re-entrant turn);
//! - delivery `outcome`: `ok`, or the [`DeliveryError`](crate::DeliveryError) kind: `throttled`, `unreachable`,
//!   `ambiguous`, `permanent`, `not_allowed`, `unsupported`, `skipped`, `auth`;
//! - scheduler job `outcome`: `done`, `again`, `skipped`, `retrying`, `dropped` (the
//!   `JobOutcome` variants);
//! - fan-out recipient `outcome`: `done`, `failed` (the action ran and failed), `skipped` (a
//!   resumable run found the recipient handled by an earlier run).
//!
//! # Spans
//!
//! | span | level | fields |
//! | --- | --- | --- |
//! | `turn` | info | `conversation`, `kind`, then `attempts`, `outcome`, `latency_ms` when it returns |
//! | `delivery` | debug | `conversation`, then `ok`, `outcome`, `status` (a refusal's HTTP status), `retries` (sends repeated after `429`s), `error` |
//! | `scheduler_tick` | debug | then `jobs` (handled), `error` |
//! | `fan_out` | info | `job` (resumable runs), `recipients`, then `done`, `failed`, `skipped` |
//!
//! A turn's deliveries are inside its `turn` span, and so are the events logged while it runs.

use metrics::{Key, Metadata, Unit};
use std::time::Duration;
use tracing::Span;

/// Counter: turns run, by `kind` and `outcome`.
pub const TURNS_TOTAL: &str = "botcore_turns_total";
/// Histogram (seconds): a turn from taking its conversation's lock to its last delivery, by `kind`.
pub const TURN_DURATION_SECONDS: &str = "botcore_turn_duration_seconds";
/// Counter: compare-and-set conflicts met by turns, by `kind`.
pub const TURN_CONFLICTS_TOTAL: &str = "botcore_turn_conflicts_total";
/// Counter: connector sends, by `outcome`.
pub const DELIVERIES_TOTAL: &str = "botcore_deliveries_total";
/// Counter: `429` answers a rate-limited connector got from the channel.
pub const RATE_LIMIT_THROTTLED_TOTAL: &str = "botcore_rate_limit_throttled_total";
/// Histogram (seconds): the pauses set after `429` answers.
pub const RATE_LIMIT_PAUSE_SECONDS: &str = "botcore_rate_limit_pause_seconds";
/// Histogram (seconds): each wait of a send for a token or for a pause to end.
pub const RATE_LIMIT_WAIT_SECONDS: &str = "botcore_rate_limit_wait_seconds";
/// Counter: sends failed at once because their wait would exceed `max_wait`.
pub const RATE_LIMIT_REFUSED_TOTAL: &str = "botcore_rate_limit_refused_total";
/// Counter: scheduler ticks, by `outcome` (`ok`, `error`).
pub const SCHEDULER_TICKS_TOTAL: &str = "botcore_scheduler_ticks_total";
/// Gauge: jobs the last scheduler tick found due and handled.
pub const SCHEDULER_DUE_JOBS: &str = "botcore_scheduler_due_jobs";
/// Counter: due jobs handled, by `outcome`.
pub const SCHEDULER_JOBS_TOTAL: &str = "botcore_scheduler_jobs_total";
/// Histogram (seconds): how late each job started after its due time.
pub const SCHEDULER_LAG_SECONDS: &str = "botcore_scheduler_lag_seconds";
/// Counter: fan-outs started.
pub const FANOUT_RUNS_TOTAL: &str = "botcore_fanout_runs_total";
/// Gauge: fan-outs running.
pub const FANOUT_ACTIVE: &str = "botcore_fanout_active";
/// Counter: fan-out recipients, by `outcome`.
pub const FANOUT_RECIPIENTS_TOTAL: &str = "botcore_fanout_recipients_total";

/// Gives the installed recorder the unit and help text of every botcore metric (call it once,
/// after installing the recorder; without one it does nothing).
pub fn describe() {
    use metrics::{Unit::Count, describe_histogram as histogram};
    use metrics::{describe_counter as counter, describe_gauge as gauge};
    counter!(TURNS_TOTAL, Count, "Turns run, by kind and outcome");
    histogram!(
        TURN_DURATION_SECONDS,
        Unit::Seconds,
        "Turn latency, lock to last delivery"
    );
    counter!(
        TURN_CONFLICTS_TOTAL,
        Count,
        "Compare-and-set conflicts met by turns"
    );
    counter!(DELIVERIES_TOTAL, Count, "Connector sends, by outcome");
    counter!(
        RATE_LIMIT_THROTTLED_TOTAL,
        Count,
        "429 answers from the channel"
    );
    histogram!(
        RATE_LIMIT_PAUSE_SECONDS,
        Unit::Seconds,
        "Pauses set after 429 answers"
    );
    histogram!(
        RATE_LIMIT_WAIT_SECONDS,
        Unit::Seconds,
        "Waits of sends for a token or a pause"
    );
    counter!(
        RATE_LIMIT_REFUSED_TOTAL,
        Count,
        "Sends refused: the wait would exceed max_wait"
    );
    counter!(SCHEDULER_TICKS_TOTAL, Count, "Scheduler ticks, by outcome");
    gauge!(
        SCHEDULER_DUE_JOBS,
        Count,
        "Jobs the last tick found due and handled"
    );
    counter!(SCHEDULER_JOBS_TOTAL, Count, "Due jobs handled, by outcome");
    histogram!(
        SCHEDULER_LAG_SECONDS,
        Unit::Seconds,
        "How late jobs started after their due time"
    );
    counter!(FANOUT_RUNS_TOTAL, Count, "Fan-outs started");
    gauge!(FANOUT_ACTIVE, Count, "Fan-outs running");
    counter!(
        FANOUT_RECIPIENTS_TOTAL,
        Count,
        "Fan-out recipients, by outcome"
    );
}

/// A `&'static Key` with literal labels, built at compile time (hashed once, never allocated).
macro_rules! key {
    ($name:expr) => {{
        static KEY: ::metrics::Key = ::metrics::Key::from_static_name($name);
        &KEY
    }};
    ($name:expr, $($k:literal => $v:literal),+ $(,)?) => {{
        static LABELS: [::metrics::Label; <[&str]>::len(&[$($k),+])] =
            [$(::metrics::Label::from_static_parts($k, $v)),+];
        static KEY: ::metrics::Key = ::metrics::Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn count(key: &'static Key, n: u64) {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA).increment(n));
}

fn observe(key: &'static Key, value: Duration) {
    let seconds = value.as_secs_f64();
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA).record(seconds));
}

fn gauge(key: &'static Key, change: impl FnOnce(metrics::Gauge)) {
    metrics::with_recorder(|r| change(r.register_gauge(key, &METADATA)));
}

mod proactive;
mod turn;

pub(crate) use proactive::{
    JobEnd, Recipient, fan_out, fan_out_recipient, job_ended, job_started, scheduler_tick,
};
pub(crate) use turn::{BotMetrics, Turn, TurnKind, delivery};

/// A `429` from the channel that paused sends for `pause`.
pub(crate) fn channel_throttled(pause: Duration) {
    count(key!(RATE_LIMIT_THROTTLED_TOTAL), 1);
    observe(key!(RATE_LIMIT_PAUSE_SECONDS), pause);
}

/// A send answered `429` is tried again, for the `retries`-th time.
pub(crate) fn send_retried(retries: u32) {
    Span::current().record("retries", retries);
}

/// A send waits `wait` for a token or for a pause to end.
pub(crate) fn rate_limit_wait(wait: Duration) {
    observe(key!(RATE_LIMIT_WAIT_SECONDS), wait);
}

/// A send refused at once: its wait would exceed `max_wait`.
pub(crate) fn rate_limit_refused() {
    count(key!(RATE_LIMIT_REFUSED_TOTAL), 1);
}
