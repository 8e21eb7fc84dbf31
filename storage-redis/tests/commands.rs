//! Redis commands per turn-like batch (read 4 records, compare-and-set 3 of them), counted with
//! `INFO commandstats` on a server of the test's own, commands run by scripts included.
//!
//! The layout before (a global version counter and a global key index) took 14 commands per
//! batch: MGET, EVALSHA, and per write GET + INCR + SET + ZADD, two of those on the two
//! global keys. This layout takes 9: MGET, EVALSHA, TIME, and per write GET + SET.

mod support;

use botcore::{Precondition, Storage, WriteOp, json};
use std::collections::BTreeMap;
use storage_redis::{RedisStorage, redis};
use support::RedisServer;

const TURNS: u64 = 200;

const KEYS: [&str; 4] = [
    "user/c/u",
    "conversation/c/k",
    "private/c/k/u",
    "address-mark/c/u",
];

async fn command_stats(raw: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let calls = rest.strip_prefix("calls=")?.split(',').next()?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| !name.starts_with("info") && !name.starts_with("config"))
        .collect()
}

/// Runs `TURNS` turn-like batches; returns the commands per batch, by command.
async fn per_turn(
    s: &RedisStorage,
    raw: &mut redis::aio::MultiplexedConnection,
) -> BTreeMap<String, f64> {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(raw)
        .await
        .unwrap();
    for n in 1..=TURNS {
        let read = s.read_many(&KEYS).await.unwrap();
        let ops = KEYS[..3].iter().zip(&read).map(|(k, r)| {
            let pre = match r {
                Some(r) => Precondition::IfMatch(r.version),
                None => Precondition::IfAbsent,
            };
            WriteOp::put(*k, json!({ "n": n }), pre)
        });
        s.write_many(ops.collect()).await.unwrap();
    }
    let stats = command_stats(raw).await;
    stats
        .into_iter()
        .map(|(c, n)| (c, n as f64 / TURNS as f64))
        .collect()
}

#[tokio::test]
async fn commands_per_turn_like_batch() {
    let server = RedisServer::start();
    let s = RedisStorage::connect(&server.url())
        .await
        .unwrap()
        .with_namespace("measure");
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    // Warm up: create the records and load the script.
    per_turn(&s, &mut raw).await;
    let stats = per_turn(&s, &mut raw).await;
    let total: f64 = stats.values().sum();
    println!("commands per turn-like batch: {total} ({stats:?})");
    let expected = [
        ("evalsha", 1.0),
        ("get", 3.0),
        ("mget", 1.0),
        ("set", 3.0),
        ("time", 1.0),
    ];
    let expected: BTreeMap<String, f64> = expected.map(|(c, n)| (c.to_owned(), n)).into();
    assert_eq!(stats, expected, "commands per turn-like batch");
}
