//! Hash slots, on a single-node Redis Cluster of the test's own: it refuses any command or
//! script whose keys span several slots, as a real cluster does, so these tests fail if a batch
//! touches keys (a global counter or index) beyond its records and their family indexes.

mod support;

use botcore::testing::{self, ConformanceOptions, TtlControl};
use botcore::{Precondition, Storage, StorageError, StorageExt, WriteOp, json};
use std::time::Duration;
use storage_redis::RedisStorage;
use support::{RedisServer, unique_namespace};

async fn connect(server: &RedisServer, namespace: &str) -> RedisStorage {
    RedisStorage::connect(&server.url())
        .await
        .unwrap()
        .with_namespace(namespace)
}

fn assert_cross_slot<T: std::fmt::Debug>(res: Result<T, StorageError>, what: &str) {
    match res {
        Err(StorageError::Unavailable(e)) if e.contains("CROSSSLOT") || e.contains("slot") => {}
        other => panic!("{what}: expected a cross-slot refusal, got {other:?}"),
    }
}

/// Without a hash tag in the namespace, a batch whose record keys carry one tag is one slot:
/// reads, compare-and-set writes and deletes work. Keys with different tags do not.
#[tokio::test]
async fn a_batch_of_keys_with_one_hash_tag_is_one_slot() {
    let server = RedisServer::start_cluster();
    let s = connect(&server, "plain").await;
    let keys = ["conversation/{c42}", "private/{c42}/u1", "session:{c42}"];
    let ops = keys
        .iter()
        .map(|k| WriteOp::put(*k, json!({"n": 1}), Precondition::IfAbsent))
        .collect();
    let versions = s.write_many(ops).await.expect("a one-slot batch");
    let read = s.read_many(&keys).await.unwrap();
    let ops = keys
        .iter()
        .zip(&read)
        .map(|(k, r)| {
            let pre = Precondition::IfMatch(r.as_ref().unwrap().version);
            WriteOp::put(*k, json!({"n": 2}), pre)
        })
        .collect();
    let next = s.write_many(ops).await.expect("a one-slot update");
    assert!(
        versions.iter().zip(&next).all(|(a, b)| a < b),
        "{versions:?} {next:?}"
    );
    s.delete(keys[2], Precondition::Any).await.unwrap();

    let split = vec![
        WriteOp::put("conversation/{c42}", json!(3), Precondition::Any),
        WriteOp::put("conversation/{c43}", json!(3), Precondition::Any),
    ];
    assert_cross_slot(s.write_many(split).await, "a batch over two tags");
    assert_cross_slot(
        s.read_many(&["conversation/{c42}", "conversation/{c43}"])
            .await,
        "a read over two tags",
    );
    // Listing prefixes outside the indexed families is a SCAN, which one node can serve.
    let listed = s.list_keys("private/", None, 10).await.unwrap();
    assert_eq!(listed, ["private/{c42}/u1"]);
}

/// What keeps a plain namespace off a cluster: a record of an indexed family and its family
/// index are written by one script, and they live in different slots.
#[tokio::test]
async fn an_indexed_record_and_its_index_need_a_tagged_namespace() {
    let server = RedisServer::start_cluster();
    let plain = connect(&server, "plain").await;
    let res = plain
        .write("job/{c42}/1", json!(1), Precondition::Any)
        .await;
    assert_cross_slot(res, "an indexed record without a namespace tag");
    let tagged = connect(&server, "{bot}").await;
    tagged
        .write("job/1", json!(1), Precondition::Any)
        .await
        .unwrap();
    assert_eq!(tagged.list_keys("job/", None, 10).await.unwrap(), ["job/1"]);
}

/// With a hash tag in the namespace every key of the namespace is in one slot, so the whole
/// conformance suite passes on a cluster node (which then does all of the namespace's work).
#[tokio::test]
async fn the_conformance_suite_passes_in_one_tagged_slot() {
    let server = RedisServer::start_cluster();
    let base = RedisStorage::connect(&server.url())
        .await
        .unwrap()
        .with_max_value_bytes(testing::MIN_SIZE_LIMIT);
    let options = ConformanceOptions {
        size_limit: Some(testing::MIN_SIZE_LIMIT),
        ttl: Some(TtlControl::real_time(
            Duration::from_millis(700),
            tokio::time::sleep,
        )),
    };
    testing::run_storage_conformance(
        || {
            let ns = format!("{{{}}}", unique_namespace("cluster"));
            base.clone().with_namespace(ns)
        },
        options,
    )
    .await;
    let tagged = connect(&server, "{bot}").await;
    tagged
        .write("address/c/u", json!(1), Precondition::Any)
        .await
        .unwrap();
    assert_eq!(tagged.migrate_layout().await.unwrap(), 0, "already indexed");
    assert_eq!(tagged.purge_expired().await.unwrap(), 0);
}
