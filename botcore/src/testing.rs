//! The storage conformance suite: the checks every [`Storage`] backend must pass.
//!
//! A backend crate enables botcore's `testing` feature in its dev-dependencies and runs the
//! checks from its own tests, either all at once with [`run_storage_conformance`] or one by one
//! (one `#[tokio::test]` per check reads best when something fails). The suite is
//! runtime-agnostic: it only awaits the storage, and waiting for TTLs goes through
//! [`TtlControl`], which the backend's test supplies.
//!
//! Every check takes a storage it may fill as it likes; checks that list keys expect it to start
//! empty. Failures panic with a message naming the check.
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     let clock = botcore::ManualClock::new(1_000);
//!     let options = ConformanceOptions {
//!         size_limit: Some(65536),
//!         ttl: Some(TtlControl::manual(clock.clone())),
//!     };
//!     run_storage_conformance(
//!         || MyStorage::new().with_max_value_bytes(65536).with_clock(clock.clone()),
//!         options,
//!     )
//!     .await;
//! }
//! ```

use crate::ManualClock;
use crate::storage::{Precondition, Storage, StorageError, StorageExt, Stored, Version, WriteOp};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// What the backend under test supports beyond the basic contract.
#[derive(Debug, Default)]
pub struct ConformanceOptions {
    /// The `max_value_bytes` the storage from `make` was configured with, if any. The other
    /// checks write values of up to about 50 KB, so it must be at least [`MIN_SIZE_LIMIT`].
    pub size_limit: Option<usize>,
    /// How to let time pass, if the backend honours [`WriteOp::ttl`].
    pub ttl: Option<TtlControl>,
}

/// The smallest size limit [`run_storage_conformance`] works with.
pub const MIN_SIZE_LIMIT: usize = 64 * 1024;

type Advance = Box<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// How the TTL check lets time pass: the TTL to write with, and a way to move time forward.
pub struct TtlControl {
    ttl: Duration,
    advance: Advance,
}

impl TtlControl {
    /// For a backend reading a [`ManualClock`]: time moves by advancing the clock.
    pub fn manual(clock: ManualClock) -> Self {
        Self {
            ttl: Duration::from_secs(30),
            advance: Box::new(move |by| {
                clock.advance(by);
                Box::pin(std::future::ready(()))
            }),
        }
    }

    /// For a backend reading real time (e.g. Redis): records are written with `ttl`, and
    /// `sleep(d)` must return a future that completes after `d` of wall time. Keep `ttl` short
    /// but comfortably longer than a few round trips (e.g. 500 ms to 1 s).
    pub fn real_time<F, Fut>(ttl: Duration, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            ttl,
            advance: Box::new(move |by| Box::pin(sleep(by))),
        }
    }

    /// The TTL the check writes with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    async fn advance(&self, by: Duration) {
        (self.advance)(by).await;
    }
}

impl fmt::Debug for TtlControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlControl")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Runs every check on fresh storages from `make`, except [`check_namespace_isolation`], which
/// needs two views of one backend (call it yourself). `make` must return an empty storage each
/// time (a fresh instance, or a fresh namespace of a shared backend).
pub async fn run_storage_conformance<S, F>(make: F, options: ConformanceOptions)
where
    S: Storage,
    F: Fn() -> S,
{
    if let Some(limit) = options.size_limit {
        assert!(
            limit >= MIN_SIZE_LIMIT,
            "size_limit {limit} is below MIN_SIZE_LIMIT"
        );
    }
    check_unknown_key_reads_none(&make()).await;
    check_odd_keys(&make()).await;
    check_value_types(&make()).await;
    check_new_version_every_write(&make()).await;
    check_stale_if_match_rejected(&make()).await;
    check_if_absent_on_existing_rejected(&make()).await;
    check_unconditional_write(&make()).await;
    check_delete(&make()).await;
    check_batch_atomic(&make()).await;
    let shared = make();
    check_concurrent_increments(&shared, &shared).await;
    check_dialog_stack_round_trip(&make()).await;
    check_list_keys(&make()).await;
    if let Some(limit) = options.size_limit {
        check_size_limit(&make(), limit).await;
    }
    if let Some(ttl) = &options.ttl {
        check_ttl(&make(), ttl).await;
    }
}

