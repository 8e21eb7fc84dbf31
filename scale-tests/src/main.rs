//! `scale-bot`: the bot the multi-process tests start as real OS processes, several at once on
//! one store.
//!
//! - any message → `<name> <text> c=<n> u=<m>`, a reply to it, after counting the message in
//!   conversation data (`count`, plus the texts seen, in order, under `ids`) and in user data
//!   (`count`), all in the turn's one compare-and-set batch;
//! - a scheduler loop when `--tick-ms` is given (a tick right after a full one);
//! - admin routes for the tests (see `admin.rs`): `POST /schedule`, `POST /fanout/{job}`,
//!   `GET /fanout/{job}`, `GET /progress/{job}`, `POST /clock`, `GET /stats`, `GET /healthz`;
//! - with `--webhooks`, the example webhooks (`examples::webhooks`: `POST /api/notify`,
//!   `POST /api/standup`, `/api/CustomWebApi`) and the stand-up dialog they begin
//!   (`examples::standup::standup_dialog()` as `standup`, so `*:standup` resolves).
//!
//! ```text
//! scale-bot --addr 127.0.0.1:0 --name a --storage redis --redis-url redis://127.0.0.1:6379/ \
//!           --namespace scale --tick-ms 20
//! scale-bot --storage postgres --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Auth is off (loopback only) and replies go to each activity's `serviceUrl`. Prints
//! `scale-bot listening on http://ADDR` to stdout once it accepts connections.

mod admin;
mod clock;

use botcore::proactive::scheduler::MAX_JOBS_PER_TICK;
use botcore::proactive::scheduler::{JobOutcome, JobReport};
use botcore::{Bot, Storage};
use clap::{Parser, ValueEnum};
use clock::OffsetClock;
use examples::store::{self, StoreKind};
use examples::webhooks::{self, WebhookSettings};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use transport_http::{HttpSettings, HttpTransport, ServeSettings};

/// A bot for multi-process tests: counters in conversation and user data, a scheduler loop,
/// admin routes for scheduling and resumable fan-outs.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// This process's name, the first word of every reply.
    #[arg(long, default_value = "bot")]
    name: String,
    /// Where state lives.
    #[arg(long, value_enum, default_value_t = StorageKind::Redis)]
    storage: StorageKind,
    /// The Redis to use with `--storage redis` (default: REDIS_URL, else the local default).
    #[arg(long)]
    redis_url: Option<String>,
    /// The PostgreSQL to use with `--storage postgres` (default: DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
    /// The key namespace: processes with the same namespace share their state.
    #[arg(long, default_value = "scale-bot")]
    namespace: String,
    /// Run `scheduler().tick()` every this many ms (0: no scheduler loop).
    #[arg(long, default_value_t = 0)]
    tick_ms: u64,
    /// Start the bot's clock this many ms off the system clock (`POST /clock` moves it).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_offset_ms: i64,
    /// How long this process owns an outbox it delivers (`BotBuilder::outbox_lease`).
    #[arg(long, default_value_t = 10_000)]
    outbox_lease_ms: u64,
    /// Sweep every conversation's outbox this often (0: never).
    #[arg(long, default_value_t = 1_000)]
    sweep_ms: u64,
    /// Also serve the example webhooks, with the stand-up dialog registered.
    #[arg(long)]
    webhooks: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StorageKind {
    Redis,
    Postgres,
}

/// The conversation data the bot keeps.
#[derive(Default, Serialize, Deserialize)]
struct ConversationCounter {
    count: u64,
    ids: Vec<String>,
}

/// The user data the bot keeps.
#[derive(Default, Serialize, Deserialize)]
struct UserCounter {
    count: u64,
}

/// The process's name, for replies.
struct Name(String);

async fn storage(args: &Args) -> Result<Arc<dyn Storage>, String> {
    let kind = match args.storage {
        StorageKind::Redis => StoreKind::Redis,
        StorageKind::Postgres => StoreKind::Postgres,
    };
    let redis_url = store::redis_url(args.redis_url.clone());
    let database_url = store::database_url(args.database_url.clone());
    store::open(kind, &args.namespace, redis_url, database_url).await
}

fn build_bot(
    args: &Args,
    storage: Arc<dyn Storage>,
    clock: OffsetClock,
    transport: &HttpTransport,
) -> Result<Bot, String> {
    let mut builder = Bot::builder();
    if args.webhooks {
        builder = builder.dialog("standup", examples::standup::standup_dialog());
    }
    builder
        .app_data(Name(args.name.clone()))
        .dialog_fn("/", async |s, _| {
            let text = s.text().trim().to_owned();
            let conversation =
                s.conversation_data_mut()
                    .update(|c: &mut ConversationCounter| {
                        c.count += 1;
                        c.ids.push(text.clone());
                        c.count
                    })?;
            let user = s.user_data_mut().update(|u: &mut UserCounter| {
                u.count += 1;
                u.count
            })?;
            let name = s.app_data::<Name>()?;
            s.send(format!("{} {text} c={conversation} u={user}", name.0));
            Ok(())
        })
        .storage_arc(storage)
        .connector(transport.connector())
        .clock(clock)
        .outbox_lease(Duration::from_millis(args.outbox_lease_ms))
        .build()
        .map_err(|e| e.to_string())
}

/// Ticks the scheduler every `every`, at once again after a full tick, and counts outcomes.
async fn tick_loop(bot: Bot, stats: Arc<admin::Stats>, every: Duration) {
    loop {
        let full = match bot.scheduler().tick().await {
            Ok(reports) => {
                let full = reports.len() >= MAX_JOBS_PER_TICK;
                reports.iter().for_each(|r| stats.count(r));
                full
            }
            Err(e) => {
                stats.tick_errors.fetch_add(1, admin::ORDER);
                tracing::warn!(error = %e, "tick failed");
                false
            }
        };
        stats.ticks.fetch_add(1, admin::ORDER);
        if !full {
            tokio::time::sleep(every).await;
        }
    }
}

impl admin::Stats {
    fn count(&self, report: &JobReport) {
        let counter = match report.outcome {
            JobOutcome::Done => &self.done,
            JobOutcome::Skipped { .. } => &self.skipped,
            JobOutcome::Retrying { .. } => &self.retrying,
            _ => &self.dropped,
        };
        counter.fetch_add(1, admin::ORDER);
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let clock = OffsetClock::new(args.clock_offset_ms);
    let transport = HttpTransport::new(HttpSettings::without_auth()).map_err(|e| e.to_string())?;
    let bot = build_bot(&args, storage(&args).await?, clock.clone(), &transport)?;
    let app = Arc::new(admin::App::new(bot.clone(), clock));
    if args.tick_ms > 0 {
        let every = Duration::from_millis(args.tick_ms);
        tokio::spawn(tick_loop(bot.clone(), app.stats.clone(), every));
    }
    if args.sweep_ms > 0 {
        bot.spawn_outbox_sweeper(Duration::from_millis(args.sweep_ms));
    }
    let mut router = admin::router(app).merge(transport.router(bot.clone()));
    if args.webhooks {
        router = router.merge(webhooks::router(bot, WebhookSettings::default()));
    }
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_or(args.addr, |a| a.to_string());
    println!("scale-bot listening on http://{local}");
    let _ = std::io::stdout().flush();
    let mut settings = ServeSettings::default();
    settings.max_connections = 4_000;
    transport_http::serve_with(listener, router, settings)
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
            eprintln!("scale-bot: {e}");
            ExitCode::FAILURE
        }
    }
}
