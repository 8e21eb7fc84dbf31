//! Which Redis keys a batch touches, on a server of the test's own: after writes, `KEYS *`
//! holds only the records and the indexes of their families; under `MONITOR`, every command a
//! script runs touches only keys the script was given, and those are the batch's records plus
//! the indexes of the families it creates or deletes records in.

mod support;

use botcore::{Precondition, Storage, StorageExt, WriteOp, json};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;
use storage_redis::{RedisStorage, redis};
use support::RedisServer;

async fn connect(server: &RedisServer, namespace: &str) -> RedisStorage {
    RedisStorage::connect(&server.url())
        .await
        .unwrap()
        .with_namespace(namespace)
}

async fn all_keys(server: &RedisServer) -> BTreeSet<String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

const TURN_KEYS: [&str; 4] = [
    "user/ch/u1",
    "conversation/ch/c1",
    "private/ch/c1/u1",
    "address-mark/ch/u1",
];

#[tokio::test]
async fn only_records_and_family_indexes_exist() {
    let server = RedisServer::start();
    let s = connect(&server, "ns").await;
    let ops = TURN_KEYS
        .iter()
        .map(|k| WriteOp::put(*k, json!({}), Precondition::IfAbsent))
        .collect();
    s.write_many(ops).await.unwrap();
    for n in 0..20 {
        s.update(&TURN_KEYS[..3], |read| {
            let ops = TURN_KEYS[..3].iter().zip(read).map(|(k, r)| {
                let v = r.expect("written").version;
                WriteOp::put(*k, json!({ "n": n }), Precondition::IfMatch(v))
            });
            Ok::<_, botcore::StorageError>(botcore::storage::Update::Write(ops.collect(), ()))
        })
        .await
        .unwrap();
    }
    let records: Vec<String> = TURN_KEYS.iter().map(|k| format!("ns:r:{k}")).collect();
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    assert_eq!(
        all_keys(&server).await,
        set(&records),
        "turns left other keys behind"
    );

    // Records of indexed families add their family's index, nothing else.
    let ops = vec![
        WriteOp::put("job/0001/a", json!(1), Precondition::IfAbsent),
        WriteOp::put("job/0002/b", json!(2), Precondition::IfAbsent),
        WriteOp::put("address/ch/u1", json!(3), Precondition::Any),
    ];
    s.write_many(ops).await.unwrap();
    let mut expected = set(&records);
    expected.extend(set(&[
        "ns:r:job/0001/a",
        "ns:r:job/0002/b",
        "ns:r:address/ch/u1",
        "ns:i:job/",
        "ns:i:address/",
    ]));
    assert_eq!(all_keys(&server).await, expected);
    s.delete("job/0001/a", Precondition::Any).await.unwrap();
    s.delete("job/0002/b", Precondition::Any).await.unwrap();
    expected.retain(|k| !k.starts_with("ns:r:job/") && k != "ns:i:job/");
    assert_eq!(
        all_keys(&server).await,
        expected,
        "an empty index is removed"
    );
}

/// One line of `MONITOR`: where the command came from (`lua` for scripts) and its arguments.
fn parse_monitor(line: &str) -> Option<(bool, Vec<String>)> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let from_lua = line[open + 1..close].ends_with(" lua");
    let mut args = Vec::new();
    let mut chars = line[close + 1..].chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => arg.push('\n'),
                    'r' => arg.push('\r'),
                    't' => arg.push('\t'),
                    'a' => arg.push('\u{7}'),
                    'b' => arg.push('\u{8}'),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        arg.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                    }
                    other => arg.push(other),
                },
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
    Some((from_lua, args))
}

/// Runs `op` under MONITOR; returns the keys the scripts were given and the keys the commands
/// run by scripts touched, with the names of those commands.
async fn monitored<F: Future>(server: &RedisServer, op: F) -> (BTreeSet<String>, Vec<String>) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut lines = client
        .get_async_monitor()
        .await
        .unwrap()
        .into_on_message::<String>();
    op.await;
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("ECHO")
        .arg("end-of-op")
        .query_async(&mut raw)
        .await
        .unwrap();
    let (mut declared, mut touched) = (BTreeSet::new(), Vec::new());
    loop {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next())
            .await
            .expect("MONITOR went quiet")
            .expect("MONITOR ended");
        let (from_lua, args) = parse_monitor(&line).expect("a MONITOR line");
        let name = args[0].to_ascii_uppercase();
        if name == "ECHO" && args.get(1).is_some_and(|a| a == "end-of-op") {
            break;
        }
        if !from_lua && (name == "EVALSHA" || name == "EVAL") {
            let n: usize = args[2].parse().unwrap();
            declared.extend(args[3..3 + n].iter().cloned());
        } else if from_lua {
            let keys = match name.as_str() {
                "TIME" => &args[..0],
                "DEL" | "EXISTS" | "UNLINK" => &args[1..],
                _ => &args[1..2],
            };
            touched.extend(keys.iter().map(|k| format!("{name} {k}")));
        }
    }
    (declared, touched)
}

#[tokio::test]
async fn scripts_touch_only_declared_keys_of_the_batch() {
    let server = RedisServer::start();
    let s = connect(&server, "ns").await;
    let keys = [
        "user/ch/u1",
        "private/ch/c1/u1",
        "job/0001/a",
        "job/0002/b",
        "address/ch/u1",
    ];
    let create = keys
        .iter()
        .map(|k| WriteOp::put(*k, json!(0), Precondition::IfAbsent));
    let (declared, touched) = monitored(&server, s.write_many(create.collect())).await;
    let records: Vec<String> = keys.iter().map(|k| format!("ns:r:{k}")).collect();
    let mut expected: BTreeSet<String> = records.iter().cloned().collect();
    expected.extend(["ns:i:job/".to_owned(), "ns:i:address/".to_owned()]);
    assert_eq!(declared, expected, "declared keys of a creating batch");
    let mut want: Vec<String> = records
        .iter()
        .flat_map(|r| [format!("GET {r}"), format!("SET {r}")])
        .collect();
    want.extend(["ZADD ns:i:job/", "ZADD ns:i:job/", "ZADD ns:i:address/"].map(String::from));
    let (mut got, mut want) = (touched.clone(), want);
    got.sort();
    want.sort();
    assert_eq!(got, want, "commands of a creating batch");

    // An update touches the records only: no index, no counter.
    let read = s.read_many(&keys).await.unwrap();
    let update = keys.iter().zip(&read).map(|(k, r)| {
        WriteOp::put(
            *k,
            json!(1),
            Precondition::IfMatch(r.as_ref().unwrap().version),
        )
    });
    let (declared, touched) = monitored(&server, s.write_many(update.collect())).await;
    assert_eq!(declared, expected, "declared keys of an updating batch");
    let touched: BTreeSet<String> = touched
        .iter()
        .map(|t| t.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(
        touched,
        records.iter().cloned().collect(),
        "keys an update touched"
    );

    // Listing an indexed family: the index and the records of its members.
    let (declared, touched) = monitored(&server, async {
        assert_eq!(
            s.list_keys("job/", None, 10).await.unwrap(),
            ["job/0001/a", "job/0002/b"]
        );
    })
    .await;
    let want = set(&["ns:i:job/", "ns:r:job/0001/a", "ns:r:job/0002/b"]);
    assert_eq!(declared, want, "declared keys of a listing");
    assert!(
        touched.iter().all(|t| t.starts_with("EXISTS ")),
        "{touched:?}"
    );
}
