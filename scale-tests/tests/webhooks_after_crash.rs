//! The webhooks' answers stay true after a crash: `scale-bot --webhooks` serves
//! `POST /api/standup` and `POST /api/notify` (`examples::webhooks`) on a Redis the test
//! starts. Users write first (so they are in the address book); then a webhook is called
//! while the channel refuses some of them for good (`403 ConversationBlockedByUser`) or cannot
//! be reached for some (their service URL is a second fake channel that went offline). The
//! process is SIGKILLed as soon as the answer arrives and started again; the store and the
//! fake channels then show that every per-recipient result holds:
//!
//! - standup `ok: true` → the stand-up is on the member's stack once and its first question
//!   reached them exactly once (`"pending": true`: once the channel is back, from the
//!   restarted process's outbox sweeper);
//! - standup `ok: false` → no stand-up on the stack (the member's records are as they were)
//!   and no question reached them;
//! - notify `ok: true` → the notification reached them exactly once; `ok: false` → never;
//! - after the restart nothing else arrives (quiet for many sweeper periods), and no outbox
//!   is left.

mod support;

use botcore::{Address, Bot, Storage, StorageExt};
use examples::standup::YESTERDAY;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Store, activity, address, deliver, inspector, post_json, wait_until};

/// How often the bot sweeps the outboxes.
const SWEEP_MS: u64 = 200;
/// No arrival for this long: nothing more is coming (many sweeper periods).
const QUIET: Duration = Duration::from_secs(3);
const TIMEOUT: Duration = Duration::from_secs(60);
/// The qualified id of the stand-up dialog.
const STANDUP: &str = "*:standup";
const NOTIFICATION: &str = "The stand-up moves to 10:00";

/// One webhook result: `{"user", "ok", "error"?, "pending"?}`.
#[derive(Debug, Clone)]
struct Outcome {
    ok: bool,
    pending: bool,
    error: Option<String>,
}

/// A bot process with the webhooks, two fake channels (`near` always reachable, `far` the
/// one that may go offline) and the users who wrote to the bot, each through one of them.
struct World {
    /// The Redis server, kept running for the test.
    _store: Store,
    storage: Arc<dyn Storage>,
    reader: Bot,
    near: FakeChannel,
    far: FakeChannel,
    bot: BotProcess,
    http: reqwest::Client,
    /// The users, by id, with their address and whether they came through `far`.
    users: BTreeMap<String, (Address, bool)>,
}

impl World {
    /// Starts everything; `near_users` write through `near`, `far_users` through `far`.
    async fn start(near_users: &[&str], far_users: &[&str]) -> Self {
        let store = Store::redis();
        let mut args = store.bot_args();
        args.extend(["--webhooks", "--sweep-ms", &SWEEP_MS.to_string()].map(str::to_owned));
        let bot = BotProcess::start("a", &args);
        let (near, far) = (FakeChannel::start().await, FakeChannel::start().await);
        let http = reqwest::Client::new();
        let mut users = BTreeMap::new();
        let all = near_users.iter().map(|u| (u, false));
        for (user, is_far) in all.chain(far_users.iter().map(|u| (u, true))) {
            let channel = if is_far { &far } else { &near };
            let conversation = format!("dm-{user}");
            let hi = activity(
                channel.url(),
                &conversation,
                user,
                &format!("hi-{user}"),
                "hi",
            );
            deliver(&http, &bot.messages_url(), &hi).await;
            let at = address(channel.url(), user, &conversation);
            users.insert(user.to_string(), (at, is_far));
        }
        // Each user got the reply to their message.
        near.wait_for(near_users.len(), Duration::ZERO, TIMEOUT)
            .await;
        far.wait_for(far_users.len(), Duration::ZERO, TIMEOUT).await;
        let storage = store.storage().await;
        let reader = inspector(storage.clone());
        Self {
            _store: store,
            storage,
            reader,
            near,
            far,
            bot,
            http,
            users,
        }
    }

    fn channel(&self, user: &str) -> &FakeChannel {
        if self.users[user].1 {
            &self.far
        } else {
            &self.near
        }
    }

