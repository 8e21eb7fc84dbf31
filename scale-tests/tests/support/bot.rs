//! `scale-bot` (or another test bot of this crate, e.g. `reminder-bot`) as a real child
//! process on a free 127.0.0.1 port, SIGKILLed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `scale-bot` (or other test bot).
#[derive(Debug)]
pub struct BotProcess {
    child: Option<Child>,
    /// The executable; it prints `<bin> listening on http://ADDR` once it listens.
    program: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub name: String,
    args: Vec<String>,
}

impl BotProcess {
    /// Starts `scale-bot --name NAME ARGS...` and waits until it listens.
    pub fn start(name: &str, args: &[String]) -> Self {
        Self::start_program(env!("CARGO_BIN_EXE_scale-bot"), name, args)
    }

    /// Starts `PROGRAM --name NAME ARGS...` (a bot of this crate, which takes `--addr` and
    /// `--name`) and waits until it listens.
    pub fn start_program(program: &'static str, name: &str, args: &[String]) -> Self {
        let mut p = Self {
            child: None,
            program,
            url: String::new(),
            name: name.to_owned(),
            args: args.to_vec(),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let mut child = Command::new(self.program)
            .args(["--addr", "127.0.0.1:0", "--name", &self.name])
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("SCALE_BOT_LOG").unwrap_or("error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.program));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once(" listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        self.child = Some(child);
        self.url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                panic!(
                    "{} {} did not start listening ({status:?})",
                    self.program, self.name
                )
            }
        };
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the process (`Child::kill` sends SIGKILL on Unix) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the bot");
            let status = child.wait().expect("reap the bot");
            assert!(!status.success(), "a killed process does not exit cleanly");
        }
    }

    /// Starts the process again with the same arguments (on a new port).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `POST /api/messages`.
    pub fn messages_url(&self) -> String {
        format!("{}/api/messages", self.url)
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