fn ok<T>(res: Result<T, StorageError>, what: &str) -> T {
    match res {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected storage error: {e:?}"),
    }
}

fn assert_conflict<T: fmt::Debug>(res: Result<T, StorageError>, key: &str, what: &str) {
    match res {
        Err(StorageError::Conflict { key: k }) => {
            assert_eq!(k, key, "{what}: Conflict names the wrong key")
        }
        other => panic!("{what}: expected Conflict on {key:?}, got {other:?}"),
    }
}

async fn read<S: Storage>(s: &S, key: &str, what: &str) -> Option<Stored> {
    ok(s.read(key).await, what)
}

/// A key that was never written reads as `None`, alone and inside `read_many`.
pub async fn check_unknown_key_reads_none<S: Storage>(s: &S) {
    assert_eq!(
        read(s, "never-written", "read unknown").await,
        None,
        "unknown key must read None"
    );
    ok(
        s.write("present", json!(1), Precondition::Any).await,
        "write present",
    );
    let got = ok(
        s.read_many(&["nope", "present", "nope", "also-nope"]).await,
        "read_many",
    );
    assert_eq!(got.len(), 4, "read_many returns one entry per key");
    assert!(
        got[0].is_none() && got[2].is_none() && got[3].is_none(),
        "missing keys read None"
    );
    assert_eq!(
        got[1].as_ref().map(|r| &r.value),
        Some(&json!(1)),
        "present key in read_many"
    );
    assert!(ok(s.read_many(&[]).await, "read_many of nothing").is_empty());
}

/// Keys with separators, spaces, unicode, empty and very long keys round-trip and stay distinct
/// (no escaping scheme may make two of them collide).
pub async fn check_odd_keys<S: Storage>(s: &S) {
    let long = "k".repeat(1000);
    let keys: Vec<&str> = vec![
        "a:b/c d",
        "a:b/c_d",
        "a_b/c d",
        "a%3Ab%2Fc%20d",
        "ключ-🔑",
        "",
        " ",
        "A",
        "a",
        "key",
        "key ",
        "é",
        "e\u{301}",
        "tab\there",
        "new\nline",
        "quote\"'`",
        "nul\0byte",
        "*",
        "?[]",
        "{tag}",
        &long,
    ];
    let ops = keys
        .iter()
        .enumerate()
        .map(|(i, k)| WriteOp::put(*k, json!({ "i": i, "key": k }), Precondition::IfAbsent))
        .collect();
    let versions = ok(s.write_many(ops).await, "write odd keys");
    assert_eq!(versions.len(), keys.len(), "one version per op");
    let got = ok(s.read_many(&keys).await, "read odd keys");
    for (i, (key, rec)) in keys.iter().zip(&got).enumerate() {
        let rec = rec
            .as_ref()
            .unwrap_or_else(|| panic!("odd key {key:?} did not round-trip"));
        assert_eq!(
            rec.value,
            json!({ "i": i, "key": key }),
            "odd key {key:?} collided"
        );
        assert_eq!(Some(rec.version), versions[i], "odd key {key:?} version");
    }
    let mut listed = ok(s.list_keys("", None, 1000).await, "list odd keys");
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(
        listed, expected,
        "list_keys(\"\") lists every odd key, in order"
    );
    listed.retain(|k| k.starts_with("a"));
    assert_eq!(
        listed,
        ["a", "a%3Ab%2Fc%20d", "a:b/c d", "a:b/c_d", "a_b/c d"]
    );
}

/// JSON values of every type come back equal.
pub async fn check_value_types<S: Storage>(s: &S) {
    let values = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(0.5),
        json!(-2.25),
        json!(1.0e300),
        json!(0.1),
        json!(1.0 / 3.0),
        // Floats that a JSON parser without exact float parsing (serde_json's default, without
        // `float_roundtrip`) reads back one ULP off.
        json!(994.1414234139935),
        json!(105.00455722256841),
        json!(1.947700395895162e-169),
        json!(-1.490143767845386e129),
        json!(f64::MAX),
        json!(f64::MIN_POSITIVE),
        json!(5e-324),
        json!(""),
        json!("plain"),
        json!("ünïcödé ✓ 🔑 \"quoted\" \\ back\nslash\t\u{1}"),
        json!([]),
        json!({}),
        json!([1, "two", null, [3, [4]], { "five": 5 }]),
        json!({ "z": 1, "a": { "nested": { "deep": [true, false, null] } }, "": "empty key" }),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("type-{i}");
        let version = ok(
            s.write(&key, v.clone(), Precondition::Any).await,
            "write value",
        );
        let rec = read(s, &key, "read value")
            .await
            .expect("written value must be readable");
        assert_eq!(&rec.value, v, "value {v} did not round-trip");
        assert_eq!(
            rec.version, version,
            "read version differs from write version for {v}"
        );
    }
}

