//! Two `scale-bot` processes on one Redis, both fed the same 100 conversations at the same
//! moment (1,000 messages each): no update is lost or applied twice, every message is
//! answered exactly once, and each process answers a conversation in the order it got it.
//!
//! Each conversation has one user; each user is in 5 conversations, so user data is shared
//! by turns of different conversations in both processes (compare-and-set conflicts across
//! processes on both records). A turn that runs out of attempts answers `503` (nothing saved,
//! nothing sent) and the test, like a channel, sends the same activity again.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Reply, Store, address, counters, deliver, inspector};
use tokio::sync::Barrier;

const PROCESSES: usize = 2;
const CONVERSATIONS: usize = 100;
const USERS: usize = 20;
/// Messages each process gets per conversation (1,000 per process in all).
const PER_CONVERSATION: usize = 10;

fn user(c: usize) -> String {
    format!("user{}", c % USERS)
}

fn text(c: usize, p: usize, k: usize) -> String {
    format!("c{c}-p{p}-k{k}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_fed_the_same_conversations_lose_no_update_and_answer_once_on_redis() {
    two_processes_fed_the_same_conversations_lose_no_update_and_answer_once(Store::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_fed_the_same_conversations_lose_no_update_and_answer_once_on_postgres() {
    two_processes_fed_the_same_conversations_lose_no_update_and_answer_once(Store::postgres())
        .await;
}

async fn two_processes_fed_the_same_conversations_lose_no_update_and_answer_once(store: Store) {
    let started = Instant::now();
    let channel = FakeChannel::start().await;
    let bots: Vec<BotProcess> = ["a", "b"]
        .iter()
        .map(|name| BotProcess::start(name, &store.bot_args()))
        .collect();
    let http = reqwest::Client::new();

    // One task per (process, conversation) sends its messages in order, each after the
    // previous one was answered; the k-th messages of both processes for one conversation
    // are let go together.
    let mut tasks = Vec::new();
    for c in 0..CONVERSATIONS {
        let together = Arc::new(Barrier::new(PROCESSES));
        for (p, bot) in bots.iter().enumerate() {
            let (http, url, service) = (http.clone(), bot.messages_url(), channel.url().to_owned());
            let together = together.clone();
            tasks.push(tokio::spawn(async move {
                let mut refused = 0;
                for k in 0..PER_CONVERSATION {
                    let t = text(c, p, k);
                    let a = support::activity(&service, &format!("conv{c}"), &user(c), &t, &t);
                    together.wait().await;
                    for (_, error) in deliver(&http, &url, &a).await.refusals {
                        // Only conflicts: the store itself never failed.
                        assert_eq!(error, "state conflict, retry", "{t}");
                        refused += 1;
                    }
                }
                refused
            }));
        }
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await.unwrap();
    }
    let fed = started.elapsed();

    // Every message answered exactly once, by the process it was sent to, in its
    // conversation.
    let total = PROCESSES * CONVERSATIONS * PER_CONVERSATION;
    let arrivals = channel.arrivals();
    assert_eq!(arrivals.len(), total, "one reply per message, no more");
    let mut replies: HashMap<String, Reply> = HashMap::new();
    for a in &arrivals {
        let r = Reply::parse(&a.text).unwrap_or_else(|| panic!("unexpected reply {a:?}"));
        let (c, p) = parse(&r.text);
        assert_eq!(
            r.process, bots[p].name,
            "{} answered by the other process",
            r.text
        );
        assert_eq!(a.conversation, format!("conv{c}"));
        assert_eq!(a.user, user(c));
        assert!(
            a.path.ends_with(&format!("/activities/{}", r.text)),
            "{a:?}"
        );
        let again = replies.insert(r.text.clone(), r);
        assert!(again.is_none(), "{} answered twice", a.text);
    }

    // Per process and conversation, the replies arrived in the order the messages did, and
    // each turn saw a later conversation state than the one before.
    let mut by_stream: BTreeMap<(usize, usize), Vec<&Reply>> = BTreeMap::new();
    for a in &arrivals {
        let r = &replies[&Reply::parse(&a.text).unwrap().text];
        let (c, p) = parse(&r.text);
        by_stream.entry((c, p)).or_default().push(r);
    }
    for ((c, p), stream) in &by_stream {
        let texts: Vec<&str> = stream.iter().map(|r| r.text.as_str()).collect();
        let sent: Vec<String> = (0..PER_CONVERSATION).map(|k| text(*c, *p, k)).collect();
        assert_eq!(
            texts, sent,
            "conversation {c} in process {p} answered out of order"
        );
        let counts: Vec<u64> = stream.iter().map(|r| r.conversation_count).collect();
        assert!(
            counts.is_sorted(),
            "conversation {c}, process {p}: {counts:?}"
        );
    }

    // Serializable turns: the counts the turns of one conversation (or one user) saw are
    // exactly 1..=N across both processes — no two turns saw the same state.
    let mut per_conversation: HashMap<usize, Vec<u64>> = HashMap::new();
    let mut per_user: HashMap<String, Vec<u64>> = HashMap::new();
    for r in replies.values() {
        let (c, _) = parse(&r.text);
        per_conversation
            .entry(c)
            .or_default()
            .push(r.conversation_count);
        per_user.entry(user(c)).or_default().push(r.user_count);
    }
    let conversation_total = (PROCESSES * PER_CONVERSATION) as u64;
    let user_total = conversation_total * (CONVERSATIONS / USERS) as u64;
    for (c, mut seen) in per_conversation {
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=conversation_total).collect::<Vec<_>>(),
            "conv{c}"
        );
    }
    for (u, mut seen) in per_user {
        seen.sort_unstable();
        assert_eq!(seen, (1..=user_total).collect::<Vec<_>>(), "{u}");
    }

    // The stored counters end at the exact totals (read back through botcore's API).
    let reader = inspector(store.storage().await);
    for c in 0..CONVERSATIONS {
        let at = address(channel.url(), &user(c), &format!("conv{c}"));
        let (conversation, user) = counters(&reader, &at).await;
        assert_eq!(conversation.count, conversation_total, "conv{c}");
        assert_eq!(conversation.ids.len(), conversation.count as usize);
        assert_eq!(user.count, user_total, "the user of conv{c}");
        for p in 0..PROCESSES {
            let mine: Vec<&String> = conversation
                .ids
                .iter()
                .filter(|t| parse(t).1 == p)
                .collect();
            let sent: Vec<String> = (0..PER_CONVERSATION).map(|k| text(c, p, k)).collect();
            assert_eq!(mine, sent.iter().collect::<Vec<_>>(), "conv{c} process {p}");
        }
    }
    eprintln!(
        "turns on {}: {total} messages from {PROCESSES} processes in {fed:?} \
         ({refused} answered 503 and sent again); test took {:?}",
        store.kind(),
        started.elapsed()
    );
}

/// Conversation and process of a message text `c{c}-p{p}-k{k}`.
fn parse(text: &str) -> (usize, usize) {
    let mut parts = text.split('-');
    let mut num = |prefix: char| {
        parts
            .next()
            .and_then(|s| s.strip_prefix(prefix))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad message text {text}"))
    };
    (num('c'), num('p'))
}
