//! The demo bot in the official Bot Framework Web Chat, in a real browser: Web Chat's prebuilt
//! bundle (npm `botframework-webchat`) and a small page, served from 127.0.0.1, run in headless
//! Chromium (Debian's `/usr/bin/chromium`, driven by npm `playwright-core`; no browser is
//! downloaded) and talk Direct Line to `offline-directline`, which forwards to the demo's
//! dialogs behind the HTTP transport. `interop/webchat-test.mjs` does what a person would do
//! and checks what they would see, one line per check:
//!
//! - `connect`: Web Chat loads and starts a conversation;
//! - `hero-card`, `adaptive-card`: "card" shows a hero card (title, button) and an Adaptive
//!   Card (text input, choice, submit button);
//! - `card-submit`: filling in the Adaptive Card and pressing its button reaches the bot,
//!   which answers with the submitted values;
//! - `order-starts`, `size-buttons`: "hi" starts the pizza order; the size is offered as
//!   buttons, and clicking one answers the prompt;
//! - `survey-interrupts`, `survey-resumes`: five seconds in, the survey takes over on its
//!   own; "done" hands back and the unanswered question is asked again; the order completes;
//! - `timestamps`: every bot message carries a timestamp and Web Chat shows a time under it.
//!
//! Screenshots and the activities Web Chat received go to `target/webchat-artifacts/`. When
//! Chromium is missing or cannot start, the test fails and says so: it never skips.

mod support;

use examples::{cards, survey};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{interop_dir, serve_bot, start_peer_with};

/// Every check `webchat-test.mjs` reports; each must pass.
const CHECKS: [&str; 9] = [
    "connect",
    "hero-card",
    "adaptive-card",
    "card-submit",
    "order-starts",
    "size-buttons",
    "survey-interrupts",
    "survey-resumes",
    "timestamps",
];

/// How long the browser part may take in all (it bounds each wait itself, at 15 s).
const BROWSER_DEADLINE: Duration = Duration::from_secs(110);

/// Debian's Chromium, or the one `WEBCHAT_CHROMIUM` names.
fn chromium() -> PathBuf {
    std::env::var_os("WEBCHAT_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

/// `target/webchat-artifacts/` (under `CARGO_TARGET_DIR` when set), emptied of earlier runs.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let dir = target.join("webchat-artifacts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The bot's wording, from the examples crate, for the browser script to look for.
fn texts() -> Value {
    json!({
        "announce": survey::ANNOUNCE,
        "survey": survey::SURVEY,
        "back": survey::BACK,
        "sizePrompt": survey::SIZE_PROMPT,
        "sizes": survey::SIZES,
        "size": "large",
        "toppingPrompt": survey::TOPPING_PROMPT,
        "topping": "cheese",
        "order": "Your order: a large pizza with cheese.",
        "cardTrigger": cards::TRIGGER,
        "cardIntro": cards::INTRO,
        "heroTitle": cards::HERO_TITLE,
        "heroButton": cards::HERO_BUTTON,
        "adaptiveTitle": cards::ADAPTIVE_TITLE,
        "submit": cards::SUBMIT,
        "submitted": cards::SUBMITTED,
    })
}

/// What the browser script printed, and how it ended (`None`: killed at the deadline).
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `node webchat-test.mjs` against the Direct Line endpoint, killing it at the deadline.
fn run_browser(direct_line: &str, artifacts: &std::path::Path) -> Run {
    let mut child = Command::new("node")
        .arg("webchat-test.mjs")
        .args(["--dl", direct_line])
        .args(["--texts", &texts().to_string()])
        .arg("--chromium")
        .arg(chromium())
        .arg("--artifacts")
        .arg(artifacts)
        .current_dir(interop_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the Web Chat test (scripts/test installs it)");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + BROWSER_DEADLINE;
    let code = loop {
        match child.try_wait().expect("wait for node") {
            Some(status) => break status.code(),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    Run {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_web_chat_in_headless_chromium() {
    let chromium = chromium();
    assert!(
        chromium.is_file(),
        "the Web Chat test needs Chromium, and there is none at {}: install Debian's with \
         `apt-get install -y chromium` (./scripts/test does), or set WEBCHAT_CHROMIUM",
        chromium.display()
    );
    let started = Instant::now();
    let bot = serve_bot(survey::bot(None)).await;
    let (_peer, peer) = start_peer_with(&bot.url, &["--stamp-client-activities"]);
    let artifacts = artifacts_dir();
    let direct_line = format!("{peer}/directline");
    let dir = artifacts.clone();
    let run = tokio::task::spawn_blocking(move || run_browser(&direct_line, &dir))
        .await
        .unwrap();
    println!("{}", run.stdout);
    println!(
        "(Web Chat test: {:.1} s; screenshots in {})",
        started.elapsed().as_secs_f64(),
        artifacts.display()
    );
    let report = format!(
        "{}\n--- stderr of webchat-test.mjs ---\n{}\nscreenshots: {}",
        run.stdout,
        run.stderr,
        artifacts.display()
    );
    match run.code {
        None => panic!("the browser test did not finish within {BROWSER_DEADLINE:?}\n{report}"),
        Some(2) => panic!("the browser could not start (this test never skips)\n{report}"),
        Some(_) => {}
    }
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert!(
        failed.is_empty() && run.code == Some(0),
        "Web Chat checks failed:\n{}\n\n{report}",
        failed.join("\n")
    );
    for check in CHECKS {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with(&format!("PASS {check}:"))),
            "check {check} did not run\n{report}"
        );
    }
}
