//! The admin routes the tests drive the bot with.
//!
//! | route | does |
//! | --- | --- |
//! | `POST /schedule {"jobs": [{"at", "address", "text", "maxLatenessMs"?}]}` | schedules one message job each (`at_with_lateness`); `{"ids": [...]}` |
//! | `POST /fanout/{job} {"text", "batch"?, "concurrency"?}` | a resumable fan-out of `text` to the whole address book, in the background; `202 {"addresses": N}` |
//! | `GET /fanout/{job}` | what this process's last run of the job did, by user id (`404` if none) |
//! | `GET /progress/{job}` | `bot.fan_out_progress(job)` (`404` if nothing is recorded) |
//! | `POST /clock {"advanceMs": n}` | moves the bot's clock; `{"nowMs": ...}` |
//! | `GET /stats` | scheduler-loop counters |
//!
//! A storage failure answers `503 {"error": ...}`.

use crate::clock::OffsetClock;
use botcore::proactive::fanout::{FanOutAction, FanOutOptions, FanOutResult, RecipientStatus};
use botcore::{Address, Bot, BotError, Clock, JobAction, Message};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use transport_http::axum::extract::{Path, State};
use transport_http::axum::http::StatusCode;
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::routing::{get, post};
use transport_http::axum::{Json, Router};

pub(crate) const ORDER: Ordering = Ordering::Relaxed;

/// What the scheduler loop did so far.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) ticks: AtomicU64,
    pub(crate) tick_errors: AtomicU64,
    pub(crate) done: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) retrying: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// What one run of a resumable fan-out did, by user id.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct FanOutRun {
    finished: bool,
    /// Users this run sent to.
    sent: Vec<String>,
    /// Users skipped because an earlier run left them in doubt.
    in_doubt: Vec<String>,
    /// Users skipped because an earlier run handled them.
    earlier_done: usize,
    /// Users whose send failed in this run, with the error.
    failed: Vec<(String, String)>,
}

/// Everything the admin routes share.
pub(crate) struct App {
    bot: Bot,
    clock: OffsetClock,
    pub(crate) stats: Arc<Stats>,
    fanouts: Mutex<HashMap<String, FanOutRun>>,
}

impl App {
    pub(crate) fn new(bot: Bot, clock: OffsetClock) -> Self {
        Self {
            bot,
            clock,
            stats: Arc::default(),
            fanouts: Mutex::default(),
        }
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/schedule", post(schedule))
        .route("/fanout/{job}", post(start_fan_out).get(fan_out_run))
        .route("/progress/{job}", get(progress))
        .route("/clock", post(move_clock))
        .route("/stats", get(stats))
        .with_state(app)
}

/// A storage failure, answered `503 {"error": "..."}`.
struct Unavailable(BotError);

impl From<BotError> for Unavailable {
    fn from(e: BotError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0.to_string() });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobSpec {
    at: u64,
    address: Address,
    text: String,
    #[serde(default)]
    max_lateness_ms: Option<u64>,
}

#[derive(Deserialize)]
struct ScheduleRequest {
    jobs: Vec<JobSpec>,
}

async fn schedule(
    State(app): State<Arc<App>>,
    Json(req): Json<ScheduleRequest>,
) -> Result<Json<serde_json::Value>, Unavailable> {
    let mut ids = Vec::with_capacity(req.jobs.len());
    for job in req.jobs {
        let action = JobAction::message(Message::to(&job.address).text(job.text));
        let scheduler = app.bot.scheduler();
        let id = scheduler
            .at_with_lateness(job.at, &job.address, action, job.max_lateness_ms)
            .await?;
        ids.push(id);
    }
    Ok(Json(serde_json::json!({ "ids": ids })))
}

#[derive(Deserialize)]
struct FanOutRequest {
    text: String,
    #[serde(default)]
    batch: Option<usize>,
    #[serde(default)]
    concurrency: Option<usize>,
}

fn summarize(results: &[FanOutResult]) -> FanOutRun {
    let mut run = FanOutRun {
        finished: true,
        ..FanOutRun::default()
    };
    for r in results {
        let user = r.address.user.id.clone();
        match (&r.earlier, &r.result) {
            (Some(RecipientStatus::InDoubt), _) => run.in_doubt.push(user),
            (Some(_), _) => run.earlier_done += 1,
            (None, Ok(_)) => run.sent.push(user),
            (None, Err(e)) => run.failed.push((user, e.to_string())),
        }
    }
    run
}

async fn start_fan_out(
    State(app): State<Arc<App>>,
    Path(job): Path<String>,
    Json(req): Json<FanOutRequest>,
) -> Result<Response, Unavailable> {
    if app
        .fanouts
        .lock()
        .unwrap()
        .get(&job)
        .is_some_and(|r| !r.finished)
    {
        return Ok((StatusCode::CONFLICT, "a run of this job is under way").into_response());
    }
    let addresses = app.bot.address_book().all().await?;
    let n = addresses.len();
    let defaults = FanOutOptions::default();
    let options = FanOutOptions {
        batch: req.batch.unwrap_or(defaults.batch),
        concurrency: req.concurrency.unwrap_or(defaults.concurrency),
        ..defaults
    };
    app.fanouts
        .lock()
        .unwrap()
        .insert(job.clone(), FanOutRun::default());
    tokio::spawn(async move {
        let action = FanOutAction::message(req.text);
        let results = app
            .bot
            .fan_out(addresses, action)
            .resumable(job.clone())
            .options(options)
            .await;
        let run = summarize(&results);
        app.fanouts.lock().unwrap().insert(job, run);
    });
    let body = serde_json::json!({ "addresses": n });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn fan_out_run(State(app): State<Arc<App>>, Path(job): Path<String>) -> Response {
    match app.fanouts.lock().unwrap().get(&job) {
        Some(run) => Json(run.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn progress(
    State(app): State<Arc<App>>,
    Path(job): Path<String>,
) -> Result<Response, Unavailable> {
    let Some(p) = app.bot.fan_out_progress(&job).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let body = serde_json::json!({
        "total": p.total,
        "done": p.done,
        "failed": p.failed,
        "inDoubt": p.in_doubt,
        "pending": p.pending,
    });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockMove {
    advance_ms: i64,
}

async fn move_clock(
    State(app): State<Arc<App>>,
    Json(m): Json<ClockMove>,
) -> Json<serde_json::Value> {
    app.clock.advance(m.advance_ms);
    Json(serde_json::json!({ "nowMs": app.clock.now_ms() }))
}

async fn stats(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let s = &app.stats;
    Json(serde_json::json!({
        "ticks": s.ticks.load(ORDER),
        "tickErrors": s.tick_errors.load(ORDER),
        "done": s.done.load(ORDER),
        "skipped": s.skipped.load(ORDER),
        "retrying": s.retrying.load(ORDER),
        "dropped": s.dropped.load(ORDER),
    }))
}
