//! `cargo run`: the survey-interruption demo. Chat in the terminal; the same bot also serves
//! the Bot Framework protocol and the proactive webhooks on 127.0.0.1:3978. Say `hi` for the
//! pizza order (interrupted by the survey), `card` for a hero card and an Adaptive Card.
//!
//! In the official Web Chat, in a browser on this machine (after `npm ci` in `interop/`):
//!
//! ```text
//! node interop/start-peer.js --bot http://127.0.0.1:3978/api/messages --port 3000 --stamp-client-activities
//! node interop/webchat-server.mjs --dl http://127.0.0.1:3000/directline   # prints the page's URL
//! ```
//!
//! There the sizes are buttons and the cards are drawn; `cargo test -p examples --test webchat`
//! does the same in headless Chromium and checks what it shows.
//!
//! State lives in memory by default (gone when the demo exits). One flag puts it in a shared
//! store instead, so that it survives a restart and several processes can share it:
//!
//! ```text
//! cargo run -- --storage redis      # at REDIS_URL, default redis://127.0.0.1:6379/
//! cargo run -- --storage postgres   # at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres
//!              --namespace NAME     # the keys' namespace in that store [default: $BOTCORE_NAMESPACE, else demo]
//! ```

use botcore::ByChannel;
use clap::Parser;
use examples::store::{self, StoreKind};
use examples::webhooks::{self, WebhookSettings};
use examples::{console, prometheus, standup, survey};
use std::time::Duration;
use transport_http::{HttpSettings, HttpTransport};

/// mimalloc: several times fewer instructions per allocation than the system allocator
/// on the turn path, which allocates a few dozen times per turn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The survey that interrupts, in the terminal (Ctrl-D to quit) and over HTTP (auth off).
#[derive(Debug, Parser)]
struct Args {
    /// Where to serve HTTP [default: $BOTCORE_DEMO_ADDR, else 127.0.0.1:3978]
    #[arg(long)]
    addr: Option<String>,
    /// Where state lives (redis: at REDIS_URL, default redis://127.0.0.1:6379/; postgres: at
    /// DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    storage: StoreKind,
    /// The namespace of the demo's keys in a shared store: processes with the same namespace
    /// share state; a different one keeps bots apart.
    #[arg(long, env = "BOTCORE_NAMESPACE", default_value = "demo")]
    namespace: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        addr,
        storage: kind,
        namespace,
    } = Args::parse();
    let addr = addr.or_else(|| std::env::var("BOTCORE_DEMO_ADDR").ok());
    let addr = addr.unwrap_or_else(|| "127.0.0.1:3978".into());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let storage = match store::open(
        kind,
        &namespace,
        store::redis_url(None),
        Some(store::database_url(None).unwrap_or_else(|| store::DEFAULT_DATABASE_URL.into())),
    )
    .await
    {
        Ok(storage) => storage,
        Err(e) => {
            eprintln!("demo: {e}");
            std::process::exit(1);
        }
    };
    let metrics = prometheus::install()?;
    // Local demo only: no Bot Framework credentials, so inbound auth is off (a warning is logged).
    let transport = HttpTransport::new(HttpSettings::without_auth())?;
    let settings = WebhookSettings::default();
    let terminal = console::ConsoleConnector::stdout();
    let bot = survey::bot(Some(format!("http://{addr}/api/CustomWebApi")))
        .dialog("standup", standup::standup_dialog())
        .middleware(settings.last_address.clone())
        .connector(ByChannel::new(transport.connector()).route(console::CHANNEL_ID, terminal))
        .storage_arc(storage)
        .build()?;
    // What a stopped process left undelivered goes out from here.
    bot.spawn_outbox_sweeper(std::time::Duration::from_secs(15));
    let hooks = webhooks::router(bot.clone(), settings);
    let app = transport
        .router(bot.clone())
        .merge(hooks)
        .merge(prometheus::router(metrics));
    match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => {
            eprintln!(
                "(also serving /api/messages, /api/notify, /api/standup, /api/CustomWebApi and /metrics on http://{addr}; auth OFF)"
            );
            tokio::spawn(async move {
                if let Err(e) = transport_http::axum::serve(listener, app).await {
                    eprintln!("(HTTP server stopped: {e})");
                }
            });
        }
        Err(e) => eprintln!(
            "(HTTP endpoints not served: cannot bind {addr}: {e}; the terminal demo still works)"
        ),
    }
    println!("botcore demo: the survey that interrupts. Say hi, or card (Ctrl-D to quit).");
    let _ticker = console::spawn_ticker(bot.clone(), Duration::from_millis(250));
    Ok(console::run(&bot, tokio::io::BufReader::new(tokio::io::stdin())).await?)
}