/// Every write, even of the same value, produces a version never seen before on that key,
/// including after a delete (no ABA: a stale version cannot match a recreated record).
pub async fn check_new_version_every_write<S: Storage>(s: &S) {
    let mut seen: Vec<Version> = Vec::new();
    let mut last = ok(
        s.write("v", json!("same"), Precondition::IfAbsent).await,
        "create",
    );
    seen.push(last);
    for round in 0..5 {
        let next = ok(
            s.write("v", json!("same"), Precondition::IfMatch(last))
                .await,
            "rewrite",
        );
        assert!(
            !seen.contains(&next),
            "write {round} reused version {next:?}"
        );
        let rec = read(s, "v", "read").await.expect("record exists");
        assert_eq!(rec.version, next, "read returns the latest version");
        seen.push(next);
        last = next;
    }
    ok(s.delete("v", Precondition::IfMatch(last)).await, "delete");
    let recreated = ok(
        s.write("v", json!("same"), Precondition::IfAbsent).await,
        "recreate",
    );
    assert!(
        !seen.contains(&recreated),
        "recreated record reused version {recreated:?}"
    );
    assert_conflict(
        s.write("v", json!("x"), Precondition::IfMatch(last)).await,
        "v",
        "pre-delete version",
    );
}

/// `IfMatch` with a stale version is a `Conflict` and leaves the record untouched.
pub async fn check_stale_if_match_rejected<S: Storage>(s: &S) {
    let v1 = ok(
        s.write("k", json!({ "n": 1 }), Precondition::Any).await,
        "first write",
    );
    let v2 = ok(
        s.write("k", json!({ "n": 2 }), Precondition::IfMatch(v1))
            .await,
        "CAS write",
    );
    assert_conflict(
        s.write("k", json!({ "n": 3 }), Precondition::IfMatch(v1))
            .await,
        "k",
        "stale IfMatch",
    );
    let rec = read(s, "k", "read after conflict")
        .await
        .expect("record exists");
    assert_eq!(
        rec,
        Stored {
            value: json!({ "n": 2 }),
            version: v2
        },
        "conflict changed the record"
    );
    assert_conflict(
        s.write("missing", json!(1), Precondition::IfMatch(v2))
            .await,
        "missing",
        "IfMatch on a missing key",
    );
    assert_eq!(
        read(s, "missing", "read").await,
        None,
        "failed IfMatch must not create the key"
    );
}

/// `IfAbsent` on an existing record is a `Conflict`; on a missing one it creates the record.
pub async fn check_if_absent_on_existing_rejected<S: Storage>(s: &S) {
    let v = ok(
        s.write("k", json!("first"), Precondition::IfAbsent).await,
        "IfAbsent create",
    );
    assert_conflict(
        s.write("k", json!("second"), Precondition::IfAbsent).await,
        "k",
        "IfAbsent on existing",
    );
    let rec = read(s, "k", "read").await.expect("record exists");
    assert_eq!(
        rec,
        Stored {
            value: json!("first"),
            version: v
        },
        "IfAbsent conflict changed the record"
    );
}

/// `Any` writes whatever is stored (last writer wins), creating or replacing.
pub async fn check_unconditional_write<S: Storage>(s: &S) {
    let v1 = ok(
        s.write("k", json!(1), Precondition::Any).await,
        "Any create",
    );
    let v2 = ok(
        s.write("k", json!(2), Precondition::Any).await,
        "Any replace",
    );
    assert_ne!(v1, v2, "Any replace must produce a new version");
    let rec = read(s, "k", "read").await.expect("record exists");
    assert_eq!(
        rec,
        Stored {
            value: json!(2),
            version: v2
        },
        "Any replace"
    );
}

