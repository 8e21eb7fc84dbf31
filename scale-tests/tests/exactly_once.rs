//! Exactly-once turns, without crashes: the channel delivering the same activity (the same
//! `id`) again, and replies the channel cannot take.
//!
//! - The same activity posted twice — one copy after the other, or both at once — to one
//!   `scale-bot` process, or to two processes on one store (Redis, PostgreSQL): one turn (the
//!   counters in the one reply and in the stored state advance once), one reply at the
//!   channel, the same status (`200`) for both copies. An activity without an id runs each
//!   time, and an id seen in one conversation is a new activity in another.
//! - A reply the channel does not take — `503`, `429`, connection refused — is answered
//!   `503`; when the channel sends the same activity again after it recovers, the reply is
//!   delivered once, the answer is `200`, and the turn ran once. A reply refused for good
//!   (`403`, `404`) is answered `502`; it is dropped, and the resend runs nothing again.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Store, accepted_replies, activity, address, counters, inspector, post_json};

const CONVERSATIONS: usize = 10;
/// Messages per conversation, each posted twice.
const MESSAGES: usize = 5;
/// How long the channel takes to answer: long enough for a copy to come in while the first
/// one's reply is still being delivered.
const ROUND_TRIP: Duration = Duration::from_millis(20);
/// How long the channel must stay quiet before the test looks for replies sent twice.
const QUIET: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_secs(30);

fn conversation(c: usize) -> String {
    format!("conv{c}")
}

fn user(c: usize) -> String {
    format!("u{c}")
}

