//! Interop with a real Bot Framework peer: the npm package `offline-directline` (a Direct Line
//! and Bot Connector emulator, installed from `interop/package-lock.json`) sits between a
//! Direct Line client — this test, over plain HTTP — and a botcore bot behind the HTTP
//! transport. Everything listens on 127.0.0.1 on free ports.
//!
//! Needs `node` and `npm`; runs `npm ci` in `interop/` when its packages are not installed as
//! locked.

mod support;

use examples::survey;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{interop_dir, serve_bot, start, start_peer};

/// How long a bot reply may take to show up at the client.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// A Direct Line 3.0 client over plain HTTP (polling `GET .../activities?watermark=`).
struct DirectLine {
    http: reqwest::Client,
    base: String,
    conversation: String,
    watermark: Option<u64>,
    seen: Vec<Value>,
}

const USER: &str = "user1";

impl DirectLine {
    async fn start(peer: &str) -> Self {
        let http = reqwest::Client::new();
        let base = format!("{peer}/directline");
        let resp = http
            .post(format!("{base}/conversations"))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "start conversation: {}",
            resp.status()
        );
        let body: Value = resp.json().await.unwrap();
        let conversation = body["conversationId"]
            .as_str()
            .expect("conversationId")
            .to_owned();
        Self {
            http,
            base,
            conversation,
            watermark: None,
            seen: Vec::new(),
        }
    }

    /// Sends a message; returns the activity id the peer gave it.
    async fn say(&self, text: &str) -> String {
        let activity = json!({"type": "message", "from": {"id": USER, "name": "Test User"}, "text": text, "locale": "en-US"});
        let url = format!(
            "{}/conversations/{}/activities",
            self.base, self.conversation
        );
        let resp = self.http.post(url).json(&activity).send().await.unwrap();
        assert_eq!(resp.status(), 200, "the bot should answer 200 to {text:?}");
        resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for the next bot activity with this text, failing with the transcript otherwise.
    async fn expect(&mut self, text: &str) -> Value {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            while let Some(i) = self.seen.iter().position(|a| a["from"]["id"] != USER) {
                let a = self.seen.remove(i);
                if a["text"] == text {
                    return a;
                }
                // Earlier bot activities in order are part of the transcript: skip them only
                // if they are not messages the test cares about.
                assert_ne!(
                    a["type"], "message",
                    "expected {text:?}, got {:?} first",
                    a["text"]
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} from the bot within {REPLY_TIMEOUT:?}"
            );
            let mut url = format!(
                "{}/conversations/{}/activities",
                self.base, self.conversation
            );
            if let Some(w) = self.watermark {
                url.push_str(&format!("?watermark={w}"));
            }
            let page: Value = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            self.watermark = page["watermark"].as_u64();
            self.seen
                .extend(page["activities"].as_array().cloned().unwrap_or_default());
            if self.seen.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_bot_echo_waterfall_and_notify_through_offline_directline() {
    let mut bot_cmd = Command::new(env!("CARGO_BIN_EXE_bench-bot"));
    bot_cmd
        .env("RUST_LOG", "error")
        .args(["--addr", "127.0.0.1:0", "--storage", "memory"]);
    let (_bot, bot_url) = start(bot_cmd, "bench-bot listening on");
    let bot_base = bot_url.trim_end_matches("/api/messages").to_owned();
    let (_peer, peer) = start_peer(&bot_url);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{bot_base}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    let mut dl = DirectLine::start(&peer).await;
    let hi = dl.say("hi").await;
    let echo = dl.expect("echo: hi").await;
    assert_eq!(
        echo["replyToId"], hi,
        "the echo replies to the incoming activity"
    );
    assert_eq!(echo["recipient"]["id"], USER);
    assert_eq!(echo["conversation"]["id"], dl.conversation);

    dl.say("profile").await;
    let prompt = dl.expect("What is your name?").await;
    assert_eq!(prompt["inputHint"], "expectingInput");
    dl.say("Alice").await;
    dl.expect("How old are you?").await;
    dl.say("42").await;
    dl.expect("Thanks Alice, you are 42.").await;

    let count: Value = http
        .get(format!("{bot_base}/api/addresses"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, json!({"count": 1}));
    let notify = http
        .post(format!("{bot_base}/api/notify"))
        .json(&json!({"text": "proactive hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        notify.json::<Value>().await.unwrap(),
        json!({"addresses": 1})
    );
    let proactive = dl.expect("proactive hello").await;
    assert_eq!(
        proactive.get("replyToId"),
        None,
        "a proactive message replies to nothing"
    );
    assert_eq!(proactive["recipient"]["id"], USER);
}

/// The Node Direct Line client in `interop/` runs the same flow against the bench bot: a
/// second, independent client implementation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_direct_line_client_passes_against_bench_bot() {
    let mut bot_cmd = Command::new(env!("CARGO_BIN_EXE_bench-bot"));
    bot_cmd
        .env("RUST_LOG", "error")
        .args(["--addr", "127.0.0.1:0"]);
    let (_bot, bot_url) = start(bot_cmd, "bench-bot listening on");
    let (_peer, peer) = start_peer(&bot_url);
    let notify = bot_url.replace("/api/messages", "/api/notify");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("dl-client.js")
            .args(["--dl", &format!("{peer}/directline"), "--notify", &notify])
            .current_dir(interop_dir())
            .output()
            .expect("node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("bot: Thanks Alice, you are 42.") && stdout.ends_with("PASS\n"),
        "{stdout}"
    );
}

/// The survey that interrupts, over the real peer: the scheduler pushes the survey on top of
/// the user's order five seconds in; "done" resumes the order at its unanswered prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_interrupts_and_resumes_through_offline_directline() {
    let bot = serve_bot(survey::bot(None)).await;
    let (_peer, peer) = start_peer(&bot.url);

    let mut dl = DirectLine::start(&peer).await;
    dl.say("hi").await;
    dl.expect(survey::ANNOUNCE).await;
    // offline-directline's channel id is "emulator": the choices come as buttons.
    let size = dl.expect(survey::SIZE_PROMPT).await;
    let buttons: Vec<_> = size["suggestedActions"]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["type"].clone(), a["value"].clone()))
        .collect();
    let im_back = |v: &str| (json!("imBack"), json!(v));
    assert_eq!(buttons, survey::SIZES.map(im_back), "{size}");
    dl.say("large").await;
    dl.expect("Which topping?").await;
    let interrupted = dl.expect(survey::SURVEY).await;
    assert_eq!(
        interrupted.get("replyToId"),
        None,
        "the survey arrives proactively"
    );
    dl.say("what?").await;
    dl.expect(survey::SURVEY).await;
    dl.say("done").await;
    dl.expect(survey::BACK).await;
    dl.expect("Which topping?").await;
    dl.say("cheese").await;
    dl.expect("Your order: a large pizza with cheese.").await;
}
