//! MemoryStorage behaviour beyond the conformance suite: cross-shard atomicity under load,
//! expiry bookkeeping, and the small inspection helpers.

use botcore::{ManualClock, Precondition, Storage, StorageError, StorageExt, WriteOp, json};
use std::time::Duration;
use storage_memory::MemoryStorage;

const ACCOUNTS: u64 = 64;
const START: i64 = 100;

/// A tiny deterministic PRNG (xorshift), so the test needs no extra dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Tasks on several threads move money between random accounts (spread over all shards) with
/// two-key compare-and-set batches. If batches were not atomic across shards, or locking
/// deadlocked, the total would drift or the test would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_shard_batches_are_atomic_and_deadlock_free() {
    let s = MemoryStorage::new();
    let ops = (0..ACCOUNTS)
        .map(|i| WriteOp::put(format!("acct:{i}"), json!(START), Precondition::IfAbsent))
        .collect();
    s.write_many(ops).await.unwrap();

    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
            let mut done = 0;
            while done < 2_000 {
                let from = format!("acct:{}", next(&mut rng) % ACCOUNTS);
                let to = format!("acct:{}", next(&mut rng) % ACCOUNTS);
                if from == to {
                    continue;
                }
                let got = s.read_many(&[&from, &to]).await.unwrap();
                let (a, b) = (got[0].clone().unwrap(), got[1].clone().unwrap());
                let amount = (next(&mut rng) % 10) as i64;
                let batch = vec![
                    WriteOp::put(
                        &to,
                        json!(b.value.as_i64().unwrap() + amount),
                        Precondition::IfMatch(b.version),
                    ),
                    WriteOp::put(
                        &from,
                        json!(a.value.as_i64().unwrap() - amount),
                        Precondition::IfMatch(a.version),
                    ),
                ];
                match s.write_many(batch).await {
                    Ok(_) => done += 1,
                    Err(StorageError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("batches deadlocked");

    let keys: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct:{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let total: i64 = s
        .read_many(&refs)
        .await
        .unwrap()
        .iter()
        .map(|r| r.as_ref().unwrap().value.as_i64().unwrap())
        .sum();
    assert_eq!(
        total,
        START * ACCOUNTS as i64,
        "money was created or destroyed"
    );
}

#[tokio::test]
async fn expired_records_are_not_counted_and_are_purged() {
    let clock = ManualClock::new(0);
    let s = MemoryStorage::new().with_clock(clock.clone());
    assert!(s.is_empty());
    s.write_many(vec![
        WriteOp::put("a", json!(1), Precondition::Any).with_ttl(Duration::from_secs(1)),
        WriteOp::put("b", json!(2), Precondition::Any),
    ])
    .await
    .unwrap();
    assert_eq!(s.len(), 2);
    clock.advance(Duration::from_millis(999));
    assert_eq!(s.len(), 2, "still alive 1 ms before its TTL");
    clock.advance(Duration::from_millis(1));
    assert_eq!(s.len(), 1, "expired exactly at its TTL");
    s.purge_expired();
    assert_eq!(s.len(), 1);
    assert_eq!(s.read("a").await.unwrap(), None);
}

#[tokio::test]
async fn zero_ttl_expires_at_once() {
    let clock = ManualClock::new(0);
    let s = MemoryStorage::new().with_clock(clock.clone());
    s.write_many(vec![
        WriteOp::put("a", json!(1), Precondition::Any).with_ttl(Duration::ZERO),
    ])
    .await
    .unwrap();
    clock.advance(Duration::from_millis(1));
    assert_eq!(s.read("a").await.unwrap(), None);
}

#[tokio::test]
async fn size_is_only_checked_with_a_limit() {
    let s = MemoryStorage::new();
    let big = json!("x".repeat(1 << 20));
    s.write("big", big.clone(), Precondition::Any)
        .await
        .unwrap();
    assert_eq!(s.read("big").await.unwrap().unwrap().value, big);
    let limited = MemoryStorage::new().with_max_value_bytes(10);
    let err = limited
        .write("big", big, Precondition::Any)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { size, limit: 10, .. } if size == (1 << 20) + 2));
}

#[tokio::test]
async fn views_share_data_and_versions() {
    let s = MemoryStorage::new();
    let view = s.clone().with_namespace("ns");
    assert_eq!(view.namespace(), "ns");
    let v1 = s.write("k", json!(1), Precondition::Any).await.unwrap();
    let v2 = view.write("k", json!(2), Precondition::Any).await.unwrap();
    assert!(v2 > v1, "one version counter across namespaces");
    let clone = view.clone();
    assert_eq!(
        clone.read("k").await.unwrap().unwrap().version,
        v2,
        "clones share data"
    );
}
