//! PostgresStorage under load: several storages (pools) writing the same records, batches in
//! opposite key orders, big batches, and the sweep of expired records.

mod support;

use botcore::{ManualClock, Precondition, Storage, StorageError, StorageExt, WriteOp, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use storage_postgres::{PostgresOptions, PostgresStorage};
use support::{drop_table, raw, target, unique_namespace, unique_table};

async fn two_storages(test: &str) -> (PostgresStorage, PostgresStorage) {
    let t = target();
    let ns = unique_namespace(test);
    let a = PostgresStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(&ns);
    let b = PostgresStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(&ns);
    (a, b)
}

/// Read-modify-write of `keys` (one batch), retried on conflict until it lands.
async fn increment(s: &PostgresStorage, keys: &[&str], conflicts: &AtomicUsize) {
    loop {
        let read = s.read_many(keys).await.unwrap();
        let ops = keys
            .iter()
            .zip(read)
            .map(|(k, r)| match r {
                Some(r) => WriteOp::put(
                    *k,
                    json!(r.value.as_u64().unwrap() + 1),
                    Precondition::IfMatch(r.version),
                ),
                None => WriteOp::put(*k, json!(1), Precondition::IfAbsent),
            })
            .collect();
        match s.write_many(ops).await {
            Ok(_) => return,
            Err(StorageError::Conflict { .. }) => conflicts.fetch_add(1, Ordering::Relaxed),
            Err(e) => panic!("increment: {e:?}"),
        };
    }
}

/// 2 storages × 4 tasks × 50 increments of two counters, the tasks taking the keys in
/// opposite orders: both counters end at exactly 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_from_two_storages_lose_nothing() {
    let (a, b) = two_storages("incr").await;
    let conflicts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            let keys: &[&str] = if i < 4 { &["x", "y"] } else { &["y", "x"] };
            for _ in 0..50 {
                increment(&s, keys, &conflicts).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task panicked");
    }
    let totals: Vec<_> = a
        .read_many(&["x", "y"])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(totals, [json!(400), json!(400)], "lost updates");
    assert!(conflicts.load(Ordering::Relaxed) > 0, "never conflicted");
}

/// Unconditional batches over the same keys in different orders, with deletes and
/// re-creations, from two pools at once: every batch lands (deadlocks, if the server
/// detects any, are retried inside the storage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_unconditional_batches_all_land() {
    let (a, b) = two_storages("cross").await;
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let mut tasks = Vec::new();
    for i in 0..6usize {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for round in 0..60usize {
                let ops = (0..keys.len())
                    .map(|j| {
                        let key = keys[(j * (i + 1) + round) % keys.len()];
                        if (i + j + round) % 5 == 0 {
                            WriteOp::delete(key, Precondition::Any)
                        } else {
                            WriteOp::put(key, json!([i, round]), Precondition::Any)
                        }
                    })
                    .collect();
                s.write_many(ops).await.expect("an unconditional batch");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task panicked");
    }
    let listed = a.list_keys("k", None, 100).await.unwrap();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "{listed:?}");
}

