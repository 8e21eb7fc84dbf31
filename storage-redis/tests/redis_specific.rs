//! RedisStorage behaviour beyond the conformance suite: a server that goes away, corrupt
//! records, the on-disk layout, and the family indexes with many expired or many live keys.

mod support;

use botcore::{Precondition, Storage, StorageError, StorageExt, WriteOp, json};
use std::future::Future;
use std::time::Duration;
use storage_redis::{RedisStorage, redis};
use support::{RedisServer, target, unique_namespace};

/// Fails the test instead of hanging if a call takes too long.
async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn assert_unavailable<T: std::fmt::Debug>(res: Result<T, StorageError>, what: &str) {
    assert!(
        matches!(res, Err(StorageError::Unavailable(_))),
        "{what}: expected Unavailable, got {res:?}"
    );
}

async fn raw_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn server_going_away_gives_unavailable_then_recovers() {
    let mut server = RedisServer::start();
    let s = RedisStorage::connect(&server.url())
        .await
        .unwrap()
        .with_namespace("gone");
    s.write("k", json!(1), Precondition::Any).await.unwrap();

    server.kill();
    assert_unavailable(
        bounded("read", s.read("k")).await,
        "read after the server died",
    );
    assert_unavailable(
        bounded("write", s.write("k", json!(2), Precondition::Any)).await,
        "write",
    );
    assert_unavailable(
        bounded("list", s.list_keys("", None, 10)).await,
        "list_keys",
    );
    assert_unavailable(
        bounded("read_many", s.read_many(&["a", "b"])).await,
        "read_many",
    );

    // The data is gone with the process (no persistence), but the same storage works again,
    // and the scripts are reloaded transparently.
    server.restart();
    let recovered = bounded("recovery", async {
        for _ in 0..100 {
            match s.write("k", json!(3), Precondition::IfAbsent).await {
                Ok(v) => return v,
                Err(StorageError::Unavailable(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("unexpected error after restart: {e:?}"),
            }
        }
        panic!("storage did not recover after the server came back");
    })
    .await;
    assert_eq!(
        s.read("k").await.unwrap().map(|r| r.version),
        Some(recovered)
    );
    assert_eq!(s.list_keys("", None, 10).await.unwrap(), ["k"]);
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    assert_unavailable(
        bounded("connect", RedisStorage::connect(&url)).await,
        "connect to a dead port",
    );
    assert_unavailable(
        RedisStorage::connect("not a url").await,
        "connect to a bad url",
    );
}

#[tokio::test]
async fn records_are_json_envelopes_under_the_namespace() {
    let t = target();
    let ns = unique_namespace("layout");
    let s = RedisStorage::connect(&t.url).await.unwrap();
    assert_eq!(s.namespace(), storage_redis::DEFAULT_NAMESPACE);
    let s = s.with_namespace(&ns);
    let v = s
        .write("a:b", json!({"x": [1, "y"]}), Precondition::Any)
        .await
        .unwrap();
    let mut raw = raw_conn(&t.url).await;
    let stored: String = redis::cmd("GET")
        .arg(format!("{ns}:r:a:b"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(stored, format!(r#"{{"v":{},"d":{{"x":[1,"y"]}}}}"#, v.0));
    // The version is the server clock in microseconds × 1000 (plus a sequence number); there
    // is no global counter.
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut raw).await.unwrap();
    let now = (secs * 1_000_000 + micros) * 1000;
    assert!(
        v.0 <= now && v.0 > now - 10_000_000_000,
        "version {v:?}, clock {now}"
    );
    let counter: bool = redis::cmd("EXISTS")
        .arg(format!("{ns}:v"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!counter, "a global version counter exists");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{ns}:r:a:b"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "no TTL asked, none set");
    let op = WriteOp::put("a:b", json!(2), Precondition::Any).with_ttl(Duration::from_secs(60));
    s.write_many(vec![op]).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{ns}:r:a:b"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((59_000..=60_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn corrupt_records_are_reported() {
    let t = target();
    let ns = unique_namespace("corrupt");
    let s = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(&ns);
    let mut raw = raw_conn(&t.url).await;
    for (key, junk) in [
        ("garbage", "not json"),
        ("bad-data", r#"{"v":7,"d":{oops}"#),
    ] {
        let _: () = redis::cmd("SET")
            .arg(format!("{ns}:r:{key}"))
            .arg(junk)
            .query_async(&mut raw)
            .await
            .unwrap();
        let res = s.read(key).await;
        assert!(
            matches!(&res, Err(StorageError::Corrupt { key: k, .. }) if k == key),
            "{key}: {res:?}"
        );
    }
    let res = s
        .write(
            "garbage",
            json!(1),
            Precondition::IfMatch(botcore::Version(7)),
        )
        .await;
    assert!(
        matches!(&res, Err(StorageError::Corrupt { key, .. }) if key == "garbage"),
        "{res:?}"
    );
    s.write("garbage", json!("fixed"), Precondition::Any)
        .await
        .unwrap();
    assert_eq!(
        s.read("garbage").await.unwrap().unwrap().value,
        json!("fixed")
    );
}

#[tokio::test]
async fn listing_skips_and_cleans_many_expired_keys() {
    let t = target();
    let ns = unique_namespace("stale");
    let s = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(&ns);
    let mut ops: Vec<WriteOp> = (0..2500)
        .map(|i| {
            WriteOp::put(format!("job/k{i:05}"), json!(i), Precondition::Any)
                .with_ttl(Duration::from_millis(300))
        })
        .collect();
    ops.push(WriteOp::put("job/k02000-live", json!(0), Precondition::Any));
    ops.push(WriteOp::put("job/k99999-live", json!(0), Precondition::Any));
    s.write_many(ops).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    // More expired members than one scan step examines sit before and between the live keys.
    assert_eq!(
        s.list_keys("job/k", None, 1).await.unwrap(),
        ["job/k02000-live"]
    );
    assert_eq!(
        s.list_keys("job/k", Some("job/k02000-live"), 5)
            .await
            .unwrap(),
        ["job/k99999-live"]
    );
    let mut raw = raw_conn(&t.url).await;
    let card: usize = redis::cmd("ZCARD")
        .arg(format!("{ns}:i:job/"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(card, 2, "listing removed the expired keys from the index");
}

#[tokio::test]
async fn purge_expired_sweeps_the_index() {
    let t = target();
    let ns = unique_namespace("purge");
    let s = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(&ns);
    // Expired records of indexed families leave index entries; the others leave nothing.
    let ops = (0..1500)
        .map(|i| {
            let family = ["job/", "address/", "fanout/"][i % 3];
            WriteOp::put(format!("{family}t{i}"), json!(i), Precondition::Any)
                .with_ttl(Duration::from_millis(200))
        })
        .chain((0..10).map(|i| {
            WriteOp::put(format!("user/t{i}"), json!(i), Precondition::Any)
                .with_ttl(Duration::from_millis(200))
        }))
        .chain([WriteOp::put("keep", json!(1), Precondition::Any)])
        .collect();
    s.write_many(ops).await.unwrap();
    assert_eq!(s.purge_expired().await.unwrap(), 0, "nothing expired yet");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.purge_expired().await.unwrap(), 1500);
    assert_eq!(s.list_keys("", None, 10).await.unwrap(), ["keep"]);
}

/// Through a family index (`address/`) and by SCAN (`user:`).
#[tokio::test]
async fn pages_larger_than_one_scan_step() {
    let t = target();
    let s = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(unique_namespace("big"));
    for prefix in ["user:", "address/"] {
        let keys: Vec<String> = (0..2500).map(|i| format!("{prefix}{i:05}")).collect();
        s.write_many(
            keys.iter()
                .map(|k| WriteOp::put(k, json!(null), Precondition::Any))
                .collect(),
        )
        .await
        .unwrap();
        assert_eq!(s.list_keys(prefix, None, usize::MAX).await.unwrap(), keys);
        let after = format!("{prefix}00999");
        assert_eq!(
            s.list_keys(prefix, Some(&after), 1200).await.unwrap(),
            keys[1000..2200]
        );
    }
}
