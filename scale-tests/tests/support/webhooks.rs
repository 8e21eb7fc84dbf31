//! A `scale-bot --webhooks` process on a Redis of its own, two fake channels (`near`, always
//! reachable, and `far`, a second service URL that may go offline) and users who wrote to the
//! bot through one of them; calls a webhook, SIGKILLs the bot as soon as the answer is in,
//! and reads back what the store and the channels say about each recipient.

use super::bot::BotProcess;
use super::channel::FakeChannel;
use super::{Store, activity, address, deliver, inspector, post_json, try_post, wait_until};
use botcore::{Address, Bot, Storage, StorageExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the bot sweeps the outboxes.
pub const SWEEP_MS: u64 = 200;
/// No arrival for this long: nothing more is coming (many sweeper periods).
pub const QUIET: Duration = Duration::from_secs(3);
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The qualified id of the stand-up dialog.
pub const STANDUP: &str = "*:standup";
pub const NOTIFICATION: &str = "The stand-up moves to 10:00";

/// One webhook result: `{"user", "ok", "error"?, "pending"?}`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    pub pending: bool,
    pub error: Option<String>,
}

/// A bot process with the webhooks, two fake channels (`near` always reachable, `far` the
/// one that may go offline) and the users who wrote to the bot, each through one of them.
pub struct World {
    /// The Redis server, kept running for the test.
    _store: Store,
    pub storage: Arc<dyn Storage>,
    pub reader: Bot,
    pub near: FakeChannel,
    pub far: FakeChannel,
    pub bot: BotProcess,
    pub http: reqwest::Client,
    /// The users, by id, with their address and whether they came through `far`.
    pub users: BTreeMap<String, (Address, bool)>,
}

impl World {
    /// Starts everything; `near_users` write through `near`, `far_users` through `far`; the
    /// bot sweeps its outboxes every [`SWEEP_MS`].
    pub async fn start(near_users: &[&str], far_users: &[&str]) -> Self {
        Self::start_sweeping(near_users, far_users, SWEEP_MS).await
    }

    /// [`Self::start`] with the bot sweeping every `sweep_ms` (`0`: never).
    pub async fn start_sweeping(near_users: &[&str], far_users: &[&str], sweep_ms: u64) -> Self {
        let store = Store::redis();
        let mut args = store.bot_args();
        args.extend(["--webhooks", "--sweep-ms", &sweep_ms.to_string()].map(str::to_owned));
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

    pub fn channel(&self, user: &str) -> &FakeChannel {
        if self.users[user].1 {
            &self.far
        } else {
            &self.near
        }
    }

    /// Calls webhook `path` with `body`, SIGKILLs the bot as soon as the answer is in, and
    /// returns the per-recipient results by user.
    pub async fn call_then_kill(&mut self, path: &str, body: Value) -> BTreeMap<String, Outcome> {
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
    pub fn accepted(&self, user: &str, text: &str) -> usize {
        let accepted = self.channel(user).accepted();
        accepted
            .iter()
            .filter(|a| a.user == user && a.text == text)
            .count()
    }

    /// How many times `dialog` is on `user`'s stack, as stored.
    pub async fn on_stack(&self, user: &str, dialog: &str) -> usize {
        let at = &self.users[user].0;
        let session = self.reader.proactive(at).load_session().await.unwrap();
        session.stack().iter().filter(|f| f.id == dialog).count()
    }

    /// The stored private conversation, conversation and user records of `user`.
    pub async fn records(&self, user: &str) -> Vec<Option<Value>> {
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

    /// Every user's address, as a standup request lists its members.
    pub fn members(&self) -> Value {
        let members: Vec<Value> = self
            .users
            .values()
            .map(|(a, _)| serde_json::to_value(a).unwrap())
            .collect();
        json!({ "members": members })
    }

    /// `user` writes `text` (activity id `id`) once, as a channel that does not resend:
    /// the status the bot answered (`503`: the reply waits in the outbox).
    pub async fn write_once(&self, user: &str, id: &str, text: &str) -> u16 {
        let (at, _) = &self.users[user];
        let conversation = at.conversation_id().unwrap();
        let a = activity(&at.service_url, conversation, user, id, text);
        let url = self.bot.messages_url();
        let (status, _) = try_post(&self.http, &url, &a)
            .await
            .expect("the bot answers");
        status
    }

    /// Both channels' arrivals so far.
    pub fn arrivals(&self) -> (usize, usize) {
        (self.near.len(), self.far.len())
    }

    /// Waits until neither channel got anything for [`QUIET`].
    pub async fn wait_quiet(&self) {
        let mut last = (self.arrivals(), Instant::now());
        wait_until(TIMEOUT, "both channels quiet", || {
            let now = self.arrivals();
            if now != last.0 {
                last = (now, Instant::now());
            }
            let quiet = last.1.elapsed() >= QUIET;
            async move { quiet.then_some(()) }
        })
        .await;
    }

    /// No outbox record is left in the store.
    pub async fn assert_no_outbox(&self) {
        let left = self.storage.list_keys("outbox/", None, 100).await.unwrap();
        assert!(left.is_empty(), "outboxes left: {left:?}");
    }
}

/// Whether `error` is the channel's refusal for good of a blocked user.
pub fn is_blocked(error: Option<&str>) -> bool {
    error.is_some_and(|e| e.contains("403") && e.contains("ConversationBlockedByUser"))
}
