//! Test support: throwaway PostgreSQL servers (`initdb` + `pg_ctl` on a free 127.0.0.1 port,
//! in a fresh data directory), or the database at `DATABASE_URL`.
//!
//! As root, `initdb` and `pg_ctl` refuse to run, so they run as the `postgres` OS user that
//! Debian's package creates (else `nobody`), through `runuser`, in a data directory owned by
//! that user. A server a test starts is stopped when it is dropped, and a watchdog process
//! stops it when the test binary exits, even by a crash.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this module

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A PostgreSQL server of our own, stopped (immediately) and deleted on drop.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The OS user the server runs as, when we are root.
    user: Option<String>,
}

impl PgServer {
    /// Creates a data directory and starts a server on a free port. Panics (failing the test)
    /// with what to do when PostgreSQL is not installed.
    pub fn start() -> Self {
        let bin = bin_dir();
        let user = is_root().then(server_user);
        let base = if user.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("botcore-pg-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create the server directory");
        if let Some(user) = &user {
            let (uid, gid) = (id(&["-u", user]), id(&["-g", user]));
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the directory");
        }
        let mut server = Self {
            dir,
            port: 0,
            bin,
            user,
        };
        server.watchdog();
        server.initdb();
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.pg_ctl_start() {
                Ok(()) => return server,
                Err(log) if log.contains("could not bind") || log.contains("already in use") => {
                    last = log;
                }
                Err(log) => panic!("could not start PostgreSQL:\n{log}"),
            }
        }
        panic!("could not start PostgreSQL on a free port:\n{last}");
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in a crash.
    pub fn stop_immediate(&self) {
        let out = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    /// Starts the stopped server again, on the same port, with the same data.
    pub fn start_again(&self) {
        if let Err(log) = self.pg_ctl_start() {
            panic!("could not restart PostgreSQL:\n{log}");
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn initdb(&self) {
        let data = self.data();
        let args = [
            "-D",
            path_str(&data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ];
        let out = self.run("initdb", &args);
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        // Fast and small: no fsync (a killed server still keeps what it wrote to the OS),
        // TCP on 127.0.0.1 only, no Unix socket.
        let conf = "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
                    fsync = off\nfull_page_writes = off\nshared_buffers = 16MB\n\
                    max_connections = 60\nlog_min_messages = warning\n";
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        std::io::Write::write_all(&mut file, conf.as_bytes()).expect("write postgresql.conf");
    }

    /// `pg_ctl start`, waiting until the server accepts connections; the log on failure.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let port = format!("-p {}", self.port);
        let args = ["start", "-w", "-t", "60", "-l", path_str(&log), "-o", &port];
        let out = self.pg_ctl(&args);
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!("{}\n{log}", text(&out)))
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data();
        let mut all = vec!["-D", path_str(&data)];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// Runs a PostgreSQL program, as the server's user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut cmd = match &self.user {
            Some(user) => {
                let mut cmd = Command::new(runuser());
                cmd.args(["-u", user, "--"]).arg(&program);
                cmd
            }
            None => Command::new(&program),
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
    }

    /// A process that stops the server and deletes its directory once this process is gone.
    fn watchdog(&self) {
        let as_user = match &self.user {
            Some(user) => format!("{} -u {user} -- ", runuser().display()),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {as_user}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        // Never waited for: it outlives this process on purpose.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where tests run: `DATABASE_URL` if set, else one server shared by the tests of this binary.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
}

pub fn target() -> Target {
    match database_url() {
        Some(url) => Target { url },
        None => {
            static SHARED: OnceLock<PgServer> = OnceLock::new();
            Target {
                url: SHARED.get_or_init(PgServer::start).url(),
            }
        }
    }
}

/// `DATABASE_URL`, if set: then tests share someone's database and must stay in their own
/// namespaces and tables.
pub fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A name no other test (or earlier run against a shared `DATABASE_URL`) uses.
pub fn unique_namespace(test: &str) -> String {
    format!("botcore-test:{test}:{}", unique_suffix())
}

/// A table name no other test uses.
pub fn unique_table(test: &str) -> String {
    format!("t_{test}_{}", unique_suffix().replace('-', "_"))
}

fn unique_suffix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{nanos}", std::process::id())
}

/// A plain client for looking at the table directly.
pub async fn raw(url: &str) -> storage_postgres::tokio_postgres::Client {
    use storage_postgres::tokio_postgres;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("raw connection to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Drops a table a test made (it matters on a shared `DATABASE_URL`).
pub async fn drop_table(url: &str, table: &str) {
    let sql =
        format!("DROP TABLE IF EXISTS \"{table}\"; DROP SEQUENCE IF EXISTS \"{table}_version\"");
    raw(url)
        .await
        .batch_execute(&sql)
        .await
        .expect("drop the test table");
}

/// The directory of `initdb` and `pg_ctl`: `PG_BIN`, else `PATH`, else Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest first).
fn bin_dir() -> PathBuf {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let from_env = std::env::var_os("PG_BIN").map(PathBuf::from);
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    debian.sort_by_key(|p| {
        let version = p
            .parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok());
        std::cmp::Reverse(version)
    });
    from_env
        .into_iter()
        .chain(from_path)
        .chain(debian)
        .find(|d| has_tools(d))
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL server programs (initdb, pg_ctl) not found in PG_BIN, on PATH or in \
                 /usr/lib/postgresql/*/bin: the storage-postgres tests need a real PostgreSQL. \
                 Install it with `bash scripts/postgres.sh` (Debian's `postgresql` package), \
                 or point DATABASE_URL at a running server."
            )
        })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The user a server started by root runs as.
fn server_user() -> String {
    ["postgres", "nobody"]
        .into_iter()
        .find(|u| {
            Command::new("id")
                .arg(u)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect("running as root, but there is neither a postgres nor a nobody user")
        .to_owned()
}

fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("running as root, and runuser (util-linux) is missing")
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("id {args:?}: {s:?}"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
