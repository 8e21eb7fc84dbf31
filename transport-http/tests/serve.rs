//! `serve_with` on the open internet: silent and trickling clients are cut off by the header
//! timeout, idle keep-alive connections by the idle timeout, and connections over the limit
//! wait (with a warning in the log) while normal requests still get through.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_http::ServeSettings;
use transport_http::axum::Router;
use transport_http::axum::routing::{get, post};

const GET: &[u8] = b"GET /ping HTTP/1.1\r\nhost: test\r\n\r\n";

fn settings(header: u64, idle: u64, max_connections: usize) -> ServeSettings {
    let mut s = ServeSettings::default();
    s.header_read_timeout = Duration::from_millis(header);
    s.idle_timeout = Duration::from_millis(idle);
    s.max_connections = max_connections;
    s
}

async fn start(settings: ServeSettings) -> SocketAddr {
    let app = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(transport_http::serve_with(listener, app, settings));
    addr
}

/// Reads until the server closes the connection (or 5 s pass): what it sent, and when.
async fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Duration::from_secs(5);
    loop {
        match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Instant::now()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was not closed"),
        }
    }
}

/// Reads one `pong` answer off a keep-alive connection.
async fn read_pong(stream: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"pong") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before the answer");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let addr = start(settings(300, 5_000, 10)).await;
    let opened = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (got, closed) = read_to_close(&mut silent).await;
    let after = closed - opened;
    assert!(got.is_empty());
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(2),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_closed_after_the_header_timeout() {
    let addr = start(settings(300, 5_000, 10)).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    slow.write_all(b"POST /api/messages HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    // One byte every 50 ms: bytes keep moving, the head never completes.
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if slow.write_all(b"a").await.is_err() || opened.elapsed() > Duration::from_secs(3) {
            break opened.elapsed();
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            break opened.elapsed();
        }
    };
    assert!(
        closed >= Duration::from_millis(250) && closed < Duration::from_secs(2),
        "{closed:?}"
    );
}

#[tokio::test]
async fn keep_alive_connections_live_for_the_idle_timeout_not_the_header_timeout() {
    let addr = start(settings(200, 800, 10)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(GET).await.unwrap();
    read_pong(&mut conn).await;
    // Past the header timeout but within the idle timeout: the connection is still there.
    tokio::time::sleep(Duration::from_millis(400)).await;
    conn.write_all(GET).await.unwrap();
    read_pong(&mut conn).await;
    let idle_from = Instant::now();
    let (got, closed) = read_to_close(&mut conn).await;
    let idle = closed - idle_from;
    assert!(got.is_empty());
    assert!(
        idle >= Duration::from_millis(700) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
}

#[tokio::test]
async fn a_request_whose_body_stalls_is_cut_after_the_idle_timeout() {
    let addr = start(settings(200, 600, 10)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nonly ten b")
        .await
        .unwrap();
    let stalled = Instant::now();
    let (got, closed) = read_to_close(&mut conn).await;
    let after = closed - stalled;
    assert!(!got.starts_with(b"HTTP/1.1 200"));
    assert!(
        after >= Duration::from_millis(500) && after < Duration::from_secs(3),
        "{after:?}"
    );
}

/// What the server logged, captured for one test.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn connections_over_the_limit_wait_with_a_warning_and_normal_requests_still_work() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the server's tasks log to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let addr = start(settings(400, 5_000, 2)).await;
    let started = Instant::now();
    let _silent: Vec<TcpStream> = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    // The third connection is not accepted while the two silent ones hold the slots; it is
    // served as soon as the header timeout frees them.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    read_pong(&mut third).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("WARN") && logged.contains("connection limit reached"),
        "{logged}"
    );
    assert!(logged.contains("max_connections=2"), "{logged}");

    // Under the limit, requests are served at once, on fresh connections and kept-alive ones.
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = client
            .get(format!("http://{addr}/ping"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "pong");
        assert!(t.elapsed() < Duration::from_millis(300));
    }
}
