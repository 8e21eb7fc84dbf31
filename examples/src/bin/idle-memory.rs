//! Measures the resident memory an idle conversation costs in memory storage: runs
//! conversations up to a waiting prompt (a waterfall frame with dialog data and a prompt frame
//! on the stack, user data, an address-book entry), then prints the growth of the resident
//! set per conversation next to the compact JSON those conversations store.
//!
//! `cargo run --release -p examples --bin idle-memory -- [conversations]`
//!
//! It keeps the system allocator (no `#[global_allocator]`): the figure is what an
//! application that does not choose an allocator sees.

use async_trait::async_trait;
use botcore::{
    Address, Bot, ChannelAccount, Connector, DeliveryError, Message, Receipt, Storage, Waterfall,
    prompts,
};
use clap::Parser;
use serde::{Deserialize, Serialize};
use storage_memory::MemoryStorage;

/// Resident memory per idle conversation in memory storage.
#[derive(Debug, Parser)]
struct Args {
    /// Conversations to store.
    #[arg(default_value_t = 50_000)]
    conversations: usize,
}

/// A connector that accepts everything and sends nothing.
#[derive(Debug)]
struct Nowhere;

#[async_trait]
impl Connector for Nowhere {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        Ok(Receipt {
            activity_id: None,
            conversation_id: message.address.conversation_id().unwrap_or("").to_owned(),
        })
    }
    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        Ok(address.clone())
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Profile {
    name: String,
    visits: u32,
}

fn profile_dialog() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "What is your name?"))
        .step(async |s, r| {
            let name = r.text()?.to_owned();
            s.user_data_mut().set(&Profile {
                name: name.clone(),
                visits: 1,
            })?;
            s.dialog_data_mut().set(&Profile { name, visits: 1 })?;
            prompts::number(s, "How old are you?");
            Ok(())
        })
        .step(async |s, r| {
            s.send(format!("You are {}.", r.number()?));
            s.end_dialog();
            Ok(())
        })
}

fn address(i: usize) -> Address {
    let user = ChannelAccount::new(format!("user-{i:06}")).with_name(format!("User {i}"));
    Address::new(
        "webchat",
        user,
        ChannelAccount::new("bot-1").with_name("Bot"),
    )
    .with_conversation(format!("conversation-{i:06}"))
    .with_service_url("https://webchat.botframework.com/")
}

/// The resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// The compact JSON size of every record in `storage`.
async fn json_bytes(storage: &MemoryStorage) -> (usize, usize) {
    let (mut bytes, mut records, mut after) = (0, 0, None::<String>);
    loop {
        let keys = storage
            .list_keys("", after.as_deref(), 1_000)
            .await
            .expect("list");
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        for s in storage.read_many(&refs).await.expect("read").into_iter() {
            let value = s.expect("listed records exist").value;
            bytes += serde_json::to_vec(&value).expect("json").len();
            records += 1;
        }
        if keys.len() < 1_000 {
            return (bytes, records);
        }
        after = keys.last().cloned();
    }
}

/// Runs conversations `range` up to the age prompt.
async fn run(storage: &MemoryStorage, range: std::ops::Range<usize>) {
    let bot = Bot::builder()
        .dialog("/", profile_dialog())
        .connector(Nowhere)
        .storage(storage.clone())
        .build()
        .expect("bot");
    for i in range {
        for text in ["hi", "Ann"] {
            let mut a = address(i);
            a.id = Some(format!("m-{i}-{text}"));
            bot.receive(Message::to(&a).text(text).locale("en-US"))
                .await
                .expect("turn");
        }
    }
}

fn main() {
    let Args { conversations } = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Warm up the runtime and the allocator on a storage that is then dropped.
        run(&MemoryStorage::new(), conversations..conversations + 100).await;
        let storage = MemoryStorage::new();
        let before = rss();
        run(&storage, 0..conversations).await;
        let grown = rss().saturating_sub(before);
        let (json, records) = json_bytes(&storage).await;
        let n = conversations as f64;
        println!("conversations:           {conversations}");
        println!("records:                 {records}");
        println!("JSON per conversation:   {:>8.0} bytes", json as f64 / n);
        println!("RSS per conversation:    {:>8.0} bytes", grown as f64 / n);
        println!(
            "beyond its JSON:         {:>8.0} bytes",
            (grown as f64 - json as f64) / n
        );
    });
}
