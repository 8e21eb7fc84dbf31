//! What every turn records: the `turn` and `delivery` spans, `botcore_turns_total`,
//! `botcore_turn_duration_seconds`, `botcore_turn_conflicts_total` and
//! `botcore_deliveries_total`.
//!
//! These are on the path of every message, so their handles are registered once, when the
//! bot is built ([`BotMetrics`]): recording one is then an atomic add (or a no-op without a
//! recorder), with no registry lookup.

use super::{DELIVERIES_TOTAL, METADATA, TURN_CONFLICTS_TOTAL, TURN_DURATION_SECONDS, TURNS_TOTAL};
use crate::contracts::connector::DeliveryError;
use crate::contracts::error::BotError;
use crate::contracts::storage::StorageError;
use metrics::{Counter, Histogram, Key};
use std::future::Future;
use std::time::Instant;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

/// How a turn started: the `kind` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TurnKind {
    /// A user's activity.
    User,
    /// A proactive dialog.
    Proactive,
    /// The scheduler's re-check of dialogs held until the user is idle.
    Scheduled,
    /// A custom flow over a session.
    Custom,
}

impl TurnKind {
    const ALL: [Self; 4] = [Self::User, Self::Proactive, Self::Scheduled, Self::Custom];

    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Proactive => "proactive",
            Self::Scheduled => "scheduled",
            Self::Custom => "custom",
        }
    }
}

/// How a turn ended: the `outcome` label (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Ok,
    Reset,
    Failed,
    Conflict,
    Busy,
    Storage,
    Error,
}

impl End {
    const ALL: [Self; 7] = [
        Self::Ok,
        Self::Reset,
        Self::Failed,
        Self::Conflict,
        Self::Busy,
        Self::Storage,
        Self::Error,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Reset => "reset",
            Self::Failed => "failed",
            Self::Conflict => "conflict",
            Self::Busy => "busy",
            Self::Storage => "storage",
            Self::Error => "error",
        }
    }

    /// The outcome of a failed turn of `kind`.
    fn of_failure(kind: TurnKind, e: &BotError) -> Self {
        match e {
            BotError::Conflict { .. } => Self::Conflict,
            BotError::Busy { .. } => Self::Busy,
            // A user's turn whose records are too large saves the reset instead.
            BotError::Storage(StorageError::TooLarge { .. }) if kind == TurnKind::User => {
                Self::Reset
            }
            BotError::Storage(_) => Self::Storage,
            e if e.resets_conversation() => match kind {
                TurnKind::User => Self::Reset,
                _ => Self::Failed,
            },
            _ => Self::Error,
        }
    }
}

/// `botcore_turns_total{kind, outcome}` for every outcome of one kind.
macro_rules! turns_key {
    ($kind:literal, $end:expr) => {
        match $end {
            End::Ok => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "ok"),
            End::Reset => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "reset"),
            End::Failed => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "failed"),
            End::Conflict => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "conflict"),
            End::Busy => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "busy"),
            End::Storage => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "storage"),
            End::Error => key!(TURNS_TOTAL, "kind" => $kind, "outcome" => "error"),
        }
    };
}

/// The metrics of one kind of turn.
#[derive(Debug)]
struct KindMetrics {
    turns: [Counter; End::ALL.len()],
    duration: Histogram,
    conflicts: Counter,
}

macro_rules! kind_metrics {
    ($kind:literal) => {
        KindMetrics {
            turns: End::ALL.map(|end| counter(turns_key!($kind, end))),
            duration: histogram(key!(TURN_DURATION_SECONDS, "kind" => $kind)),
            conflicts: counter(key!(TURN_CONFLICTS_TOTAL, "kind" => $kind)),
        }
    };
}

/// How a send ended: the `outcome` label of `botcore_deliveries_total`.
fn delivery_outcome<T>(result: &Result<T, DeliveryError>) -> (usize, &'static str) {
    use DeliveryError::*;
    match result {
        Ok(_) => (0, "ok"),
        Err(Throttled { .. }) => (1, "throttled"),
        Err(Unreachable(_)) => (2, "unreachable"),
        Err(Ambiguous(_)) => (3, "ambiguous"),
        Err(Permanent { .. }) => (4, "permanent"),
        Err(ServiceUrlNotAllowed(_)) => (5, "not_allowed"),
        Err(Unsupported(_)) => (6, "unsupported"),
        Err(Skipped) => (7, "skipped"),
        Err(Auth(_)) => (8, "auth"),
    }
}

/// The keys of `botcore_deliveries_total`, in the order of [`delivery_outcome`].
fn delivery_keys() -> [&'static Key; 9] {
    [
        key!(DELIVERIES_TOTAL, "outcome" => "ok"),
        key!(DELIVERIES_TOTAL, "outcome" => "throttled"),
        key!(DELIVERIES_TOTAL, "outcome" => "unreachable"),
        key!(DELIVERIES_TOTAL, "outcome" => "ambiguous"),
        key!(DELIVERIES_TOTAL, "outcome" => "permanent"),
        key!(DELIVERIES_TOTAL, "outcome" => "not_allowed"),
        key!(DELIVERIES_TOTAL, "outcome" => "unsupported"),
        key!(DELIVERIES_TOTAL, "outcome" => "skipped"),
        key!(DELIVERIES_TOTAL, "outcome" => "auth"),
    ]
}

