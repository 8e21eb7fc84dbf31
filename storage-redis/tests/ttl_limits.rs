//! TTLs at the limits of what Redis accepts.

mod support;

use botcore::{Precondition, Storage, StorageExt, WriteOp, json};
use std::time::Duration;
use storage_redis::RedisStorage;
use support::{target, unique_namespace};

/// A batch is atomic: if any op fails, none is applied. A TTL too large for Redis's `SET … PX`
/// (here `Duration::MAX`, clamped to `i64::MAX` ms, which overflows `now + ttl` in Redis) makes
/// the write script fail *after* it has already applied the earlier ops of the batch.
#[tokio::test]
async fn a_huge_ttl_never_leaves_a_batch_half_applied() {
    let t = target();
    let s = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_namespace(unique_namespace("huge-ttl"));
    let v0 = s.write("a", json!("old"), Precondition::Any).await.unwrap();
    let res = s
        .write_many(vec![
            WriteOp::put("a", json!("new"), Precondition::IfMatch(v0)),
            WriteOp::put("job/b", json!("new"), Precondition::IfAbsent).with_ttl(Duration::MAX),
        ])
        .await;
    let a = s.read("a").await.unwrap().unwrap();
    let b = s.read("job/b").await.unwrap();
    match res {
        Ok(_) => assert!(b.is_some(), "batch reported success but job/b is missing"),
        Err(e) => {
            assert_eq!(
                (a.value.clone(), a.version, b.is_some()),
                (json!("old"), v0, false),
                "batch failed ({e}) but was partly applied"
            );
        }
    }
}
