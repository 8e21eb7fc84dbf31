//! The bench bot: the same bot as the reference bots of the side-by-side benchmark, on
//! botcore behind the HTTP transport (auth off: for loopback benchmarks and interop tests).
//!
//! - any message → `echo: <text>` as a reply to the incoming activity;
//! - `profile` → "What is your name?" → "How old are you?" → `Thanks <name>, you are <age>.`;
//! - `POST /api/notify {"text": "..."}` → the text to every known address (proactive, in the
//!   background), answering `{"addresses": N}` at once;
//! - `GET /api/addresses` → `{"count": N}`; `GET /healthz` → `ok`.
//! - `GET /metrics` → botcore's metrics, as Prometheus text.
//!
//! ```text
//! bench-bot --addr 127.0.0.1:3978 --storage memory   (or --storage redis|postgres, with REDIS_URL / DATABASE_URL;
//!                                                     --namespace, default `bench-bot`)
//! ```
//!
//! Prints `bench-bot listening on http://ADDR/api/messages ...` to stdout once it accepts
//! connections (`--addr 127.0.0.1:0` picks a free port).

use botcore::proactive::fanout::FanOutAction;
use botcore::{Bot, BotError, Waterfall, prompts};
use clap::{Parser, ValueEnum};
use examples::prometheus;
use examples::store::{self, StoreKind};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::process::ExitCode;
use transport_http::axum::extract::State;
use transport_http::axum::extract::rejection::JsonRejection;
use transport_http::axum::http::StatusCode;
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::routing::{get, post};
use transport_http::axum::{Json, Router};
use transport_http::{HttpSettings, HttpTransport};

/// mimalloc: several times fewer instructions per allocation than the system allocator
/// on the turn path, which allocates a few dozen times per turn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How many proactive sends of one notify run at once.
const FAN_OUT_CONCURRENCY: usize = 256;

/// The bench bot: echo, a profile waterfall and a proactive notify, over the Bot Framework
/// protocol with auth off.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:3978")]
    addr: String,
    /// Where state lives (redis: at REDIS_URL, default redis://127.0.0.1:6379/; postgres: at
    /// DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    storage: StoreKind,
    /// The namespace of the bot's keys in a shared store: processes with the same namespace
    /// share state (several processes of one bot behind a load balancer); a different one
    /// keeps bots apart. Default: a fresh `bench-bot-<random>` for every start, because load
    /// drivers number their activities the same way every run and a store that remembers
    /// processed activity ids would take a second run for a redelivery of the first.
    #[arg(long, env = "BOTCORE_NAMESPACE")]
    namespace: Option<String>,
}

/// The profile dialog's data.
#[derive(Default, Serialize, Deserialize)]
struct Profile {
    name: String,
}

fn profile_dialog() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "What is your name?"))
        .step(async |s, r| {
            let name = r.text()?.to_owned();
            s.dialog_data_mut().set(&Profile { name })?;
            prompts::number(s, "How old are you?");
            Ok(())
        })
        .step(async |s, r| {
            let Profile { name } = s.dialog_data().get()?;
            s.send(format!("Thanks {name}, you are {}.", r.number()?));
            s.end_dialog();
            Ok(())
        })
}

/// `POST /api/notify`: anything but a non-empty `text` sends "notify".
#[derive(Deserialize)]
struct Notify {
    text: String,
}

#[derive(Serialize)]
struct Notified {
    addresses: usize,
}

#[derive(Serialize)]
struct Count {
    count: usize,
}

/// A storage outage, answered `503 {"error": "..."}`.
struct Unavailable(BotError);

impl From<BotError> for Unavailable {
    fn from(e: BotError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Failure {
            error: String,
        }
        let error = self.0.to_string();
        (StatusCode::SERVICE_UNAVAILABLE, Json(Failure { error })).into_response()
    }
}

async fn notify(
    State(bot): State<Bot>,
    body: Result<Json<Notify>, JsonRejection>,
) -> Result<Json<Notified>, Unavailable> {
    let text = match body {
        Ok(Json(Notify { text })) if !text.is_empty() => text,
        _ => "notify".into(),
    };
    let addresses = bot.address_book().all().await?;
    let n = addresses.len();
    tokio::spawn(async move {
        let action = FanOutAction::message(text);
        let results = bot
            .fan_out(addresses, action)
            .concurrency(FAN_OUT_CONCURRENCY)
            .await;
        let failed = results.iter().filter(|r| r.result.is_err()).count();
        tracing::info!(sent = results.len() - failed, failed, "notify done");
    });
    Ok(Json(Notified { addresses: n }))
}

async fn addresses(State(bot): State<Bot>) -> Result<Json<Count>, Unavailable> {
    let all = bot.address_book().all().await?;
    Ok(Json(Count { count: all.len() }))
}

async fn serve(args: Args) -> Result<(), String> {
    let namespace = args.namespace.clone().unwrap_or_else(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("bench-bot-{started}-{}", std::process::id())
    });
    let storage = store::open(
        args.storage,
        &namespace,
        store::redis_url(None),
        Some(store::database_url(None).unwrap_or_else(|| store::DEFAULT_DATABASE_URL.into())),
    )
    .await?;
    let metrics = prometheus::install()?;
    let transport = HttpTransport::new(HttpSettings::without_auth()).map_err(|e| e.to_string())?;
    let bot = Bot::builder()
        .dialog_fn("/", async |s, _| {
            let text = s.text().trim().to_owned();
            if text == "profile" {
                s.begin_dialog("profile");
            } else {
                s.send(format!("echo: {text}"));
            }
        })
        .dialog("profile", profile_dialog())
        .storage_arc(storage)
        .connector(transport.connector())
        .build()
        .map_err(|e| e.to_string())?;
    // What a stopped process left undelivered goes out from here.
    bot.spawn_outbox_sweeper(std::time::Duration::from_secs(15));
    let app = Router::new()
        .route("/api/notify", post(notify))
        .route("/api/addresses", get(addresses))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(bot.clone())
        .merge(transport.router(bot))
        .merge(prometheus::router(metrics));
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_or(args.addr, |a| a.to_string());
    let storage = args.storage.to_possible_value().unwrap_or_default();
    let storage = storage.get_name();
    println!(
        "bench-bot listening on http://{local}/api/messages storage={storage} namespace={namespace} auth=off"
    );
    let _ = std::io::stdout().flush();
    transport_http::axum::serve(listener, app)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,bench_bot=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match serve(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-bot: {e}");
            ExitCode::FAILURE
        }
    }
}
