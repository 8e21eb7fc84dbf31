//! Runs botcore's storage conformance suite against [`RedisStorage`] on a real Redis: the one
//! at `REDIS_URL`, or a `redis-server` each test starts on a free port.

mod support;

use botcore::testing::{self, ConformanceOptions, TtlControl};
use std::time::Duration;
use storage_redis::RedisStorage;
use support::{Target, target, unique_namespace};

const LIMIT: usize = testing::MIN_SIZE_LIMIT;

async fn connect(t: &Target) -> RedisStorage {
    RedisStorage::connect(&t.url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", t.url))
}

/// A server (unless `REDIS_URL` is set) and an empty namespace on it.
async fn fresh(test: &str) -> (Target, RedisStorage) {
    let t = target();
    let s = connect(&t).await.with_namespace(unique_namespace(test));
    (t, s)
}

fn real_ttl() -> TtlControl {
    TtlControl::real_time(Duration::from_millis(700), tokio::time::sleep)
}

#[tokio::test]
async fn unknown_key_reads_none() {
    let (_t, s) = fresh("unknown").await;
    testing::check_unknown_key_reads_none(&s).await;
}

#[tokio::test]
async fn odd_keys() {
    let (_t, s) = fresh("odd").await;
    testing::check_odd_keys(&s).await;
}

#[tokio::test]
async fn value_types() {
    let (_t, s) = fresh("types").await;
    testing::check_value_types(&s).await;
}

#[tokio::test]
async fn new_version_every_write() {
    let (_t, s) = fresh("versions").await;
    testing::check_new_version_every_write(&s).await;
}

#[tokio::test]
async fn stale_if_match_rejected() {
    let (_t, s) = fresh("stale").await;
    testing::check_stale_if_match_rejected(&s).await;
}

#[tokio::test]
async fn if_absent_on_existing_rejected() {
    let (_t, s) = fresh("absent").await;
    testing::check_if_absent_on_existing_rejected(&s).await;
}

#[tokio::test]
async fn unconditional_write() {
    let (_t, s) = fresh("any").await;
    testing::check_unconditional_write(&s).await;
}

#[tokio::test]
async fn delete() {
    let (_t, s) = fresh("delete").await;
    testing::check_delete(&s).await;
}

#[tokio::test]
async fn batch_atomic() {
    let (_t, s) = fresh("batch").await;
    testing::check_batch_atomic(&s).await;
}

/// Two separate connections to one namespace.
#[tokio::test]
async fn concurrent_increments() {
    let t = target();
    let ns = unique_namespace("concurrent");
    let a = connect(&t).await.with_namespace(&ns);
    let b = connect(&t).await.with_namespace(&ns);
    testing::check_concurrent_increments(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_on_two_threads() {
    let t = target();
    let ns = unique_namespace("concurrent-mt");
    let a = connect(&t).await.with_namespace(&ns);
    let b = connect(&t).await.with_namespace(&ns);
    tokio::spawn(async move { testing::check_concurrent_increments(&a, &b).await })
        .await
        .expect("check panicked");
}

#[tokio::test]
async fn size_limit() {
    let (_t, s) = fresh("size").await;
    testing::check_size_limit(&s.with_max_value_bytes(LIMIT), LIMIT).await;
}

#[tokio::test]
async fn dialog_stack_round_trip() {
    let (_t, s) = fresh("stack").await;
    testing::check_dialog_stack_round_trip(&s).await;
}

#[tokio::test]
async fn list_keys() {
    let (_t, s) = fresh("list").await;
    testing::check_list_keys(&s).await;
}

#[tokio::test]
async fn namespace_isolation() {
    let (t, s) = fresh("iso-a").await;
    let other = connect(&t).await.with_namespace(unique_namespace("iso-b"));
    testing::check_namespace_isolation(&s, &other).await;
}

/// Namespaces on one connection, one a prefix of the other.
#[tokio::test]
async fn namespace_isolation_with_prefix_namespaces() {
    let (_t, s) = fresh("iso").await;
    let longer = s.clone().with_namespace(format!("{}x", s.namespace()));
    testing::check_namespace_isolation(&s, &longer).await;
}

#[tokio::test]
async fn ttl() {
    let (_t, s) = fresh("ttl").await;
    testing::check_ttl(&s, &real_ttl()).await;
}

#[tokio::test]
async fn whole_suite() {
    let t = target();
    let base = connect(&t).await.with_max_value_bytes(LIMIT);
    let options = ConformanceOptions {
        size_limit: Some(LIMIT),
        ttl: Some(real_ttl()),
    };
    testing::run_storage_conformance(
        || base.clone().with_namespace(unique_namespace("suite")),
        options,
    )
    .await;
}
