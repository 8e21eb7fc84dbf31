//! PostgresStorage behaviour beyond the conformance suite: a server that goes away and comes
//! back, bad connection settings, timeouts, the table layout, and corrupt rows.

mod support;

use botcore::{Precondition, Storage, StorageError, StorageExt, Version, WriteOp, json};
use std::future::Future;
use std::time::Duration;
use storage_postgres::{PostgresOptions, PostgresStorage};
use support::{PgServer, drop_table, raw, target, unique_namespace, unique_table};

/// Fails the test instead of hanging if a call takes too long.
async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

fn assert_unavailable<T: std::fmt::Debug>(res: Result<T, StorageError>, what: &str) -> String {
    match res {
        Err(StorageError::Unavailable(msg)) => msg,
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn server_going_away_gives_unavailable_then_recovers() {
    let server = PgServer::start();
    let s = PostgresStorage::connect(&server.url())
        .await
        .unwrap()
        .with_namespace("gone");
    let v1 = s.write("k", json!(1), Precondition::Any).await.unwrap();
    s.write("other", json!("kept"), Precondition::IfAbsent)
        .await
        .unwrap();

    server.stop_immediate();
    let read = bounded("read", s.read("k")).await;
    assert_unavailable(read, "read after the server died");
    let write = bounded("write", s.write("k", json!(2), Precondition::IfMatch(v1))).await;
    assert_unavailable(write, "write");
    assert_unavailable(bounded("list", s.list_keys("", None, 10)).await, "list");
    let many = bounded("read_many", s.read_many(&["a", "b"])).await;
    assert_unavailable(many, "read_many");
    assert_unavailable(bounded("purge", s.purge_expired()).await, "purge");

    // The same storage works again once the server is back, with the data it had committed.
    server.start_again();
    let recovered = bounded("recovery", async {
        for _ in 0..100 {
            match s.write("k", json!(3), Precondition::IfMatch(v1)).await {
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
    assert!(recovered > v1, "versions go on increasing after a crash");
    let k = s.read("k").await.unwrap().unwrap();
    assert_eq!((k.value, k.version), (json!(3), recovered));
    assert_eq!(s.list_keys("", None, 10).await.unwrap(), ["k", "other"]);
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable() {
    let url = {
        let server = PgServer::start();
        server.url()
    }; // dropped: stopped and deleted
    let msg = assert_unavailable(
        bounded("connect", PostgresStorage::connect(&url)).await,
        "connect to a dead port",
    );
    assert!(msg.contains("connect"), "{msg}");
    assert_unavailable(PostgresStorage::connect("not a url").await, "bad url");
    let t = target();
    for bad in ["", "Records", "1abc", "a;drop", "x\"y", &"a".repeat(49)] {
        let options = PostgresOptions::default().table(bad);
        let res = PostgresStorage::connect_with(&t.url, options).await;
        let msg = assert_unavailable(res, bad);
        assert!(msg.contains("invalid table name"), "{msg}");
    }
}

/// A call stuck behind a lock gives up after the operation timeout; the storage goes on.
#[tokio::test]
async fn calls_time_out_and_the_storage_goes_on() {
    let t = target();
    let table = unique_table("timeout");
    let options = PostgresOptions::default()
        .table(&table)
        .op_timeout(Duration::from_millis(500))
        .pool_size(1);
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap();
    let session = s.pool().get().await.unwrap();
    let timeout: String = session
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, "1500ms", "the server's statement timeout");
    drop(session);
    let v = s
        .write("k", json!(1), Precondition::IfAbsent)
        .await
        .unwrap();
    let mut blocker = raw(&t.url).await;
    let txn = blocker.transaction().await.unwrap();
    txn.execute(
        &format!("SELECT 1 FROM {table} WHERE key = 'k' FOR UPDATE"),
        &[],
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let res = s.write("k", json!(2), Precondition::IfMatch(v)).await;
    let msg = assert_unavailable(res, "write behind a lock");
    assert!(msg.contains("timed out"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    txn.rollback().await.unwrap();
    // The one pooled connection was closed; a new one is made.
    let v2 = bounded("write", s.write("k", json!(3), Precondition::IfMatch(v))).await;
    assert!(v2.unwrap() > v);
    assert_eq!(s.read("k").await.unwrap().unwrap().value, json!(3));
    drop_table(&t.url, &table).await;
}

#[tokio::test]
async fn records_are_rows_with_verbatim_json() {
    let t = target();
    let table = unique_table("layout");
    let options = PostgresOptions::default().table(&table);
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap();
    assert_eq!((s.table(), s.namespace()), (table.as_str(), "botcore"));
    let s = s.with_namespace("ns\0x");
    let value =
        json!({"z": 1, "a": [1.5, "\u{0}", 18446744073709551615u64], "m": {"b": null, "a": true}});
    let v = s
        .write("a:b\0c", value.clone(), Precondition::Any)
        .await
        .unwrap();
    let op = WriteOp::put("ttl", json!("t"), Precondition::Any).with_ttl(Duration::from_secs(60));
    let vt = s.write_many(vec![op]).await.unwrap()[0].unwrap();
    let db = raw(&t.url).await;
    let sql = format!(
        "SELECT ns, key, version, value::text, expires_at, \
         (extract(epoch from now()) * 1000)::int8 FROM {table} ORDER BY key"
    );
    let rows = db.query(&sql, &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let (ns, key): (String, String) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(
        (ns.as_str(), key.as_str()),
        ("ns\u{1}\u{1}x", "a:b\u{1}\u{1}c"),
        "escaped"
    );
    assert_eq!(rows[0].get::<_, i64>(2) as u64, v.0);
    assert_eq!(
        rows[0].get::<_, String>(3),
        serde_json::to_string(&value).unwrap()
    );
    assert_eq!(
        rows[0].get::<_, Option<i64>>(4),
        None,
        "no TTL asked, none set"
    );
    let (expires, now): (Option<i64>, i64) = (rows[1].get(4), rows[1].get(5));
    let left = expires.expect("a TTL") - now;
    assert!((55_000..=60_000).contains(&left), "expires in {left} ms");
    assert_eq!(rows[1].get::<_, i64>(2) as u64, vt.0);
    // Read back equal, with object keys in their original order.
    let back = s.read("a:b\0c").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&back.value).unwrap(),
        serde_json::to_string(&value).unwrap()
    );
    // Versions come from the table's sequence.
    let seq: i64 = db
        .query_one(&format!("SELECT last_value FROM {table}_version"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(seq as u64 >= vt.0);
    drop_table(&t.url, &table).await;
}

#[tokio::test]
async fn corrupt_rows_are_reported() {
    let t = target();
    let table = unique_table("corrupt");
    let options = PostgresOptions::default().table(&table);
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap();
    let db = raw(&t.url).await;
    // Valid JSON for PostgreSQL, out of range for serde_json; and a key with a bad escape.
    let insert = format!(
        "INSERT INTO {table} VALUES ('botcore', 'huge', 7, '1e400', NULL), \
                                    ('botcore', 'bad\u{1}', 8, '1', NULL)"
    );
    db.execute(&insert, &[]).await.unwrap();
    let res = s.read("huge").await;
    assert!(
        matches!(&res, Err(StorageError::Corrupt { key, .. }) if key == "huge"),
        "{res:?}"
    );
    let res = s.list_keys("", None, 10).await;
    assert!(matches!(&res, Err(StorageError::Corrupt { .. })), "{res:?}");
    // A corrupt value can still be replaced by compare-and-set on its version.
    let v = s
        .write("huge", json!("fixed"), Precondition::IfMatch(Version(7)))
        .await
        .unwrap();
    assert_eq!(s.read("huge").await.unwrap().unwrap().version, v);
    drop_table(&t.url, &table).await;
}

#[tokio::test]
async fn versions_are_unique_and_increase_per_key() {
    let t = target();
    let a = PostgresStorage::connect(&t.url).await.unwrap();
    let a = a.with_namespace(unique_namespace("ver-a"));
    let b = a.clone().with_namespace(unique_namespace("ver-b"));
    let mut seen = std::collections::HashSet::new();
    let mut last = [Version(0); 2];
    for i in 0..20 {
        for (n, s) in [&a, &b].into_iter().enumerate() {
            let ops = vec![
                WriteOp::put("k", json!(i), Precondition::Any),
                WriteOp::put("j", json!(i), Precondition::Any),
                WriteOp::put("k", json!(i + 1), Precondition::Any),
            ];
            let v: Vec<Version> = s
                .write_many(ops)
                .await
                .unwrap()
                .into_iter()
                .flatten()
                .collect();
            assert_eq!(v.len(), 3);
            assert!(v.iter().all(|v| seen.insert(*v)), "reused one of {v:?}");
            let stored = s.read("k").await.unwrap().unwrap();
            assert_eq!(
                (stored.value, stored.version),
                (json!(i + 1), v[2]),
                "last op wins"
            );
            assert!(v[2] > last[n], "{:?} after {:?}", v[2], last[n]);
            last[n] = v[2];
        }
    }
}
