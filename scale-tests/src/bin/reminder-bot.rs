//! `reminder-bot`: the reminder example's bot (`examples::reminder::bot()`, unchanged) as a
//! real OS process for the restart test: over the HTTP transport (auth off, replies to each
//! activity's `serviceUrl`), with a scheduler loop, on a store the test names.
//!
//! - `remind me <text>` → `OK, I'll remind you in a minute.`, and a stored job that sends
//!   `Reminder: <text>` one minute later by the bot's clock (see `examples/src/reminder.rs`);
//! - a tick every `--tick-ms` (right again after a full tick);
//! - `POST /clock {"advanceMs": n}` moves the bot's clock, `GET /stats` → `{"ticks", "done",
//!   "other", "tickErrors", "nowMs"}`, `GET /healthz` → `ok`.
//!
//! ```text
//! reminder-bot --addr 127.0.0.1:0 --storage redis --redis-url redis://127.0.0.1:6379/ \
//!              --namespace reminder --tick-ms 20 --clock-offset-ms 58000
//! reminder-bot --storage postgres --database-url postgres://postgres@127.0.0.1:5432/postgres
//! reminder-bot --storage memory   # the control: nothing outlives the process
//! ```
//!
//! Prints `reminder-bot listening on http://ADDR` to stdout once it accepts connections.

#[path = "../clock.rs"]
mod clock;

use botcore::proactive::scheduler::{JobOutcome, MAX_JOBS_PER_TICK};
use botcore::{Bot, Clock, Storage};
use clap::Parser;
use clock::OffsetClock;
use examples::store::{self, StoreKind};
use serde::Deserialize;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use transport_http::axum::extract::State;
use transport_http::axum::routing::{get, post};
use transport_http::axum::{Json, Router};
use transport_http::{HttpSettings, HttpTransport};

/// The reminder example over HTTP, with a scheduler loop and a movable clock.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// This process's name (for logs).
    #[arg(long, default_value = "reminder")]
    name: String,
    /// Where state lives.
    #[arg(long, value_enum, default_value_t = StoreKind::Redis)]
    storage: StoreKind,
    /// The Redis to use with `--storage redis` (default: REDIS_URL, else the local default).
    #[arg(long)]
    redis_url: Option<String>,
    /// The PostgreSQL to use with `--storage postgres` (default: DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
    /// The key namespace: processes with the same namespace share their state.
    #[arg(long, default_value = "reminder")]
    namespace: String,
    /// Run `scheduler().tick()` every this many ms.
    #[arg(long, default_value_t = 20)]
    tick_ms: u64,
    /// Start the bot's clock this many ms off the system clock (`POST /clock` moves it).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_offset_ms: i64,
}

/// What the scheduler loop did so far.
#[derive(Debug, Default)]
struct Stats {
    ticks: AtomicU64,
    tick_errors: AtomicU64,
    done: AtomicU64,
    other: AtomicU64,
}

#[derive(Clone)]
struct App {
    clock: OffsetClock,
    stats: Arc<Stats>,
}

async fn storage(args: &Args) -> Result<Arc<dyn Storage>, String> {
    let redis_url = store::redis_url(args.redis_url.clone());
    let database_url = store::database_url(args.database_url.clone());
    store::open(args.storage, &args.namespace, redis_url, database_url).await
}

/// Ticks the scheduler every `every` (at once again after a full tick) and counts outcomes.
async fn tick_loop(bot: Bot, stats: Arc<Stats>, every: Duration) {
    const ORDER: Ordering = Ordering::Relaxed;
    loop {
        let full = match bot.scheduler().tick().await {
            Ok(reports) => {
                for r in &reports {
                    match r.outcome {
                        JobOutcome::Done => stats.done.fetch_add(1, ORDER),
                        _ => {
                            tracing::warn!(id = %r.id, outcome = ?r.outcome, "job not done");
                            stats.other.fetch_add(1, ORDER)
                        }
                    };
                }
                reports.len() >= MAX_JOBS_PER_TICK
            }
            Err(e) => {
                stats.tick_errors.fetch_add(1, ORDER);
                tracing::warn!(error = %e, "tick failed");
                false
            }
        };
        stats.ticks.fetch_add(1, ORDER);
        if !full {
            tokio::time::sleep(every).await;
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockMove {
    advance_ms: i64,
}

async fn move_clock(State(app): State<App>, Json(m): Json<ClockMove>) -> Json<serde_json::Value> {
    app.clock.advance(m.advance_ms);
    Json(serde_json::json!({ "nowMs": app.clock.now_ms() }))
}

async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    let s = &app.stats;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "ticks": load(&s.ticks),
        "tickErrors": load(&s.tick_errors),
        "done": load(&s.done),
        "other": load(&s.other),
        "nowMs": app.clock.now_ms(),
    }))
}

async fn serve(args: Args) -> Result<(), String> {
    let clock = OffsetClock::new(args.clock_offset_ms);
    let transport = HttpTransport::new(HttpSettings::without_auth()).map_err(|e| e.to_string())?;
    let bot = examples::reminder::bot()
        .storage_arc(storage(&args).await?)
        .connector(transport.connector())
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let app = App {
        clock,
        stats: Arc::default(),
    };
    let every = Duration::from_millis(args.tick_ms.max(1));
    tokio::spawn(tick_loop(bot.clone(), app.stats.clone(), every));
    bot.spawn_outbox_sweeper(Duration::from_secs(1));
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/clock", post(move_clock))
        .route("/stats", get(stats))
        .with_state(app)
        .merge(transport.router(bot));
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_or(args.addr, |a| a.to_string());
    tracing::info!(name = %args.name, %local, "listening");
    println!("reminder-bot listening on http://{local}");
    let _ = std::io::stdout().flush();
    transport_http::axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reminder-bot: {e}");
            ExitCode::FAILURE
        }
    }
}