    /// Calls webhook `path` with `body`, SIGKILLs the bot as soon as the answer is in, and
    /// returns the per-recipient results by user.
    async fn call_then_kill(&mut self, path: &str, body: Value) -> BTreeMap<String, Outcome> {
        let url = format!("{}{path}", self.bot.url);
        let (status, answer) = post_json(&self.http, &url, &body).await;
        self.bot.kill();
        assert_eq!(status, 200, "POST {path} answered {status} {answer}");
        eprintln!("POST {path} answered {answer}");
        let mut results = BTreeMap::new();
        for r in answer.as_array().expect("one result per recipient") {
            let outcome = Outcome {
                ok: r["ok"].as_bool().expect("ok"),
                pending: r["pending"].as_bool().unwrap_or(false),
                error: r["error"].as_str().map(str::to_owned),
            };
            let user = r["user"].as_str().expect("user").to_owned();
            assert!(results.insert(user, outcome).is_none(), "two results");
        }
        let users: Vec<&String> = self.users.keys().collect();
        assert_eq!(results.keys().collect::<Vec<_>>(), users, "{answer}");
        results
    }

    /// The texts the channel accepted for `user`, in arrival order.
    fn accepted(&self, user: &str, text: &str) -> usize {
        let accepted = self.channel(user).accepted();
        accepted
            .iter()
            .filter(|a| a.user == user && a.text == text)
            .count()
    }

    /// How many times `dialog` is on `user`'s stack, as stored.
    async fn on_stack(&self, user: &str, dialog: &str) -> usize {
        let at = &self.users[user].0;
        let session = self.reader.proactive(at).load_session().await.unwrap();
        session.stack().iter().filter(|f| f.id == dialog).count()
    }

    /// The stored private conversation, conversation and user records of `user`.
    async fn records(&self, user: &str) -> Vec<Option<Value>> {
        let keys = [
            format!("private/scale/dm-{user}/{user}"),
            format!("conversation/scale/dm-{user}"),
            format!("user/scale/{user}"),
        ];
        let mut records = Vec::new();
        for key in keys {
            let stored = self.storage.read(&key).await.expect("read a record");
            records.push(stored.map(|s| s.value));
        }
        assert!(records[0].is_some(), "{user} has no private record");
        records
    }

    /// The members' addresses, as a standup request lists them.
    fn members(&self) -> Value {
        let members: Vec<Value> = self
            .users
            .values()
            .map(|(a, _)| serde_json::to_value(a).unwrap())
            .collect();
        json!({ "members": members })
    }

    /// Both channels' arrivals so far.
    fn arrivals(&self) -> (usize, usize) {
        (self.near.len(), self.far.len())
    }

    /// Waits until neither channel got anything for [`QUIET`].
    async fn wait_quiet(&self) {
        let mut last = (self.arrivals(), std::time::Instant::now());
        wait_until(TIMEOUT, "both channels quiet", || {
            let now = self.arrivals();
            if now != last.0 {
                last = (now, std::time::Instant::now());
            }
            let quiet = last.1.elapsed() >= QUIET;
            async move { quiet.then_some(()) }
        })
        .await;
    }

    /// No outbox record is left in the store.
    async fn assert_no_outbox(&self) {
        let left = self.storage.list_keys("outbox/", None, 100).await.unwrap();
        assert!(left.is_empty(), "outboxes left: {left:?}");
    }
}