/// More concurrent calls than connections: they wait their turn.
#[tokio::test]
async fn more_calls_than_connections() {
    let t = target();
    let options = PostgresOptions::default().pool_size(2);
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap();
    let s = s.with_namespace(unique_namespace("pool"));
    let calls = (0..40).map(|i| {
        let s = s.clone();
        async move {
            s.write(&format!("k{i:02}"), json!(i), Precondition::IfAbsent)
                .await
        }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(s.list_keys("", None, 100).await.unwrap().len(), 40);
    assert!(s.pool().status().size <= 2);
}

#[tokio::test]
async fn big_batches() {
    let s = PostgresStorage::connect(&target().url).await.unwrap();
    let s = s.with_namespace(unique_namespace("big"));
    let keys: Vec<String> = (0..5000).map(|i| format!("user:{i:05}")).collect();
    let ops = keys
        .iter()
        .map(|k| WriteOp::put(k, json!({"k": k}), Precondition::IfAbsent));
    let versions = s.write_many(ops.collect()).await.unwrap();
    assert_eq!(versions.iter().flatten().count(), 5000);
    assert_eq!(s.list_keys("user:", None, usize::MAX).await.unwrap(), keys);
    let page = s
        .list_keys("user:", Some("user:00999"), 1200)
        .await
        .unwrap();
    assert_eq!(page, keys[1000..2200]);
    let read = s
        .read_many(&keys.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        read.iter()
            .zip(&keys)
            .all(|(r, k)| r.as_ref().unwrap().value == json!({"k": k}))
    );

    // 5000 updates and a stale last op: nothing is written.
    let mut ops: Vec<WriteOp> = keys
        .iter()
        .zip(&versions)
        .map(|(k, v)| WriteOp::put(k, json!(0), Precondition::IfMatch(v.unwrap())))
        .collect();
    ops.push(WriteOp::put(
        "user:00000",
        json!("late"),
        Precondition::IfAbsent,
    ));
    let res = s.write_many(ops).await;
    assert!(
        matches!(&res, Err(StorageError::Conflict { key }) if key == "user:00000"),
        "{res:?}"
    );
    let first = s.read("user:04999").await.unwrap().unwrap();
    assert_eq!(
        (first.value, Some(first.version)),
        (json!({"k": "user:04999"}), versions[4999])
    );
    // 5000 deletes in one batch.
    let ops = keys.iter().map(|k| WriteOp::delete(k, Precondition::Any));
    s.write_many(ops.collect()).await.unwrap();
    assert!(s.list_keys("", None, 10).await.unwrap().is_empty());
}

async fn count_rows(url: &str, table: &str) -> i64 {
    let db = raw(url).await;
    let sql = format!("SELECT count(*) FROM {table}");
    db.query_one(&sql, &[]).await.unwrap().get(0)
}

fn ttl_ops(n: usize, ttl: Duration) -> Vec<WriteOp> {
    (0..n)
        .map(|i| WriteOp::put(format!("t{i}"), json!(i), Precondition::Any).with_ttl(ttl))
        .chain([WriteOp::put("keep", json!(1), Precondition::Any)])
        .collect()
}

#[tokio::test]
async fn purge_expired_deletes_expired_rows_only() {
    let t = target();
    let table = unique_table("purge");
    let clock = ManualClock::new(1_000_000);
    let options = PostgresOptions::default()
        .table(&table)
        .sweep_interval(None);
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap()
        .with_clock(clock.clone());
    s.write_many(ttl_ops(2500, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(s.purge_expired().await.unwrap(), 0, "nothing expired yet");
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        s.list_keys("", None, 10).await.unwrap(),
        ["keep"],
        "expired rows are hidden"
    );
    assert_eq!(count_rows(&t.url, &table).await, 2501, "but still there");
    assert_eq!(s.purge_expired().await.unwrap(), 2500);
    assert_eq!(count_rows(&t.url, &table).await, 1);
    drop_table(&t.url, &table).await;
}

/// With a sweep interval, a write after the interval starts a background sweep.
#[tokio::test]
async fn writes_sweep_in_the_background() {
    let t = target();
    let table = unique_table("sweep");
    let clock = ManualClock::new(1_000_000);
    let options = PostgresOptions::default()
        .table(&table)
        .sweep_interval(Some(Duration::from_secs(60)));
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap()
        .with_clock(clock.clone());
    s.write_many(ttl_ops(300, Duration::from_secs(10)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(30));
    s.write("other", json!(1), Precondition::Any).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count_rows(&t.url, &table).await,
        302,
        "no sweep within the interval"
    );
    clock.advance(Duration::from_secs(31));
    s.write("another", json!(1), Precondition::Any)
        .await
        .unwrap();
    let mut rows = 0;
    for _ in 0..100 {
        rows = count_rows(&t.url, &table).await;
        if rows == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows, 3, "the background sweep deletes the expired rows");
    drop_table(&t.url, &table).await;
}
