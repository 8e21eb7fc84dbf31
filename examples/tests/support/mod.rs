//! What the tests that run real Bot Framework peers share: the npm packages of `interop/`,
//! child processes that die with the test, offline-directline in front of a bot, and a bot
//! served over HTTP on a free 127.0.0.1 port.
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use botcore::{Bot, BotBuilder};
use examples::console;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use storage_memory::MemoryStorage;
use transport_http::{HttpSettings, HttpTransport};

/// The Node side of the interop tests.
pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

/// `npm ci` once per test process, when the packages of `interop/package.json` are not all
/// installed at their locked versions (`interop/check-installed.js` tells).
pub(crate) fn ensure_node_packages() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = interop_dir();
    let installed = Command::new("node")
        .arg("check-installed.js")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("node is needed for the interop tests (scripts/test installs it)");
    if installed.success() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is needed for the interop tests (scripts/test installs it)");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// A child process killed when the test ends, however it ends.
#[derive(Debug)]
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and waits for a stdout line containing `marker`; returns the `http://...`
/// URL on that line.
pub(crate) fn start(mut cmd: Command, marker: &str) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("process did not report it was listening");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("a loopback URL on the start-up line")
        .to_owned();
    (proc, url)
}

/// offline-directline in front of the bot at `bot_url`, with `extra` arguments for
/// `interop/start-peer.js`; returns the peer's base URL.
pub(crate) fn start_peer_with(bot_url: &str, extra: &[&str]) -> (Proc, String) {
    ensure_node_packages();
    let mut cmd = Command::new("node");
    cmd.arg("start-peer.js")
        .args(["--bot", bot_url, "--port", "0"])
        .args(extra)
        .current_dir(interop_dir());
    start(cmd, "offline-directline listening on")
}

/// offline-directline in front of the bot at `bot_url`; returns the peer's base URL.
pub(crate) fn start_peer(bot_url: &str) -> (Proc, String) {
    start_peer_with(bot_url, &[])
}

/// Aborts a background task when the test ends.
#[derive(Debug)]
pub(crate) struct TaskGuard<T>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for TaskGuard<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A bot served by the HTTP transport (auth off) on a free 127.0.0.1 port, with its
/// scheduler ticking; stops when dropped.
#[derive(Debug)]
pub(crate) struct ServedBot {
    /// Where the bot takes activities: `http://127.0.0.1:PORT/api/messages`.
    pub(crate) url: String,
    _ticker: TaskGuard<()>,
    _server: TaskGuard<()>,
}

/// Builds `builder` with in-memory storage and the HTTP transport, and serves it.
pub(crate) async fn serve_bot(builder: BotBuilder) -> ServedBot {
    let transport = HttpTransport::new(HttpSettings::without_auth()).unwrap();
    let bot: Bot = builder
        .connector(transport.connector())
        .storage(MemoryStorage::new())
        .build()
        .unwrap();
    let ticker = TaskGuard(console::spawn_ticker(
        bot.clone(),
        Duration::from_millis(100),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/messages", listener.local_addr().unwrap());
    let app = transport.router(bot);
    let server = TaskGuard(tokio::spawn(async move {
        transport_http::axum::serve(listener, app).await.unwrap()
    }));
    ServedBot {
        url,
        _ticker: ticker,
        _server: server,
    }
}