/// How the two copies of an activity are posted.
#[derive(Clone, Copy, Debug)]
enum Copies {
    /// The second once the first was answered.
    InARow,
    /// Both at the same moment.
    AtOnce,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_twice_in_a_row_to_one_process_runs_one_turn() {
    posted_twice(Store::redis(), 1, Copies::InARow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_twice_at_once_to_one_process_runs_one_turn() {
    posted_twice(Store::redis(), 1, Copies::AtOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_to_two_processes_in_a_row_runs_one_turn_on_redis() {
    posted_twice(Store::redis(), 2, Copies::InARow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_to_two_processes_at_once_runs_one_turn_on_redis() {
    posted_twice(Store::redis(), 2, Copies::AtOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_to_two_processes_in_a_row_runs_one_turn_on_postgres() {
    posted_twice(Store::postgres(), 2, Copies::InARow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activity_posted_to_two_processes_at_once_runs_one_turn_on_postgres() {
    posted_twice(Store::postgres(), 2, Copies::AtOnce).await;
}

/// `CONVERSATIONS` conversations in parallel, each `MESSAGES` messages one after another,
/// each message posted twice: to the first process, then (or at the same time) to the last.
async fn posted_twice(store: Store, processes: usize, copies: Copies) {
    let started = Instant::now();
    let channel = FakeChannel::start().await;
    channel.set_delay(ROUND_TRIP);
    let bots: Vec<BotProcess> = ["a", "b"][..processes]
        .iter()
        .map(|name| BotProcess::start(name, &store.bot_args()))
        .collect();
    let (first, second) = (bots[0].messages_url(), bots[processes - 1].messages_url());
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..CONVERSATIONS)
        .map(|c| {
            let (http, first, second) = (http.clone(), first.clone(), second.clone());
            let service = channel.url().to_owned();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for k in 0..MESSAGES {
                    let id = format!("c{c}-k{k}");
                    let a = activity(&service, &conversation(c), &user(c), &id, &id);
                    let (x, y) = match copies {
                        Copies::InARow => {
                            let x = post_json(&http, &first, &a).await;
                            (x, post_json(&http, &second, &a).await)
                        }
                        Copies::AtOnce => {
                            tokio::join!(
                                post_json(&http, &first, &a),
                                post_json(&http, &second, &a)
                            )
                        }
                    };
                    answers.push((id, x, y));
                }
                answers
            })
        })
        .collect();
    for t in tasks {
        for (id, (x, body_x), (y, body_y)) in t.await.unwrap() {
            assert_eq!(
                (x, y),
                (200, 200),
                "{id} posted twice ({copies:?}): answers {body_x} and {body_y}"
            );
        }
    }

    // Any reply sent again would come in meanwhile.
    let total = CONVERSATIONS * MESSAGES;
    channel.wait_for(total, QUIET, TIMEOUT).await;
    let replies = accepted_replies(&channel);
    for c in 0..CONVERSATIONS {
        for k in 0..MESSAGES {
            let id = format!("c{c}-k{k}");
            let sent = replies.get(&id).map_or(&[][..], Vec::as_slice);
            let texts: Vec<&String> = sent.iter().map(|(_, text)| text).collect();
            assert_eq!(texts.len(), 1, "{id} posted twice ({copies:?}): {texts:?}");
            let r = &sent[0].0;
            let n = k as u64 + 1;
            assert_eq!(
                (r.conversation_count, r.user_count),
                (n, n),
                "{id}: a turn ran twice"
            );
        }
    }
    assert_eq!(channel.len(), total, "{:?}", channel.arrivals());
    let reader = inspector(store.storage().await);
    for c in 0..CONVERSATIONS {
        let at = address(channel.url(), &user(c), &conversation(c));
        let (stored, user) = counters(&reader, &at).await;
        let sent: Vec<String> = (0..MESSAGES).map(|k| format!("c{c}-k{k}")).collect();
        assert_eq!(stored.ids, sent, "conv{c}");
        assert_eq!(
            (stored.count, user.count),
            (MESSAGES as u64, MESSAGES as u64)
        );
    }
    eprintln!(
        "{total} activities posted twice ({copies:?}) to {processes} process(es) on {}: \
         {total} turns, {total} replies; test took {:?}",
        store.kind(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_activity_without_an_id_runs_each_time_it_is_posted() {
    let store = Store::redis();
    let channel = FakeChannel::start().await;
    let bot = BotProcess::start("a", &store.bot_args());
    let http = reqwest::Client::new();
    let mut a = activity(channel.url(), "conv0", "u0", "", "hello");
    a.as_object_mut().unwrap().remove("id");
    for _ in 0..2 {
        let (status, body) = post_json(&http, &bot.messages_url(), &a).await;
        assert_eq!(status, 200, "{body}");
    }
    let texts: Vec<String> = channel.accepted().into_iter().map(|a| a.text).collect();
    assert_eq!(texts, ["a hello c=1 u=1", "a hello c=2 u=2"]);
    let reader = inspector(store.storage().await);
    let (stored, _) = counters(&reader, &address(channel.url(), "u0", "conv0")).await;
    assert_eq!(stored.count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_activity_id_seen_in_one_conversation_is_a_new_activity_in_another() {
    let store = Store::redis();
    let channel = FakeChannel::start().await;
    let bot = BotProcess::start("a", &store.bot_args());
    let http = reqwest::Client::new();
    for c in 0..2 {
        let a = activity(channel.url(), &conversation(c), &user(c), "m1", "m1");
        let (status, body) = post_json(&http, &bot.messages_url(), &a).await;
        assert_eq!(status, 200, "{body}");
    }
    let texts: Vec<String> = channel.accepted().into_iter().map(|a| a.text).collect();
    assert_eq!(texts, ["a m1 c=1 u=1", "a m1 c=1 u=1"]);
    let reader = inspector(store.storage().await);
    for c in 0..2 {
        let at = address(channel.url(), &user(c), &conversation(c));
        assert_eq!(counters(&reader, &at).await.0.count, 1, "conv{c}");
    }
}

/// How the channel fails to take a reply.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Every request answered with this status.
    Status(u16),
    /// Not listening: connections are refused.
    Offline,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_channel_answers_503_is_answered_503_and_delivered_once_on_the_resend() {
    reply_pending_until_the_channel_recovers(Failure::Status(503)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_channel_throttles_is_answered_503_and_delivered_once_on_the_resend() {
    reply_pending_until_the_channel_recovers(Failure::Status(429)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_to_an_unreachable_channel_is_answered_503_and_delivered_once_on_the_resend() {
    reply_pending_until_the_channel_recovers(Failure::Offline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_channel_refuses_with_403_is_answered_502_and_not_run_again() {
    reply_refused_for_good(403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_channel_refuses_with_404_is_answered_502_and_not_run_again() {
    reply_refused_for_good(404).await;
}

/// One process on Redis, a conversation with one message answered; then the channel fails
/// (`failure`) while the next message comes in, twice (the channel's resend while it is
/// still failing), and recovers before the third copy.
async fn reply_pending_until_the_channel_recovers(failure: Failure) {
    let (store, channel, bot, http) = one_conversation().await;
    let url = bot.messages_url();
    let a = activity(channel.url(), "conv0", "u0", "c0-k1", "c0-k1");
    match failure {
        Failure::Status(status) => channel.refuse_with(status),
        Failure::Offline => channel.go_offline().await,
    }
    for copy in ["first", "second"] {
        let (status, body) = post_json(&http, &url, &a).await;
        assert_eq!(
            status, 503,
            "the {copy} copy while the channel fails ({failure:?}): {body}"
        );
    }
    assert!(!accepted_replies(&channel).contains_key("c0-k1"));
    let refused = channel.len() - 1;
    channel.recover().await;
    let (status, body) = post_json(&http, &url, &a).await;
    assert_eq!(
        status, 200,
        "the copy after the channel recovered ({failure:?}): {body}"
    );
    channel.wait_for(channel.len(), QUIET, TIMEOUT).await;
    let texts = reply_texts(&channel, "c0-k1");
    assert_eq!(texts, ["a c0-k1 c=2 u=2"], "{failure:?}");
    assert_ran_once_then_next(&store, &channel, &http, &url).await;
    eprintln!("{failure:?}: 503, 503, then 200; the channel refused {refused} requests; one reply");
}

/// As above, but the channel refuses the reply for good: `502`; the resend, once the channel
/// would take it, neither runs the turn again nor sends the refused reply (it was dropped).
async fn reply_refused_for_good(status: u16) {
    let (store, channel, bot, http) = one_conversation().await;
    let url = bot.messages_url();
    let a = activity(channel.url(), "conv0", "u0", "c0-k1", "c0-k1");
    channel.refuse_with(status);
    let (first, body) = post_json(&http, &url, &a).await;
    assert_eq!(
        first, 502,
        "the channel refused the reply with {status}: {body}"
    );
    channel.recover().await;
    let (again, body) = post_json(&http, &url, &a).await;
    channel.wait_for(channel.len(), QUIET, TIMEOUT).await;
    // The refusal was reported; the refused reply is dropped, not sent again.
    assert!(
        matches!(again, 200 | 502),
        "the resend after a {status} was answered {again} {body}"
    );
    let texts = reply_texts(&channel, "c0-k1");
    assert!(
        texts.is_empty(),
        "a reply refused for good was sent again: {texts:?}"
    );
    assert_eq!(channel.len(), 2, "{:?}", channel.arrivals());
    assert_ran_once_then_next(&store, &channel, &http, &url).await;
    eprintln!("{status}: 502, then {again} on the resend; the refused reply was dropped");
}

/// Redis, a channel, one process, and conversation `conv0` with its first message answered.
async fn one_conversation() -> (Store, FakeChannel, BotProcess, reqwest::Client) {
    let store = Store::redis();
    let channel = FakeChannel::start().await;
    let bot = BotProcess::start("a", &store.bot_args());
    let http = reqwest::Client::new();
    let a = activity(channel.url(), "conv0", "u0", "c0-k0", "c0-k0");
    let (status, body) = post_json(&http, &bot.messages_url(), &a).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply_texts(&channel, "c0-k0"), ["a c0-k0 c=1 u=1"]);
    (store, channel, bot, http)
}

/// The replies the channel accepted for message `id`.
fn reply_texts(channel: &FakeChannel, id: &str) -> Vec<String> {
    let replies = accepted_replies(channel);
    replies
        .get(id)
        .map(|v| v.iter().map(|(_, text)| text.clone()).collect())
        .unwrap_or_default()
}

/// `conv0` stored `c0-k0`, `c0-k1` once each; its next message is counted third.
async fn assert_ran_once_then_next(
    store: &Store,
    channel: &FakeChannel,
    http: &reqwest::Client,
    url: &str,
) {
    let reader = inspector(store.storage().await);
    let at = address(channel.url(), "u0", "conv0");
    let (stored, user) = counters(&reader, &at).await;
    assert_eq!(
        stored.ids,
        ["c0-k0", "c0-k1"],
        "the turn ran more than once"
    );
    assert_eq!((stored.count, user.count), (2, 2));
    let next = activity(channel.url(), "conv0", "u0", "c0-k2", "c0-k2");
    let (status, body): (u16, Value) = post_json(http, url, &next).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply_texts(channel, "c0-k2"), ["a c0-k2 c=3 u=3"]);
}

/// Two processes on Redis, no sweep: a reply left pending by a `503` channel, then the
/// activity sent again to both processes at once (a channel retrying in parallel) while the
/// channel answers slowly: both answer `200` and the reply goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_reply_resent_to_two_processes_at_once_is_delivered_once() {
    let store = Store::redis();
    let channel = FakeChannel::start().await;
    let mut args = store.bot_args();
    args.extend(["--sweep-ms".into(), "0".into()]);
    let bots = [BotProcess::start("a", &args), BotProcess::start("b", &args)];
    let (a, b) = (bots[0].messages_url(), bots[1].messages_url());
    let http = reqwest::Client::new();
    for c in 0..CONVERSATIONS {
        let id = format!("c{c}-k0");
        let activity = activity(channel.url(), &conversation(c), &user(c), &id, &id);
        channel.set_delay(Duration::ZERO);
        channel.refuse_with(503);
        let (status, body) = post_json(&http, &a, &activity).await;
        assert_eq!(status, 503, "{id} while the channel refuses: {body}");
        channel.recover().await;
        channel.set_delay(ROUND_TRIP);
        let ((x, _), (y, _)) = tokio::join!(
            post_json(&http, &a, &activity),
            post_json(&http, &b, &activity)
        );
        assert_eq!((x, y), (200, 200), "{id} resent to both processes");
        channel.wait_for(0, QUIET, TIMEOUT).await;
        assert_eq!(reply_texts(&channel, &id), [format!("a {id} c=1 u=1")]);
    }
    let reader = inspector(store.storage().await);
    for c in 0..CONVERSATIONS {
        let at = address(channel.url(), &user(c), &conversation(c));
        assert_eq!(counters(&reader, &at).await.0.count, 1, "conv{c}");
    }
}
