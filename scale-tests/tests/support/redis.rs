//! A real `redis-server` per test on a free 127.0.0.1 port, killed with SIGKILL on drop.
//! [`RedisServer::start_persistent`] keeps an append-only file in a throwaway directory, so the
//! data survives a [`kill`](RedisServer::kill) and a [`restart`](RedisServer::restart) on the
//! same port (a store outage that loses nothing acknowledged).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// The data directory of a persistent server (removed on drop).
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// A fresh server without persistence. Panics (failing the test) if there is no
    /// `redis-server` binary.
    pub fn start() -> Self {
        Self::start_in(None)
    }

    /// A fresh server with an append-only file, so a kill and restart keep the data.
    pub fn start_persistent() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "scale-tests-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the redis data directory");
        Self::start_in(Some(dir))
    }

    fn start_in(dir: Option<PathBuf>) -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn_on(port, dir.as_ref()) {
                Ok(child) => {
                    return Self {
                        child: Some(child),
                        port,
                        dir,
                    };
                }
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGSTOPs the server: connections stay open, nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONTs a frozen server: it works through what it was sent meanwhile.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// SIGKILLs the server and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (same data directory when persistent).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn_on(self.port, self.dir.as_ref()) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("could not restart redis-server: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn redis_server_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("redis-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let fallback = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].map(PathBuf::from);
    from_path
        .into_iter()
        .chain(fallback)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server not found on PATH: the scale tests start real Redis servers. \
                 Install it with `apt-get install -y redis-server` (or run scripts/redis.sh)."
            )
        })
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn spawn_on(port: u16, dir: Option<&PathBuf>) -> Result<Child, String> {
    let mut cmd = Command::new(redis_server_binary());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no", "--loglevel", "warning"])
        .args(["--logfile", ""]);
    match dir {
        // Redis writes the append-only file before it answers the client, so whatever it
        // acknowledged is in the file (the page cache) when the process is killed; fsync only
        // matters for a machine crash.
        Some(dir) => cmd
            .args(["--appendonly", "yes", "--appendfsync", "no", "--dir"])
            .arg(dir),
        None => cmd.args(["--appendonly", "no"]),
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawning redis-server: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server on port {port} exited: {status}"));
        }
        match server_pid(port) {
            // Another test's server may have grabbed the same port first: only ours counts.
            Some(pid) if pid == child.id() => return Ok(child),
            Some(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("port {port} is taken by another redis-server"));
            }
            None => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("redis-server on port {port} did not answer"))
}

/// The `process_id` the server on `port` reports, once it has loaded its data.
fn server_pid(port: u16) -> Option<u32> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(b"INFO\r\n").ok()?;
    // A bulk string: `$<len>\r\n<len bytes>\r\n`.
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) {
            let len: usize = head.parse().ok()?;
            if body.len() >= len {
                break;
            }
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    if text.lines().any(|l| l.trim() == "loading:1") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}