/// Deletes honour preconditions; deleting a missing key is fine with `Any` (and `IfAbsent`) but
/// a `Conflict` with `IfMatch`.
pub async fn check_delete<S: Storage>(s: &S) {
    let v = ok(s.write("k", json!("x"), Precondition::Any).await, "write");
    let stale = Version(v.0.wrapping_add(1_000_000));
    assert_conflict(
        s.delete("k", Precondition::IfMatch(stale)).await,
        "k",
        "delete, wrong version",
    );
    assert_conflict(
        s.delete("k", Precondition::IfAbsent).await,
        "k",
        "delete IfAbsent on existing",
    );
    assert_eq!(
        read(s, "k", "read").await.map(|r| r.version),
        Some(v),
        "failed delete changed it"
    );
    let res = ok(
        s.write_many(vec![WriteOp::delete("k", Precondition::IfMatch(v))])
            .await,
        "delete",
    );
    assert_eq!(res, vec![None], "a delete returns no version");
    assert_eq!(
        read(s, "k", "read deleted").await,
        None,
        "deleted key must read None"
    );
    assert!(
        ok(s.list_keys("", None, 10).await, "list").is_empty(),
        "deleted key still listed"
    );
    ok(
        s.delete("k", Precondition::Any).await,
        "delete of a deleted key with Any",
    );
    ok(
        s.delete("never", Precondition::Any).await,
        "delete of an unknown key with Any",
    );
    ok(
        s.delete("never", Precondition::IfAbsent).await,
        "delete of an unknown key with IfAbsent",
    );
    assert_conflict(
        s.delete("never", Precondition::IfMatch(v)).await,
        "never",
        "IfMatch delete, unknown",
    );
    ok(
        s.write("k", json!("again"), Precondition::IfAbsent).await,
        "recreate after delete",
    );
    ok(s.delete("k", Precondition::Any).await, "delete with Any");
    assert_eq!(read(s, "k", "read").await, None, "delete with Any");
}

/// A batch is all or nothing: one failing precondition (or too-large value) writes nothing.
pub async fn check_batch_atomic<S: Storage>(s: &S) {
    assert!(
        ok(s.write_many(vec![]).await, "empty batch").is_empty(),
        "empty batch"
    );
    let a = ok(s.write("a", json!("a0"), Precondition::Any).await, "seed a");
    let b = ok(s.write("b", json!("b0"), Precondition::Any).await, "seed b");
    let doomed = vec![
        WriteOp::put("a", json!("a1"), Precondition::IfMatch(a)),
        WriteOp::delete("b", Precondition::IfMatch(b)),
        WriteOp::put("new", json!("n"), Precondition::IfAbsent),
        WriteOp::put("a2", json!("x"), Precondition::Any),
        WriteOp::put("b", json!("b1"), Precondition::IfAbsent),
        WriteOp::put("a", json!("late"), Precondition::IfAbsent),
    ];
    // Preconditions are checked against the state before the batch: "b" still exists for the
    // IfAbsent put even though the batch deletes it first, so "b" is the first failing key.
    assert_conflict(
        s.write_many(doomed).await,
        "b",
        "batch with failing preconditions",
    );
    let got = ok(
        s.read_many(&["a", "b", "new", "a2"]).await,
        "read after failed batch",
    );
    assert_eq!(
        got[0],
        Some(Stored {
            value: json!("a0"),
            version: a
        }),
        "failed batch wrote a"
    );
    assert_eq!(
        got[1],
        Some(Stored {
            value: json!("b0"),
            version: b
        }),
        "failed batch deleted b"
    );
    assert_eq!(
        (&got[2], &got[3]),
        (&None, &None),
        "failed batch created keys"
    );
    assert_eq!(
        ok(s.list_keys("", None, 10).await, "list"),
        ["a", "b"],
        "failed batch listed keys"
    );

    let good = vec![
        WriteOp::put("a", json!("a1"), Precondition::IfMatch(a)),
        WriteOp::delete("b", Precondition::IfMatch(b)),
        WriteOp::put("new", json!("n"), Precondition::IfAbsent),
        WriteOp::put("a2", json!("x"), Precondition::Any),
    ];
    let versions = ok(s.write_many(good).await, "good batch");
    assert_eq!(versions.len(), 4, "one result per op");
    assert!(versions[1].is_none(), "delete returns None");
    let got = ok(
        s.read_many(&["a", "b", "new", "a2"]).await,
        "read after good batch",
    );
    let expect = [Some(json!("a1")), None, Some(json!("n")), Some(json!("x"))];
    for i in 0..4 {
        assert_eq!(
            got[i].as_ref().map(|r| r.value.clone()),
            expect[i],
            "batch op {i} result"
        );
        assert_eq!(
            got[i].as_ref().map(|r| r.version),
            versions[i],
            "batch op {i} version"
        );
    }
    let (v0, v2, v3) = (versions[0], versions[2], versions[3]);
    assert!(
        v0 != v2 && v2 != v3 && v0 != v3,
        "each put in a batch gets its own version"
    );
}

