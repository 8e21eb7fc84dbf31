//! A call its caller gives up on (a `timeout` or `select!` around it) must not hand its
//! still-busy connection to the next call.

mod support;

use botcore::{Precondition, StorageExt, json};
use std::time::{Duration, Instant};
use storage_postgres::{PostgresOptions, PostgresStorage};
use support::{drop_table, raw, target, unique_table};

#[tokio::test]
async fn a_call_its_caller_abandons_does_not_hold_up_the_next_one() {
    let t = target();
    let table = unique_table("abandoned");
    let options = PostgresOptions::default()
        .table(&table)
        .pool_size(1)
        .op_timeout(Duration::from_secs(5));
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .unwrap();
    s.write("locked", json!(1), Precondition::Any)
        .await
        .unwrap();
    // Another session holds the row, so a write to it waits on the server.
    let locker = raw(&t.url).await;
    locker
        .batch_execute(&format!("BEGIN; SELECT * FROM \"{table}\" FOR UPDATE"))
        .await
        .unwrap();
    let write = s.write("locked", json!(2), Precondition::Any);
    let abandoned = tokio::time::timeout(Duration::from_millis(200), write).await;
    assert!(abandoned.is_err(), "the write waits for the row lock");
    // The pool's only connection is still waiting for that lock: the next call must not get it.
    let started = Instant::now();
    let read = s.read("other").await;
    let waited = started.elapsed();
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert!(read.is_ok(), "{read:?}");
    assert!(
        waited < Duration::from_secs(3),
        "an unrelated read waited {waited:?} behind the abandoned write"
    );
    drop_table(&t.url, &table).await;
}
