//! A real PostgreSQL server per test: `initdb` + `pg_ctl` on a free 127.0.0.1 port in a
//! throwaway data directory, stopped (`-m immediate`) and deleted on drop, and by a watchdog
//! process if the test binary dies. As root, the server programs run as the `postgres` user
//! (else `nobody`) through `runuser`, since they refuse to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A PostgreSQL server of the test's own.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    user: Option<String>,
}

impl PgServer {
    /// A fresh cluster on a free port. Panics, saying what to install, without PostgreSQL.
    pub fn start() -> Self {
        let user = is_root().then(server_user);
        let base = if user.is_some() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "scale-tests-pg-{}-{}",
            std::process::id(),
            super::redis::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the server directory");
        if let Some(user) = &user {
            let (uid, gid) = (id(&["-u", user]), id(&["-g", user]));
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the directory");
        }
        let mut server = Self {
            dir,
            port: 0,
            bin: bin_dir(),
            user,
        };
        server.watchdog();
        let data = server.data();
        let init = [
            "-D",
            path(&data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ];
        let out = server.run(
            "initdb",
            &[&init[..], &["--no-locale", "--no-sync"]].concat(),
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        // Small and fast; a killed server still keeps what it handed to the OS.
        let conf = "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
                    fsync = off\nfull_page_writes = off\nshared_buffers = 32MB\n\
                    max_connections = 100\nlog_min_messages = warning\n";
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        std::io::Write::write_all(&mut file, conf.as_bytes()).expect("write postgresql.conf");
        let mut last = String::new();
        for _ in 0..5 {
            server.port = super::redis::free_port();
            match server.pg_ctl_start() {
                Ok(()) => return server,
                Err(log) => last = log,
            }
        }
        panic!("could not start PostgreSQL:\n{last}");
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

    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let port = format!("-p {}", self.port);
        let out = self.pg_ctl(&["start", "-w", "-t", "60", "-l", path(&log), "-o", &port]);
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        Err(format!("{}\n{log}", text(&out)))
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data();
        self.run("pg_ctl", &[&["-D", path(&data)], args].concat())
    }

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

    /// Stops the server and deletes its directory once the test process is gone.
    // The watchdog outlives this process by design (init reaps it): never waited for.
    #[allow(clippy::zombie_processes)]
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

/// `PG_BIN`, else `PATH`, else Debian's `/usr/lib/postgresql/<version>/bin`, newest first.
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
                 /usr/lib/postgresql/*/bin: the scale tests start real PostgreSQL servers. \
                 Install Debian's `postgresql` package."
            )
        })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

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

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
