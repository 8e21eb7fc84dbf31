//! Runs botcore's storage conformance suite against [`MemoryStorage`], check by check.

use botcore::testing::{self, ConformanceOptions, TtlControl};
use botcore::{ManualClock, Precondition, StorageExt, json};
use storage_memory::MemoryStorage;

const LIMIT: usize = testing::MIN_SIZE_LIMIT;

fn fresh() -> MemoryStorage {
    MemoryStorage::new()
}

#[tokio::test]
async fn unknown_key_reads_none() {
    testing::check_unknown_key_reads_none(&fresh()).await;
}

#[tokio::test]
async fn odd_keys() {
    testing::check_odd_keys(&fresh()).await;
}

#[tokio::test]
async fn value_types() {
    testing::check_value_types(&fresh()).await;
}

#[tokio::test]
async fn new_version_every_write() {
    testing::check_new_version_every_write(&fresh()).await;
}

#[tokio::test]
async fn stale_if_match_rejected() {
    testing::check_stale_if_match_rejected(&fresh()).await;
}

#[tokio::test]
async fn if_absent_on_existing_rejected() {
    testing::check_if_absent_on_existing_rejected(&fresh()).await;
}

#[tokio::test]
async fn unconditional_write() {
    testing::check_unconditional_write(&fresh()).await;
}

#[tokio::test]
async fn delete() {
    testing::check_delete(&fresh()).await;
}

#[tokio::test]
async fn batch_atomic() {
    testing::check_batch_atomic(&fresh()).await;
}

#[tokio::test]
async fn concurrent_increments() {
    let a = fresh();
    let b = a.clone();
    testing::check_concurrent_increments(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_on_two_threads() {
    let a = fresh();
    let b = a.clone();
    let t = tokio::spawn(async move { testing::check_concurrent_increments(&a, &b).await });
    t.await.expect("check panicked");
}

#[tokio::test]
async fn size_limit() {
    testing::check_size_limit(&fresh().with_max_value_bytes(LIMIT), LIMIT).await;
}

#[tokio::test]
async fn dialog_stack_round_trip() {
    testing::check_dialog_stack_round_trip(&fresh()).await;
}

#[tokio::test]
async fn list_keys() {
    testing::check_list_keys(&fresh()).await;
}

#[tokio::test]
async fn namespace_isolation() {
    let base = fresh();
    testing::check_namespace_isolation(
        &base.clone().with_namespace("a"),
        &base.with_namespace("b"),
    )
    .await;
}

#[tokio::test]
async fn namespace_isolation_default_vs_named() {
    let base = fresh();
    testing::check_namespace_isolation(&base.clone(), &base.with_namespace("x")).await;
}

#[tokio::test]
async fn namespaces_do_not_alias_by_concatenation() {
    let base = fresh();
    let a = base.clone().with_namespace("a");
    let ab = base.with_namespace("ab");
    a.write("bc", json!("a/bc"), Precondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(ab.read("c").await.unwrap(), None);
    ab.write("c", json!("ab/c"), Precondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(a.read("bc").await.unwrap().unwrap().value, json!("a/bc"));
}

#[tokio::test]
async fn ttl() {
    let clock = ManualClock::new(1_000_000);
    let s = fresh().with_clock(clock.clone());
    testing::check_ttl(&s, &TtlControl::manual(clock)).await;
}

#[tokio::test]
async fn whole_suite() {
    let clock = ManualClock::new(5_000);
    let options = ConformanceOptions {
        size_limit: Some(LIMIT),
        ttl: Some(TtlControl::manual(clock.clone())),
    };
    testing::run_storage_conformance(
        || {
            MemoryStorage::new()
                .with_max_value_bytes(LIMIT)
                .with_clock(clock.clone())
        },
        options,
    )
    .await;
}
