//! Runs botcore's storage conformance suite against [`PostgresStorage`] on a real PostgreSQL:
//! the one at `DATABASE_URL`, or a server this test binary starts on a free port.

mod support;

use botcore::ManualClock;
use botcore::testing::{self, ConformanceOptions, TtlControl};
use std::time::Duration;
use storage_postgres::{PostgresOptions, PostgresStorage};
use support::{Target, drop_table, target, unique_namespace, unique_table};

const LIMIT: usize = testing::MIN_SIZE_LIMIT;

async fn connect(t: &Target) -> PostgresStorage {
    PostgresStorage::connect(&t.url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", t.url))
}

/// An empty namespace on the shared server (or `DATABASE_URL`).
async fn fresh(test: &str) -> PostgresStorage {
    connect(&target())
        .await
        .with_namespace(unique_namespace(test))
}

#[tokio::test]
async fn unknown_key_reads_none() {
    testing::check_unknown_key_reads_none(&fresh("unknown").await).await;
}

#[tokio::test]
async fn odd_keys() {
    testing::check_odd_keys(&fresh("odd").await).await;
}

#[tokio::test]
async fn value_types() {
    testing::check_value_types(&fresh("types").await).await;
}

#[tokio::test]
async fn new_version_every_write() {
    testing::check_new_version_every_write(&fresh("versions").await).await;
}

#[tokio::test]
async fn stale_if_match_rejected() {
    testing::check_stale_if_match_rejected(&fresh("stale").await).await;
}

#[tokio::test]
async fn if_absent_on_existing_rejected() {
    testing::check_if_absent_on_existing_rejected(&fresh("absent").await).await;
}

#[tokio::test]
async fn unconditional_write() {
    testing::check_unconditional_write(&fresh("any").await).await;
}

#[tokio::test]
async fn delete() {
    testing::check_delete(&fresh("delete").await).await;
}

#[tokio::test]
async fn batch_atomic() {
    testing::check_batch_atomic(&fresh("batch").await).await;
}

/// Two storages, two pools, one namespace.
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
    let s = fresh("size").await.with_max_value_bytes(LIMIT);
    testing::check_size_limit(&s, LIMIT).await;
}

#[tokio::test]
async fn dialog_stack_round_trip() {
    testing::check_dialog_stack_round_trip(&fresh("stack").await).await;
}

#[tokio::test]
async fn list_keys() {
    testing::check_list_keys(&fresh("list").await).await;
}

#[tokio::test]
async fn namespace_isolation() {
    let s = fresh("iso-a").await;
    let other = s.clone().with_namespace(unique_namespace("iso-b"));
    testing::check_namespace_isolation(&s, &other).await;
}

/// Namespaces one a prefix of the other, one of them with the key separator in it.
#[tokio::test]
async fn namespace_isolation_with_prefix_namespaces() {
    let s = fresh("iso").await;
    let longer = s.clone().with_namespace(format!("{}:", s.namespace()));
    testing::check_namespace_isolation(&s, &longer).await;
}

/// Two tables on one server are separate too.
#[tokio::test]
async fn table_isolation() {
    let t = target();
    // One of them named like an SQL keyword, on a server of our own.
    let keyword = match support::database_url() {
        Some(_) => unique_table("iso_b"),
        None => "user".to_owned(),
    };
    let tables = [unique_table("iso_a"), keyword];
    let connect = |table: &str| {
        PostgresStorage::connect_with(&t.url, PostgresOptions::default().table(table))
    };
    let a = connect(&tables[0]).await.unwrap();
    let b = connect(&tables[1]).await.unwrap();
    testing::check_namespace_isolation(&a, &b).await;
    for table in &tables {
        drop_table(&t.url, table).await;
    }
}

/// TTLs by a manual clock (the time the storage passes to the server).
#[tokio::test]
async fn ttl() {
    let clock = ManualClock::new(1_000_000);
    let s = fresh("ttl").await.with_clock(clock.clone());
    testing::check_ttl(&s, &TtlControl::manual(clock)).await;
}

/// TTLs by the server's own clock (no clock given), with real waiting.
#[tokio::test]
async fn ttl_by_server_time() {
    let s = fresh("ttl-server").await;
    let control = TtlControl::real_time(Duration::from_millis(700), tokio::time::sleep);
    testing::check_ttl(&s, &control).await;
}

#[tokio::test]
async fn whole_suite() {
    let clock = ManualClock::new(5_000);
    let base = connect(&target())
        .await
        .with_max_value_bytes(LIMIT)
        .with_clock(clock.clone());
    let options = ConformanceOptions {
        size_limit: Some(LIMIT),
        ttl: Some(TtlControl::manual(clock)),
    };
    testing::run_storage_conformance(
        || base.clone().with_namespace(unique_namespace("suite")),
        options,
    )
    .await;
}