/// Two clients doing read-modify-write with retry on `Conflict` lose no update: 2 × 50
/// increments end at exactly 100. Pass two handles (two connections, ideally) to one backend.
pub async fn check_concurrent_increments<S: Storage>(a: &S, b: &S) {
    const PER_CLIENT: u64 = 50;
    let conflicts = AtomicUsize::new(0);
    futures::join!(
        increment(a, PER_CLIENT, &conflicts),
        increment(b, PER_CLIENT, &conflicts)
    );
    let rec = read(a, "counter", "read total")
        .await
        .expect("counter exists");
    assert_eq!(
        rec.value,
        json!(2 * PER_CLIENT),
        "lost updates under concurrent compare-and-set"
    );
    assert!(
        conflicts.load(Ordering::Relaxed) > 0,
        "the two clients never conflicted"
    );
}

async fn increment<S: Storage>(s: &S, times: u64, conflicts: &AtomicUsize) {
    for _ in 0..times {
        loop {
            let (n, pre) = match ok(s.read("counter").await, "read counter") {
                Some(r) => (
                    r.value.as_u64().expect("counter is a number"),
                    Precondition::IfMatch(r.version),
                ),
                None => (0, Precondition::IfAbsent),
            };
            YieldNow(false).await; // let the other client in between our read and write
            match s.write("counter", json!(n + 1), pre).await {
                Ok(_) => break,
                Err(StorageError::Conflict { .. }) => {
                    conflicts.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("increment: unexpected storage error: {e:?}"),
            }
        }
    }
}

/// Yields to the executor once.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A value whose serialized (compact JSON) size exceeds `limit` bytes is `TooLarge`, in a batch
/// too, and nothing is written; a value of exactly `limit` bytes is accepted.
pub async fn check_size_limit<S: Storage>(s: &S, limit: usize) {
    assert!(
        limit >= 8,
        "check_size_limit needs a limit of at least 8 bytes"
    );
    let v = ok(
        s.write("k", json!("small"), Precondition::Any).await,
        "small write",
    );
    // A JSON string of n ASCII characters serializes to n + 2 bytes.
    let too_big = json!("x".repeat(limit - 1));
    match s
        .write("k", too_big.clone(), Precondition::IfMatch(v))
        .await
    {
        Err(StorageError::TooLarge {
            key,
            size,
            limit: l,
        }) => {
            assert_eq!(
                (key.as_str(), size, l),
                ("k", limit + 1, limit),
                "TooLarge fields"
            );
        }
        other => panic!("value over the limit: expected TooLarge, got {other:?}"),
    }
    // Sizes are bytes, not characters: 'é' is two bytes.
    let wide = json!("é".repeat(limit / 2));
    let res = s.write("k", wide, Precondition::Any).await;
    assert!(
        matches!(res, Err(StorageError::TooLarge { .. })),
        "limit counts bytes, got {res:?}"
    );
    let batch = vec![
        WriteOp::put("other", json!(1), Precondition::Any),
        WriteOp::put("k", too_big, Precondition::Any),
    ];
    let res = s.write_many(batch).await;
    assert!(
        matches!(res, Err(StorageError::TooLarge { .. })),
        "batch with a big value: {res:?}"
    );
    assert_eq!(
        read(s, "other", "read").await,
        None,
        "a batch with a TooLarge value wrote something"
    );
    let rec = read(s, "k", "read after TooLarge")
        .await
        .expect("old value must survive");
    assert_eq!(
        rec,
        Stored {
            value: json!("small"),
            version: v
        },
        "TooLarge changed the record"
    );
    let exact = json!("x".repeat(limit - 2));
    let v2 = ok(
        s.write("k", exact.clone(), Precondition::IfMatch(v)).await,
        "value of exactly limit bytes",
    );
    assert_eq!(
        read(s, "k", "read").await,
        Some(Stored {
            value: exact,
            version: v2
        })
    );
}

fn dialog_stack(frames: usize) -> Value {
    let stack: Vec<Value> = (0..frames)
        .map(|i| {
            json!({
                "id": format!("*:/flow-{i}"),
                "state": {
                    "BotBuilder.Data.WaterfallStep": i % 7,
                    "BotBuilder.Data.Intent": if i % 2 == 0 { Value::Null } else { json!("greeting") },
                    "options": { "prompt": format!("Question {i}: how are you? ✓"), "retries": i, "ratio": i as f64 / 8.0 },
                    "results": { "answers": [i, i * 2, i * 3], "text": "x".repeat(i % 40) },
                }
            })
        })
        .collect();
    json!({
        "callstack": stack,
        "lastAccess": 1_700_000_000_000u64,
        "version": 3.1,
        "userData": { "name": "Ada", "tags": ["a", "b"], "profile": { "tz": "Europe/Kyiv" } },
    })
}

/// A 200-frame dialog-stack-like session state round-trips intact.
pub async fn check_dialog_stack_round_trip<S: Storage>(s: &S) {
    let state = dialog_stack(200);
    let key = "session:emulator:conv-1:user-1";
    let v1 = ok(
        s.write(key, state.clone(), Precondition::IfAbsent).await,
        "write dialog stack",
    );
    let rec = read(s, key, "read dialog stack")
        .await
        .expect("stack exists");
    assert_eq!(rec.value, state, "dialog stack did not round-trip");
    let mut next = rec.value;
    next["callstack"].as_array_mut().expect("callstack").pop();
    let v2 = ok(
        s.write(key, next.clone(), Precondition::IfMatch(v1)).await,
        "CAS dialog stack",
    );
    let rec = read(s, key, "read dialog stack")
        .await
        .expect("stack exists");
    assert_eq!(
        rec,
        Stored {
            value: next,
            version: v2
        },
        "updated dialog stack"
    );
    assert_eq!(rec.value["callstack"].as_array().map(Vec::len), Some(199));
}

/// `list_keys` pages through keys with a prefix, in key (byte) order, resuming after `after`.
pub async fn check_list_keys<S: Storage>(s: &S) {
    let keys = [
        "user:1", "user:10", "user:2", "user:3", "user:é", "user:z", "user", "users", "usez",
        "other:1", "u",
    ];
    let ops = keys
        .iter()
        .map(|k| WriteOp::put(*k, json!(k), Precondition::Any))
        .collect();
    ok(s.write_many(ops).await, "write keys");
    let list = |prefix: &'static str, after: Option<&'static str>, limit: usize| async move {
        ok(s.list_keys(prefix, after, limit).await, "list_keys")
    };
    let users = ["user:1", "user:10", "user:2", "user:3", "user:z", "user:é"];
    assert_eq!(
        list("user:", None, 100).await,
        users,
        "all keys with the prefix, in byte order"
    );
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ok(s.list_keys("user:", after.as_deref(), 4).await, "page");
        assert!(page.len() <= 4, "page larger than limit: {page:?}");
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        paged.extend(page);
    }
    assert_eq!(
        paged, users,
        "paging with after and limit 4 visits every key once"
    );
    assert_eq!(
        list("user:", Some("user:2"), 2).await,
        ["user:3", "user:z"],
        "after an existing key"
    );
    assert_eq!(
        list("user:", Some("user:15"), 2).await,
        ["user:2", "user:3"],
        "after a missing key"
    );
    assert_eq!(
        list("user:", Some("a"), 1).await,
        ["user:1"],
        "after a key before the prefix"
    );
    assert!(
        list("user:", Some("user:é"), 10).await.is_empty(),
        "after the last key"
    );
    assert!(
        list("user:", Some("zzz"), 10).await.is_empty(),
        "after a key past the prefix"
    );
    assert!(list("user:", None, 0).await.is_empty(), "limit 0");
    assert!(list("nobody:", None, 10).await.is_empty(), "unknown prefix");
    assert_eq!(list("use", None, 100).await.len(), 9, "prefix 'use'");
    let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(
        list("", None, 100).await,
        all,
        "empty prefix lists everything"
    );
    ok(s.delete("user:2", Precondition::Any).await, "delete");
    assert_eq!(
        list("user:", Some("user:10"), 1).await,
        ["user:3"],
        "deleted key is not listed"
    );
}

