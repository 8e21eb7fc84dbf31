//! `cargo run`: the survey-interruption demo. Chat in the terminal; the same bot also serves
//! the Bot Framework protocol and the proactive webhooks on 127.0.0.1:3978.

use botcore::Bot;
use botcore::ByChannel;
use examples::webhooks::{self, LastAddress, WebhookSettings};
use examples::{console, standup, survey};
use std::time::Duration;
use storage_memory::MemoryStorage;
use transport_http::{HttpSettings, HttpTransport};

const ADDR: &str = "127.0.0.1:3978";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("BOTCORE_DEMO_ADDR").unwrap_or_else(|_| ADDR.to_owned());
    // Local demo only: no Bot Framework credentials, so inbound auth is off (a warning is logged).
    let transport = HttpTransport::new(HttpSettings::without_auth())?;
    let last = LastAddress::default();
    let custom_api = format!("http://{addr}/api/CustomWebApi");
    let bot: Bot = survey::bot(Some(custom_api))
        .dialog("standup", standup::standup_dialog())
        .middleware(last.clone())
        .connector(
            ByChannel::new(transport.connector())
                .route(console::CHANNEL_ID, console::ConsoleConnector::stdout()),
        )
        .storage(MemoryStorage::new())
        .build()?;
    let app = transport.router(bot.clone()).merge(webhooks::router(
        bot.clone(),
        WebhookSettings {
            last_address: last,
            ..Default::default()
        },
    ));
    match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => {
            eprintln!(
                "(also serving /api/messages, /api/notify, /api/standup and /api/CustomWebApi on http://{addr}; auth OFF)"
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
    println!("botcore demo: the survey that interrupts. Say hi (Ctrl-D to quit).");
    let _ticker = console::spawn_ticker(bot.clone(), Duration::from_millis(250));
    console::run(&bot, tokio::io::BufReader::new(tokio::io::stdin())).await?;
    Ok(())
}
