//! Per-record versions (unique and increasing on each key, also across delete, expiry and
//! recreation, with no global counter), exact concurrent increments over two connections, and
//! the migration from the layout with a global counter and index.

mod support;

use botcore::{Precondition, Storage, StorageError, StorageExt, Version, WriteOp, json};
use std::time::Duration;
use storage_redis::{RedisStorage, redis};
use support::{target, unique_namespace};

async fn fresh(url: &str, test: &str) -> RedisStorage {
    RedisStorage::connect(url)
        .await
        .unwrap()
        .with_namespace(unique_namespace(test))
}

async fn raw_conn(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

fn assert_conflict<T: std::fmt::Debug>(res: Result<T, StorageError>, what: &str) {
    assert!(
        matches!(res, Err(StorageError::Conflict { .. })),
        "{what}: {res:?}"
    );
}

#[tokio::test]
async fn versions_increase_across_delete_expiry_and_recreation() {
    let t = target();
    let s = fresh(&t.url, "versions").await;
    let mut seen: Vec<Version> = Vec::new();
    for round in 0..20 {
        let mut last = s
            .write("k", json!(round), Precondition::IfAbsent)
            .await
            .unwrap();
        seen.push(last);
        for _ in 0..3 {
            last = s
                .write("k", json!(round), Precondition::IfMatch(last))
                .await
                .unwrap();
            seen.push(last);
        }
        if round % 2 == 0 {
            s.delete("k", Precondition::IfMatch(last)).await.unwrap();
        } else {
            let op = WriteOp::put("k", json!(0), Precondition::IfMatch(last))
                .with_ttl(Duration::from_millis(1));
            seen.push(s.write_many(vec![op]).await.unwrap()[0].unwrap());
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(s.read("k").await.unwrap(), None, "expired");
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {seen:?}"
    );
    for stale in &seen {
        let res = s
            .write("k", json!("stale"), Precondition::IfMatch(*stale))
            .await;
        assert_conflict(res, "a version of an earlier incarnation");
    }
}

/// One key several times in a batch, deleted and recreated in it: every put of the batch gets
/// its own version, in order, above the version the key had.
#[tokio::test]
async fn versions_within_one_batch() {
    let t = target();
    let s = fresh(&t.url, "batch").await;
    let v0 = s.write("a", json!(0), Precondition::Any).await.unwrap();
    let ops = vec![
        WriteOp::put("a", json!(1), Precondition::IfMatch(v0)),
        WriteOp::put("b", json!(1), Precondition::IfAbsent),
        WriteOp::put("a", json!(2), Precondition::Any),
        WriteOp::delete("a", Precondition::Any),
        WriteOp::put("a", json!(3), Precondition::Any),
        WriteOp::put("job/x", json!(1), Precondition::IfAbsent),
        WriteOp::delete("job/x", Precondition::Any),
        WriteOp::put("job/x", json!(2), Precondition::Any),
    ];
    let v = s.write_many(ops).await.unwrap();
    let puts: Vec<Version> = v.iter().flatten().copied().collect();
    assert_eq!(puts.len(), 6);
    assert!(
        puts.windows(2).all(|w| w[0] < w[1]) && v0 < puts[0],
        "{v0:?} {v:?}"
    );
    let read = s.read_many(&["a", "job/x"]).await.unwrap();
    assert_eq!(
        read[0].as_ref().map(|r| (&r.value, r.version)),
        Some((&json!(3), puts[3]))
    );
    assert_eq!(read[1].as_ref().map(|r| r.version), Some(puts[5]));
    assert_eq!(s.list_keys("job/", None, 10).await.unwrap(), ["job/x"]);
    // 2,500 puts in one batch (more than the 1,000 sequence numbers of one microsecond).
    let ops = (0..2500).map(|i| WriteOp::put(format!("n{i}"), json!(i), Precondition::Any));
    let v: Vec<Version> = s
        .write_many(ops.collect())
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert!(v.windows(2).all(|w| w[0] < w[1]), "distinct, in order");
    let after = s.write("a", json!(4), Precondition::Any).await.unwrap();
    assert!(
        after > v[2499],
        "a later batch is above an earlier one on any key"
    );
}

/// A record whose version is ahead of the server clock (written under a clock that later
/// stepped back, say) still gets increasing versions.
#[tokio::test]
async fn versions_ahead_of_the_clock_still_increase() {
    let t = target();
    let s = fresh(&t.url, "ahead").await;
    let ahead = 9_000_000_000_000_000_998u64;
    let mut raw = raw_conn(&t.url).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{}:r:k", s.namespace()))
        .arg(format!(r#"{{"v":{ahead},"d":1}}"#))
        .query_async(&mut raw)
        .await
        .unwrap();
    let v1 = s
        .write("k", json!(2), Precondition::IfMatch(Version(ahead)))
        .await
        .unwrap();
    let v2 = s.write("k", json!(3), Precondition::Any).await.unwrap();
    assert_eq!(
        (v1, v2),
        (Version(ahead + 1), Version(ahead + 2)),
        "carries into the clock part"
    );
}

/// Two connections incrementing two counters (one in an indexed family) in one batch, on two
/// threads, end at the exact total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_from_two_connections_stay_exact() {
    const PER_CLIENT: u64 = 150;
    const KEYS: [&str; 2] = ["counter", "fanout/j/counter"];
    let t = target();
    let a = fresh(&t.url, "incr").await;
    let b = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(a.namespace());
    let run = |s: RedisStorage| {
        tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..PER_CLIENT {
                loop {
                    let read = s.read_many(&KEYS).await.unwrap();
                    let ops = KEYS.iter().zip(read).map(|(k, r)| match r {
                        Some(r) => {
                            let n = r.value.as_u64().unwrap();
                            WriteOp::put(*k, json!(n + 1), Precondition::IfMatch(r.version))
                        }
                        None => WriteOp::put(*k, json!(1), Precondition::IfAbsent),
                    });
                    match s.write_many(ops.collect()).await {
                        Ok(_) => break,
                        Err(StorageError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
            conflicts
        })
    };
    let (ra, rb) = (run(a.clone()), run(b));
    let conflicts = ra.await.unwrap() + rb.await.unwrap();
    let read = a.read_many(&KEYS).await.unwrap();
    let values: Vec<_> = read.into_iter().map(|r| r.unwrap().value).collect();
    let total = json!(2 * PER_CLIENT);
    assert_eq!(
        values,
        [total.clone(), total],
        "lost updates ({conflicts} conflicts)"
    );
}

/// A namespace in the layout before (a global counter and a global index of every key) is
/// brought to the per-family indexes, keeping every record and its version.
#[tokio::test]
async fn migrating_from_the_global_counter_and_index() {
    let t = target();
    let s = fresh(&t.url, "migrate").await;
    let ns = s.namespace().to_owned();
    let mut raw = raw_conn(&t.url).await;
    let old = [
        ("job/0001/a", 3),
        ("address/c/u", 7),
        ("fanout/j/1", 10),
        ("user/c/u", 12),
    ];
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg(format!("{ns}:v")).arg(12);
    for (key, v) in old {
        let envelope = format!(r#"{{"v":{v},"d":{{"k":"{key}"}}}}"#);
        pipe.cmd("SET").arg(format!("{ns}:r:{key}")).arg(envelope);
        pipe.cmd("ZADD").arg(format!("{ns}:i")).arg(0).arg(key);
    }
    pipe.cmd("ZADD")
        .arg(format!("{ns}:i"))
        .arg(0)
        .arg("job/expired");
    let _: () = pipe.query_async(&mut raw).await.unwrap();
    assert!(
        s.list_keys("job/", None, 10).await.unwrap().is_empty(),
        "not yet indexed"
    );

    assert_eq!(
        s.migrate_layout().await.unwrap(),
        3,
        "records in indexed families"
    );
    assert_eq!(s.list_keys("job/", None, 10).await.unwrap(), ["job/0001/a"]);
    assert_eq!(
        s.list_keys("address/", None, 10).await.unwrap(),
        ["address/c/u"]
    );
    assert_eq!(
        s.list_keys("fanout/j/", None, 10).await.unwrap(),
        ["fanout/j/1"]
    );
    let all: Vec<&str> = {
        let mut all: Vec<&str> = old.iter().map(|(k, _)| *k).collect();
        all.sort();
        all
    };
    assert_eq!(s.list_keys("", None, 10).await.unwrap(), all);
    let index: bool = redis::cmd("EXISTS")
        .arg(format!("{ns}:i"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!index, "the global index is gone");
    // The counter is left for processes of the layout before, and never touched.
    let counter: u64 = redis::cmd("GET")
        .arg(format!("{ns}:v"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(counter, 12);

    // Versions read before the migration still match once, then never again.
    let user = s.read("user/c/u").await.unwrap().unwrap();
    assert_eq!(
        (user.version, user.value),
        (Version(12), json!({"k": "user/c/u"}))
    );
    let next = s
        .write("user/c/u", json!(1), Precondition::IfMatch(Version(12)))
        .await
        .unwrap();
    assert!(next > Version(12), "{next:?}");
    let stale = s
        .write("user/c/u", json!(2), Precondition::IfMatch(Version(12)))
        .await;
    assert_conflict(stale, "a version from before the migration, reused");
    s.write("job/0002/b", json!(1), Precondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(
        s.migrate_layout().await.unwrap(),
        0,
        "running it again is harmless"
    );
    let card: usize = redis::cmd("ZCARD")
        .arg(format!("{ns}:i:job/"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(card, 2);
    let counter: u64 = redis::cmd("GET")
        .arg(format!("{ns}:v"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        counter, 12,
        "writes after the migration left the old counter alone"
    );
    assert_eq!(
        s.list_keys("job/", None, 10).await.unwrap(),
        ["job/0001/a", "job/0002/b"]
    );
}