/// Two storages over one backend with different namespaces don't see each other's keys.
pub async fn check_namespace_isolation<S: Storage>(a: &S, b: &S) {
    let va = ok(
        a.write("shared", json!("from a"), Precondition::IfAbsent)
            .await,
        "write a",
    );
    assert_eq!(read(b, "shared", "read b").await, None, "b sees a's key");
    let vb = ok(
        b.write("shared", json!("from b"), Precondition::IfAbsent)
            .await,
        "IfAbsent in b",
    );
    ok(
        b.write("only-b", json!(1), Precondition::Any).await,
        "write only-b",
    );
    let ra = read(a, "shared", "read a").await.expect("a's key");
    assert_eq!(
        ra,
        Stored {
            value: json!("from a"),
            version: va
        },
        "b's write changed a's record"
    );
    assert_eq!(read(a, "only-b", "read a").await, None, "a sees b's key");
    assert_eq!(
        ok(a.list_keys("", None, 10).await, "list a"),
        ["shared"],
        "a lists b's keys"
    );
    assert_eq!(
        ok(b.list_keys("", None, 10).await, "list b"),
        ["only-b", "shared"],
        "b's list"
    );
    ok(a.delete("shared", Precondition::Any).await, "delete in a");
    let rb = read(b, "shared", "read b")
        .await
        .expect("b's key survives a's delete");
    assert_eq!(
        rb,
        Stored {
            value: json!("from b"),
            version: vb
        },
        "a's delete touched b"
    );
}

