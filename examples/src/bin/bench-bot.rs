//! The bench bot: the same bot as the reference bots of the side-by-side benchmark, on
//! botcore behind the HTTP transport (auth off: for loopback benchmarks and interop tests).
//!
//! - any message → `echo: <text>` as a reply to the incoming activity;
//! - `profile` → "What is your name?" → "How old are you?" → `Thanks <name>, you are <age>.`;
//! - `POST /api/notify {"text": "..."}` → the text to every known address (proactive, in the
//!   background), answering `{"addresses": N}` at once;
//! - `GET /api/addresses` → `{"count": N}`; `GET /healthz` → `ok`.
//!
//! ```text
//! bench-bot --addr 127.0.0.1:3978 --storage memory   (or --storage redis, with REDIS_URL)
//! ```
//!
//! Prints `bench-bot listening on http://ADDR/api/messages ...` to stdout once it accepts
//! connections (`--addr 127.0.0.1:0` picks a free port).

use botcore::Storage;
use botcore::proactive::fanout::FanOutAction;
use botcore::{Bot, Message, Value, Waterfall, json, prompts};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use storage_memory::MemoryStorage;
use storage_redis::RedisStorage;
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::StatusCode;
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::routing::{get, post};
use transport_http::axum::{Json, Router};
use transport_http::{HttpSettings, HttpTransport};

/// How many proactive sends of one notify run at once.
const FAN_OUT_CONCURRENCY: usize = 256;

struct Args {
    addr: String,
    storage: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:3978".into(),
        storage: "memory".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--storage" => args.storage = value()?,
            "-h" | "--help" => {
                return Err("usage: bench-bot [--addr 127.0.0.1:3978] [--storage memory|redis] (redis: REDIS_URL)".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn root_dialog() -> Waterfall {
    Waterfall::new().step(|s, _| {
        let text = s.message().text.trim().to_owned();
        if text == "profile" {
            return s.begin_dialog("profile", None);
        }
        s.send(format!("echo: {text}"));
        Ok(())
    })
}

fn profile_dialog() -> Waterfall {
    Waterfall::new()
        .step(|s, _| prompts::text(s, "What is your name?"))
        .step(|s, r| {
            s.dialog_data_mut()
                .insert("name".into(), r.value.unwrap_or(Value::Null));
            prompts::number(s, "How old are you?")
        })
        .step(|s, r| {
            let name = s
                .dialog_data()
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let age = r.value.map(|v| v.to_string()).unwrap_or_default();
            s.send(format!("Thanks {name}, you are {age}."));
            s.end_dialog();
            Ok(())
        })
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": e.to_string() })),
    )
        .into_response()
}

async fn notify(State(bot): State<Bot>, body: Bytes) -> Response {
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("text")?.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "notify".into());
    let addresses = match bot.all_addresses().await {
        Ok(a) => a,
        Err(e) => return unavailable(e),
    };
    let n = addresses.len();
    tokio::spawn(async move {
        let action = FanOutAction::Message(Message::default().text(text));
        let results = bot.fan_out(addresses, action, FAN_OUT_CONCURRENCY).await;
        let failed = results.iter().filter(|r| r.result.is_err()).count();
        tracing::info!(sent = results.len() - failed, failed, "notify done");
    });
    Json(json!({ "addresses": n })).into_response()
}

async fn addresses(State(bot): State<Bot>) -> Response {
    match bot.all_addresses().await {
        Ok(a) => Json(json!({ "count": a.len() })).into_response(),
        Err(e) => unavailable(e),
    }
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
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let storage: Arc<dyn Storage> = match args.storage.as_str() {
        "memory" => Arc::new(MemoryStorage::new()),
        "redis" => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
            match RedisStorage::connect(&url).await {
                Ok(r) => Arc::new(r.with_namespace(format!("bench-bot-{}", std::process::id()))),
                Err(e) => {
                    eprintln!("bench-bot: cannot use Redis at {url}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        other => {
            eprintln!("bench-bot: --storage {other} is not supported (memory or redis)");
            return ExitCode::from(2);
        }
    };
    let transport = match HttpTransport::new(HttpSettings::without_auth()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bot = Bot::builder()
        .dialog("/", root_dialog())
        .dialog("profile", profile_dialog())
        .storage_arc(storage)
        .connector(transport.connector())
        .build();
    let bot = match bot {
        Ok(b) => b,
        Err(e) => {
            eprintln!("bench-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/api/notify", post(notify))
        .route("/api/addresses", get(addresses))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(bot.clone())
        .merge(transport.router(bot));
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-bot: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(args.addr);
    println!(
        "bench-bot listening on http://{local}/api/messages storage={} auth=off",
        args.storage
    );
    let _ = std::io::stdout().flush();
    match transport_http::axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-bot: {e}");
            ExitCode::FAILURE
        }
    }
}
