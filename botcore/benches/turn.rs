//! Whole turns through the mock channel and in-memory storage, on a current-thread runtime:
//!
//! - `turn/echo`: a user's message answered by a one-step dialog that ends;
//! - `turn/waterfall_step`: the answer to a text prompt resumes a waterfall, whose next step
//!   asks the next prompt;
//! - `turn/proactive_interrupt`: `bot.proactive(&addr).begin("notice").interrupt()`, a dialog
//!   that sends one message and ends, on top of the user's stack.
//!
//! The turns go round [`CONVERSATIONS`] conversations. `cargo bench -p botcore --bench turn`.

use botcore::{Address, Bot, BotBuilder, Message, Waterfall, prompts};
use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use transport_mock::TestBot;

/// Conversations the turns go round.
const CONVERSATIONS: usize = 256;
/// The channel's log is cleared (outside the timed part) once it holds this many messages.
const LOG_LIMIT: usize = 4_096;
/// Steps of the waterfall of `turn/waterfall_step` (its last one starts it over).
const STEPS: usize = 64;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The users' addresses, each in a conversation of its own.
fn addresses(test: &TestBot) -> Vec<Address> {
    (0..CONVERSATIONS)
        .map(|i| test.user(&format!("user-{i}")).address)
        .collect()
}

/// A user's message with a fresh activity id.
fn message(to: &Address, n: usize, text: &str) -> Message {
    let mut a = to.clone();
    a.id = Some(format!("m{n}"));
    Message::to(&a).text(text)
}

/// Times `iters` runs of `turn`, going round the addresses.
async fn timed<F>(test: &TestBot, addrs: &[Address], iters: u64, mut turn: F) -> Duration
where
    F: AsyncFnMut(&Address, usize),
{
    let mut total = Duration::ZERO;
    for n in 0..iters as usize {
        if test.channel.sent_len() >= LOG_LIMIT {
            test.channel.clear();
        }
        let to = &addrs[n % addrs.len()];
        let start = Instant::now();
        turn(to, n).await;
        total += start.elapsed();
    }
    total
}

/// Sends "hi" once in every conversation.
async fn greet(test: &TestBot, addrs: &[Address]) {
    for (n, a) in addrs.iter().enumerate() {
        test.bot.receive(message(a, n, "hi")).await.expect("turn");
    }
    test.channel.clear();
}

fn echo_bot() -> BotBuilder {
    Bot::builder().dialog_fn("/", async |s, _| {
        s.send(format!("echo: {}", s.text()));
        s.end_dialog();
    })
}

/// Each step answers the prompt before it by asking the next one; the last starts over.
fn questions() -> Waterfall {
    let mut w = Waterfall::new();
    for _ in 1..STEPS {
        w = w.step(async |s, _| prompts::text(s, "And then?"));
    }
    w.step(async |s, _| s.replace_dialog("/"))
}

fn echo(c: &mut Criterion) {
    let rt = runtime();
    let test = TestBot::new(echo_bot());
    let addrs = addresses(&test);
    c.bench_function("turn/echo", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            timed(&test, &addrs, iters, async |to, n| {
                test.bot
                    .receive(message(to, n, "hello"))
                    .await
                    .expect("turn");
            })
        })
    });
}

fn waterfall_step(c: &mut Criterion) {
    let rt = runtime();
    let test = TestBot::new(Bot::builder().dialog("/", questions()));
    let addrs = addresses(&test);
    rt.block_on(greet(&test, &addrs));
    c.bench_function("turn/waterfall_step", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            timed(&test, &addrs, iters, async |to, n| {
                test.bot.receive(message(to, n, "Ann")).await.expect("turn");
            })
        })
    });
}

fn proactive_interrupt(c: &mut Criterion) {
    let rt = runtime();
    let builder = echo_bot().dialog_fn("notice", async |s, _| {
        s.send("A quick notice.");
        s.end_dialog();
    });
    let test = TestBot::new(builder);
    let addrs = addresses(&test);
    // Proactive dialogs go to users who wrote before.
    rt.block_on(greet(&test, &addrs));
    c.bench_function("turn/proactive_interrupt", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            timed(&test, &addrs, iters, async |to, _| {
                let bot = &test.bot;
                bot.proactive(to)
                    .begin("notice")
                    .interrupt()
                    .await
                    .expect("turn");
            })
        })
    });
}

criterion_group!(benches, echo, waterfall_step, proactive_interrupt);
criterion_main!(benches);