/// Whether `error` is the channel's refusal for good of a blocked user.
fn is_blocked(error: Option<&str>) -> bool {
    error.is_some_and(|e| e.contains("403") && e.contains("ConversationBlockedByUser"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standup_results_hold_after_a_kill_when_the_channel_refuses_some_members_for_good() {
    let mut w = World::start(&["ann", "bob", "cat", "dan", "eve", "fay"], &[]).await;
    let blocked = ["bob", "eve"];
    for user in blocked {
        w.near.refuse_user(user, 403, "ConversationBlockedByUser");
    }
    let mut before = BTreeMap::new();
    for user in w.users.keys() {
        before.insert(user.clone(), w.records(user).await);
    }

    let members = w.members();
    let results = w.call_then_kill("/api/standup", members).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let refused = blocked.contains(&user.as_str());
        assert_eq!(r.ok, !refused, "{user}: {r:?}");
        assert!(!r.pending, "{user}: {r:?}");
        if refused {
            assert!(is_blocked(r.error.as_deref()), "{user}: {r:?}");
        }
    }

    w.bot.restart();
    w.wait_quiet().await;
    assert_eq!(w.arrivals(), at_kill, "something arrived after the restart");
    for (user, r) in &results {
        let on_stack = w.on_stack(user, STANDUP).await;
        let asked = w.accepted(user, YESTERDAY);
        if r.ok {
            assert_eq!(
                on_stack, 1,
                "{user} answered ok: the stand-up is on the stack"
            );
            assert_eq!(asked, 1, "{user} answered ok: asked exactly once");
        } else {
            assert_eq!(
                on_stack, 0,
                "{user} answered ok:false: no stand-up on the stack"
            );
            assert_eq!(asked, 0, "{user} answered ok:false: never asked");
            let after = w.records(user).await;
            assert_eq!(
                after, before[user],
                "{user}: records changed by a refused stand-up"
            );
        }
    }
    w.assert_no_outbox().await;
    assert!(w.bot.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standup_results_hold_after_a_kill_when_the_channel_is_unreachable_for_some_members() {
    let mut w = World::start(&["ann", "bob", "cat"], &["dan", "eve", "fay"]).await;
    w.far.go_offline().await;

    let members = w.members();
    let results = w.call_then_kill("/api/standup", members).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let far = w.users[user].1;
        assert!(r.ok, "{user}: {r:?}");
        assert_eq!(
            r.pending, far,
            "{user}: pending only where unreachable: {r:?}"
        );
        assert_eq!(r.error, None, "{user}: {r:?}");
    }
    // Already true with the process dead: every stand-up is saved with its message.
    for user in results.keys() {
        assert_eq!(w.on_stack(user, STANDUP).await, 1, "{user}");
    }

    w.bot.restart();
    w.far.recover().await;
    let far_users: Vec<&String> = w.users.iter().filter(|u| u.1.1).map(|u| u.0).collect();
    wait_until(TIMEOUT, "the pending questions reach the far users", || {
        let done = far_users.iter().all(|u| w.accepted(u, YESTERDAY) >= 1);
        async move { done.then_some(()) }
    })
    .await;
    w.wait_quiet().await;
    assert_eq!(
        w.near.len(),
        at_kill.0,
        "the near channel got more after the restart"
    );
    for user in results.keys() {
        assert_eq!(w.accepted(user, YESTERDAY), 1, "{user}: asked exactly once");
        assert_eq!(
            w.on_stack(user, STANDUP).await,
            1,
            "{user}: the stand-up once"
        );
    }
    // The far channel got nothing but the pending questions after the restart.
    let late: Vec<String> = w.far.arrivals()[at_kill.1..]
        .iter()
        .map(|a| format!("{} {} {}", a.user, a.status, a.text))
        .collect();
    assert!(
        late.iter().all(|a| a.ends_with(YESTERDAY)),
        "more than the pending questions: {late:?}"
    );
    w.assert_no_outbox().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_results_hold_after_a_kill() {
    let mut w = World::start(&["ann", "bob", "cat", "dan"], &["eve", "fay"]).await;
    let blocked = "bob";
    w.near
        .refuse_user(blocked, 403, "ConversationBlockedByUser");
    w.far.go_offline().await;

    let body = json!({ "notification": NOTIFICATION });
    let results = w.call_then_kill("/api/notify", body).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let reachable = user != blocked && !w.users[user].1;
        assert_eq!(r.ok, reachable, "{user}: {r:?}");
        assert!(
            !r.pending,
            "{user}: ad hoc messages are never pending: {r:?}"
        );
        if user == blocked {
            assert!(is_blocked(r.error.as_deref()), "{user}: {r:?}");
        }
    }

    w.bot.restart();
    w.far.recover().await;
    w.wait_quiet().await;
    assert_eq!(w.arrivals(), at_kill, "something arrived after the restart");
    for (user, r) in &results {
        let got = w.accepted(user, NOTIFICATION);
        assert_eq!(got, usize::from(r.ok), "{user} answered ok={}", r.ok);
    }
    w.assert_no_outbox().await;
}