/// Records written with a TTL vanish after it (reads, listings and preconditions all see them
/// as absent); records without one stay; a later write without a TTL makes a record permanent.
pub async fn check_ttl<S: Storage>(s: &S, control: &TtlControl) {
    let ttl = control.ttl();
    let ops = vec![
        WriteOp::put("short", json!("gone soon"), Precondition::IfAbsent).with_ttl(ttl),
        WriteOp::put("long", json!("stays"), Precondition::IfAbsent).with_ttl(ttl * 100),
        WriteOp::put("forever", json!("stays"), Precondition::IfAbsent),
        WriteOp::put("made-permanent", json!(1), Precondition::IfAbsent).with_ttl(ttl),
        WriteOp::put("given-ttl", json!(1), Precondition::IfAbsent),
    ];
    let v = ok(s.write_many(ops).await, "write with ttl");
    let short_v = v[0].expect("put version");
    let permanent = WriteOp::put(
        "made-permanent",
        json!(2),
        Precondition::IfMatch(v[3].expect("version")),
    );
    let given = WriteOp::put(
        "given-ttl",
        json!(2),
        Precondition::IfMatch(v[4].expect("version")),
    );
    ok(
        s.write_many(vec![permanent, given.with_ttl(ttl)]).await,
        "rewrite ttls",
    );
    let keys = ["short", "long", "forever", "made-permanent", "given-ttl"];
    let before = ok(s.read_many(&keys).await, "read before expiry");
    assert!(
        before.iter().all(Option::is_some),
        "records vanished before their TTL: {before:?}"
    );
    assert_eq!(
        ok(s.list_keys("", None, 10).await, "list").len(),
        5,
        "list before expiry"
    );

    control.advance(ttl + ttl / 2).await;
    let after = ok(s.read_many(&keys).await, "read after expiry");
    let present: Vec<bool> = after.iter().map(Option::is_some).collect();
    assert_eq!(
        present,
        [false, true, true, true, false],
        "presence after the TTL of {keys:?}"
    );
    assert_eq!(
        ok(s.list_keys("", None, 10).await, "list after expiry"),
        ["forever", "long", "made-permanent"],
        "expired keys must not be listed"
    );
    assert_conflict(
        s.write("short", json!(0), Precondition::IfMatch(short_v))
            .await,
        "short",
        "IfMatch on expired",
    );
    ok(
        s.write("short", json!("back"), Precondition::IfAbsent)
            .await,
        "IfAbsent on an expired key",
    );
    assert_eq!(
        read(s, "short", "read").await.map(|r| r.value),
        Some(json!("back"))
    );
}
