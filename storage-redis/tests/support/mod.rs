//! Test support: a throwaway `redis-server` per test, or the Redis at `REDIS_URL`.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this module

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A `redis-server` child process on a free 127.0.0.1 port, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Arguments beyond the standard ones (cluster mode).
    extra: Vec<String>,
    /// A directory of the server's own (cluster mode keeps `nodes.conf` there), removed on drop.
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a fresh server. Panics (failing the test) if no `redis-server` binary exists.
    pub fn start() -> Self {
        Self::start_with(Vec::new(), None)
    }

    /// Starts a fresh single-node Redis Cluster holding every hash slot: it runs every command
    /// itself, but refuses commands and scripts whose keys span several slots (`CROSSSLOT`),
    /// as a real cluster does.
    pub fn start_cluster() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "storage-redis-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let extra = vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-port".into(),
            free_port().to_string(),
            "--cluster-config-file".into(),
            dir.join("nodes.conf").display().to_string(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        let server = Self::start_with(extra, Some(dir));
        query(server.port, "CLUSTER ADDSLOTSRANGE 0 16383", "+OK").expect("assign slots");
        let deadline = Instant::now() + Duration::from_secs(10);
        while query(server.port, "CLUSTER INFO", "cluster_state:ok").is_none() {
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn start_with(extra: Vec<String>, dir: Option<PathBuf>) -> Self {
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            match spawn_on(port, &extra) {
                Ok(child) => {
                    return Self {
                        child: Some(child),
                        port,
                        extra,
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

    /// Kills the server and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with empty data).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn_on(self.port, &self.extra) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(e) if Instant::now() > deadline => {
                    panic!("could not restart redis-server: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
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

/// Where the conformance tests run: `REDIS_URL` if set, else a server of their own.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    _server: Option<RedisServer>,
}

pub fn target() -> Target {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Target { url, _server: None },
        _ => {
            let server = RedisServer::start();
            Target {
                url: server.url(),
                _server: Some(server),
            }
        }
    }
}

/// A namespace no other test (or earlier run against a shared `REDIS_URL`) uses.
pub fn unique_namespace(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "botcore-test:{test}:{}:{nanos}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn redis_server_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("redis-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let fallback = [
        "/usr/bin/redis-server",
        "/usr/local/bin/redis-server",
        "/usr/sbin/redis-server",
    ]
    .map(PathBuf::from);
    from_path
        .into_iter()
        .chain(fallback)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server not found on PATH: the storage-redis tests need a real Redis. \
             Install it with `apt-get install -y redis-server` (or run scripts/redis.sh), \
             or point REDIS_URL at a running server."
            )
        })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn spawn_on(port: u16, extra: &[String]) -> Result<Child, String> {
    let mut child = Command::new(redis_server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            "",
        ])
        .args(extra)
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
    Err(format!("redis-server on port {port} did not answer PING"))
}

/// The `process_id` the server on `port` reports, if one answers.
fn server_pid(port: u16) -> Option<u32> {
    let text = query(port, "INFO server", "run_id:")?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Sends the inline command `command` to the server on `port` and reads its reply until it
/// contains `needle` (`None` if it never does).
fn query(port: u16, command: &str, needle: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains(needle) {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&reply).into_owned())
}
