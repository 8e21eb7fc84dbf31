//! `cargo run`: the survey-interruption demo in the terminal.

use botcore::Bot;
use examples::{console, survey};
use std::time::Duration;
use storage_memory::MemoryStorage;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let bot: Bot = survey::bot(None)
        .connector(console::ConsoleConnector::stdout())
        .storage(MemoryStorage::new())
        .build()?;
    println!("botcore demo: the survey that interrupts. Say hi (Ctrl-D to quit).");
    let _ticker = console::spawn_ticker(bot.clone(), Duration::from_millis(250));
    console::run(&bot, tokio::io::BufReader::new(tokio::io::stdin())).await?;
    Ok(())
}
