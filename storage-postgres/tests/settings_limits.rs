//! Limits of the backend's settings: table names and timeouts that PostgreSQL could not take.

mod support;

use botcore::{Precondition, StorageError, StorageExt, json};
use storage_postgres::{PostgresOptions, PostgresStorage};
use support::{target, unique_table};

/// A table's sequence is `<table>_version` and its index `<table>_expires`: names that end
/// like that could be another table's sequence or index, so they are refused up front.
#[tokio::test]
async fn table_names_that_could_name_a_sequence_or_index_are_refused() {
    let t = target();
    for bad in ["orders_version", "orders_expires"] {
        let r = PostgresStorage::connect_with(&t.url, PostgresOptions::default().table(bad)).await;
        assert!(
            matches!(r, Err(StorageError::Unavailable(_))),
            "{bad} must be refused"
        );
    }
    let base = unique_table("orders");
    let ok = PostgresStorage::connect_with(&t.url, PostgresOptions::default().table(&base))
        .await
        .expect("a plain name works");
    ok.write("k", json!(1), Precondition::Any).await.unwrap();
    support::raw(&t.url)
        .await
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{base}\"; DROP SEQUENCE IF EXISTS \"{base}_version\""
        ))
        .await
        .unwrap();
}

/// A very long `op_timeout` (the natural way to ask for "no timeout") works: it is capped
/// where PostgreSQL's own timeouts end.
#[tokio::test]
async fn huge_op_timeout_does_not_panic() {
    let t = target();
    let url = t.url.clone();
    let res = tokio::spawn(async move {
        let options = PostgresOptions::default().op_timeout(std::time::Duration::MAX);
        let s = PostgresStorage::connect_with(&url, options).await?;
        s.read("k").await.map(|_| ())
    })
    .await;
    match res {
        Ok(r) => r.expect("a long op_timeout should work"),
        Err(e) => panic!("connect_with / read panicked: {e}"),
    }
}

/// An `op_timeout` over about 24.8 days (PostgreSQL's maximum `statement_timeout`) still
/// connects: the server-side timeouts are capped.
#[tokio::test]
async fn long_op_timeout_still_connects() {
    let t = target();
    let options =
        PostgresOptions::default().op_timeout(std::time::Duration::from_secs(30 * 24 * 3600));
    let s = PostgresStorage::connect_with(&t.url, options)
        .await
        .expect("a 30-day op_timeout should connect");
    s.read("k").await.unwrap();
}