fn counter(key: &'static Key) -> Counter {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA))
}

fn histogram(key: &'static Key) -> Histogram {
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA))
}

/// One bot's handles of the metrics every turn records, registered with the recorder in
/// force when the bot is built (each series then shows from the start, at zero).
#[derive(Debug)]
pub(crate) struct BotMetrics {
    kinds: [KindMetrics; TurnKind::ALL.len()],
    deliveries: [Counter; 9],
}

impl BotMetrics {
    /// Registers every series with the current recorder.
    pub(crate) fn register() -> Self {
        Self {
            kinds: TurnKind::ALL.map(|kind| match kind {
                TurnKind::User => kind_metrics!("user"),
                TurnKind::Proactive => kind_metrics!("proactive"),
                TurnKind::Scheduled => kind_metrics!("scheduled"),
                TurnKind::Custom => kind_metrics!("custom"),
            }),
            deliveries: delivery_keys().map(counter),
        }
    }
}

/// One turn's telemetry: its span, from before it takes its conversation's lock, and what
/// is recorded when it returns.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    metrics: &'a BotMetrics,
    span: Span,
    kind: TurnKind,
    start: Instant,
}

impl<'a> Turn<'a> {
    /// Opens the `turn` span of a turn of `kind` in `conversation`.
    pub(crate) fn start(
        metrics: &'a BotMetrics,
        conversation: Option<&str>,
        kind: TurnKind,
    ) -> Self {
        let span = tracing::info_span!(
            "turn",
            conversation = conversation.unwrap_or_default(),
            kind = kind.as_str(),
            attempts = Empty,
            outcome = Empty,
            latency_ms = Empty,
        );
        Self {
            metrics,
            span,
            kind,
            start: Instant::now(),
        }
    }

    /// Runs `turn` in the span and records its outcome, latency and attempts (`attempts`
    /// reads them from a turn that returned). Pass the turn pinned where it is (a
    /// `Pin<&mut _>`): a turn's future is large, and moving it costs more than recording.
    pub(crate) async fn run<T>(
        self,
        turn: impl Future<Output = Result<T, BotError>>,
        attempts: impl FnOnce(&T) -> usize,
    ) -> Result<T, BotError> {
        let result = turn.instrument(self.span.clone()).await;
        let (end, attempts) = match &result {
            Ok(t) => (End::Ok, Some(attempts(t))),
            Err(e @ BotError::Conflict { attempts }) => {
                (End::of_failure(self.kind, e), Some(*attempts))
            }
            Err(e) => (End::of_failure(self.kind, e), None),
        };
        self.finish(end, attempts);
        result
    }

    fn finish(self, end: End, attempts: Option<usize>) {
        let elapsed = self.start.elapsed();
        let m = &self.metrics.kinds[self.kind as usize];
        m.turns[end as usize].increment(1);
        m.duration.record(elapsed.as_secs_f64());
        // Attempts beyond the first, less the one that saved a reset, met a conflict; every
        // attempt of a turn that gave up did.
        let conflicts = match (end, attempts) {
            (End::Conflict, Some(n)) => n,
            (End::Ok, Some(n)) => n.saturating_sub(1),
            (End::Reset, Some(n)) => n.saturating_sub(2),
            _ => 0,
        };
        if conflicts > 0 {
            m.conflicts.increment(conflicts as u64);
        }
        if !self.span.is_disabled() {
            if let Some(n) = attempts {
                self.span.record("attempts", n);
            }
            self.span.record("outcome", end.as_str());
            self.span
                .record("latency_ms", elapsed.as_secs_f64() * 1_000.0);
        }
    }
}

/// Runs one connector send in a `delivery` span and counts its outcome.
pub(crate) async fn delivery<T>(
    metrics: &BotMetrics,
    conversation: Option<&str>,
    send: impl Future<Output = Result<T, DeliveryError>>,
) -> Result<T, DeliveryError> {
    let span = tracing::debug_span!(
        "delivery",
        conversation = conversation.unwrap_or_default(),
        ok = Empty,
        outcome = Empty,
        status = Empty,
        retries = Empty,
        error = Empty,
    );
    let result = send.instrument(span.clone()).await;
    let (index, outcome) = delivery_outcome(&result);
    metrics.deliveries[index].increment(1);
    if !span.is_disabled() {
        span.record("ok", result.is_ok());
        span.record("outcome", outcome);
        if let Err(e) = &result {
            if let DeliveryError::Permanent { status, .. } = e {
                span.record("status", status);
            }
            span.record("error", display(e));
        }
    }
    result
}
