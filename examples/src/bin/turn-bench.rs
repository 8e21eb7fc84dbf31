//! Measures echo turns per second through botcore on one core (a current-thread runtime),
//! against a floor that does only the storage round-trips a turn needs. Prints both and the
//! ratio; compare ratios, not absolute numbers.
//!
//! `cargo run --release -p examples --bin turn-bench -- [turns] [conversations] [core-only] [--metrics]`
//!
//! `--metrics` installs a Prometheus recorder first (as the bench bot and the demo do), to
//! measure what recording botcore's metrics costs; it prints the turn and delivery counters
//! at the end. `scripts/callgrind.sh` counts instructions per turn with and without it.

use async_trait::async_trait;
use botcore::{
    Address, Bot, ChannelAccount, Connector, DeliveryError, Message, Precondition, Receipt,
    Storage, WriteOp, json,
};
use clap::Parser;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use storage_memory::MemoryStorage;

/// mimalloc: several times fewer instructions per allocation than the system allocator
/// on the turn path, which allocates a few dozen times per turn.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Echo turns per second through botcore, against a storage-only floor.
#[derive(Debug, Parser)]
struct Args {
    /// Turns to run.
    #[arg(default_value_t = 200_000)]
    turns: usize,
    /// Conversations the turns go round.
    #[arg(default_value_t = 1_000, value_name = "CONVERSATIONS")]
    convs: usize,
    /// Run only the botcore path, once (for profilers).
    #[arg(value_parser = ["core-only"])]
    mode: Option<String>,
    /// Record botcore's metrics in a Prometheus recorder.
    #[arg(long)]
    metrics: bool,
}

#[derive(Debug, Default)]
struct CountingConnector(AtomicU64);

#[async_trait]
impl Connector for CountingConnector {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let conversation_id = message.address.conversation_id().unwrap_or("").to_owned();
        Ok(Receipt {
            activity_id: None,
            conversation_id,
        })
    }
    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        Ok(address.clone())
    }
}

fn address(i: usize) -> Address {
    let user = ChannelAccount::new(format!("user-{i}"));
    Address::new("bench", user, ChannelAccount::new("bot"))
        .with_conversation(format!("conv-{i}"))
        .with_service_url("http://127.0.0.1:1")
}

async fn botcore_turns(turns: usize, convs: usize) -> f64 {
    let bot = Bot::builder()
        .dialog_fn("/", async |s, _| {
            s.send(format!("echo: {}", s.text()));
            s.end_dialog();
        })
        .connector(CountingConnector::default())
        .storage(MemoryStorage::new())
        .build()
        .expect("bot");
    let addrs: Vec<Address> = (0..convs).map(address).collect();
    let start = Instant::now();
    for t in 0..turns {
        let mut a = addrs[t % convs].clone();
        a.id = Some(format!("m{t}"));
        let message = Message::to(&a).text("hello");
        bot.receive(message).await.expect("turn");
    }
    turns as f64 / start.elapsed().as_secs_f64()
}

/// The floor: read the same three records and write the private one, nothing else.
async fn storage_floor(turns: usize, convs: usize) -> f64 {
    let storage = MemoryStorage::new();
    let keys: Vec<[String; 3]> = (0..convs)
        .map(|i| {
            [
                format!("user/bench/user-{i}"),
                format!("conversation/bench/conv-{i}"),
                format!("private/bench/conv-{i}/user-{i}"),
            ]
        })
        .collect();
    let start = Instant::now();
    for t in 0..turns {
        let k = &keys[t % convs];
        let refs: [&str; 3] = [&k[0], &k[1], &k[2]];
        let read = storage.read_many(&refs).await.expect("read");
        let pre = match &read[2] {
            Some(s) => Precondition::IfMatch(s.version),
            None => Precondition::IfAbsent,
        };
        let v = json!({"BotBuilder.Data.SessionState": {"callstack": [], "lastAccess": t, "version": 0.0}});
        let write = WriteOp::put(k[2].clone(), v, pre);
        storage.write_many(vec![write]).await.expect("write");
    }
    turns as f64 / start.elapsed().as_secs_f64()
}

/// Installs a Prometheus recorder (without its upkeep thread, which would wake up during
/// the measurement).
fn install_recorder() -> PrometheusHandle {
    let recorder = examples::prometheus::builder().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other recorder");
    botcore::telemetry::describe();
    handle
}

/// The lines of the turn and delivery counters in `handle`'s Prometheus text.
fn counters(handle: &PrometheusHandle) -> Vec<String> {
    let text = handle.render();
    let wanted = ["botcore_turns_total{", "botcore_deliveries_total{"];
    text.lines()
        .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
        .map(str::to_owned)
        .collect()
}

fn main() {
    let Args {
        turns,
        convs,
        mode,
        metrics,
    } = Args::parse();
    let handle = metrics.then(install_recorder);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if mode.is_some() {
            let core = botcore_turns(turns, convs).await;
            println!("botcore echo:   {core:>12.0} turns/s");
        } else {
            // Warm up both paths once.
            botcore_turns(convs * 2, convs).await;
            storage_floor(convs * 2, convs).await;
            let floor = storage_floor(turns, convs).await;
            let core = botcore_turns(turns, convs).await;
            println!("storage floor:  {floor:>12.0} turns/s");
            println!("botcore echo:   {core:>12.0} turns/s");
            println!("ratio botcore/floor: {:.2}", core / floor);
        }
    });
    for line in handle.iter().flat_map(counters) {
        println!("{line}");
    }
}
