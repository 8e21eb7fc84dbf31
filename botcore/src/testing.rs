//! The storage conformance suite: the checks every [`Storage`] backend must pass.
//!
//! A backend crate enables botcore's `testing` feature in its dev-dependencies and runs the
//! checks from its own tests, either all at once with [`run_storage_conformance`] or one by one
//! (one `#[tokio::test]` per check reads best when something fails). The suite is
//! runtime-agnostic: it only awaits the storage, and waiting for TTLs goes through
//! [`TtlControl`], which the backend's test supplies.
//!
//! Every check takes a storage it may fill as it likes; checks that list keys expect it to start
//! empty. Failures panic with a message naming what went wrong.
//!
//! ```text
//! #[tokio::test]
//! async fn conformance() {
//!     let clock = botcore::ManualClock::new(1_000);
//!     let options = ConformanceOptions {
//!         size_limit: Some(MIN_SIZE_LIMIT),
//!         ttl: Some(TtlControl::manual(clock.clone())),
//!     };
//!     let make = || MyStorage::new().with_max_value_bytes(MIN_SIZE_LIMIT).with_clock(clock.clone());
//!     run_storage_conformance(make, options).await;
//! }
//! ```

use crate::ManualClock;
use crate::contracts::storage::Precondition::{self, Any, IfAbsent, IfMatch};
use crate::contracts::storage::{Storage, StorageError, StorageExt, Stored, Version, WriteOp};
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
        let advance: Advance = Box::new(move |by| {
            clock.advance(by);
            Box::pin(std::future::ready(()))
        });
        Self {
            ttl: Duration::from_secs(30),
            advance,
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
        assert!(limit >= MIN_SIZE_LIMIT, "size_limit below MIN_SIZE_LIMIT");
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

fn fail(what: &str, key: &str, e: StorageError) -> ! {
    panic!("{what} {key:?}: unexpected storage error: {e:?}")
}

fn assert_conflict<T: fmt::Debug>(res: Result<T, StorageError>, key: &str, what: &str) {
    match res {
        Err(StorageError::Conflict { key: k }) => assert_eq!(k, key, "{what}: Conflict key"),
        other => panic!("{what}: expected Conflict on {key:?}, got {other:?}"),
    }
}

fn rec(value: Value, version: Version) -> Option<Stored> {
    Some(Stored { value, version })
}

/// Short, panicking wrappers over a storage, so the checks read as a list of facts.
struct T<'a, S>(&'a S);

impl<S: Storage> T<'_, S> {
    async fn put(&self, key: &str, value: Value, pre: Precondition) -> Version {
        let res = self.0.write(key, value, pre).await;
        res.unwrap_or_else(|e| fail("write", key, e))
    }
    async fn put_conflict(&self, key: &str, value: Value, pre: Precondition, what: &str) {
        assert_conflict(self.0.write(key, value, pre).await, key, what);
    }
    async fn del(&self, key: &str, pre: Precondition) {
        let res = self.0.delete(key, pre).await;
        res.unwrap_or_else(|e| fail("delete", key, e));
    }
    async fn del_conflict(&self, key: &str, pre: Precondition, what: &str) {
        assert_conflict(self.0.delete(key, pre).await, key, what);
    }
    async fn get(&self, key: &str) -> Option<Stored> {
        self.0
            .read(key)
            .await
            .unwrap_or_else(|e| fail("read", key, e))
    }
    async fn get_many(&self, keys: &[&str]) -> Vec<Option<Stored>> {
        self.0
            .read_many(keys)
            .await
            .unwrap_or_else(|e| fail("read_many", "", e))
    }
    async fn batch(&self, ops: Vec<WriteOp>) -> Vec<Option<Version>> {
        self.0
            .write_many(ops)
            .await
            .unwrap_or_else(|e| fail("write_many", "", e))
    }
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Vec<String> {
        let res = self.0.list_keys(prefix, after, limit).await;
        res.unwrap_or_else(|e| fail("list_keys", prefix, e))
    }
}

/// A key that was never written reads as `None`, alone and inside `read_many`.
pub async fn check_unknown_key_reads_none<S: Storage>(s: &S) {
    let t = T(s);
    assert_eq!(t.get("never-written").await, None, "unknown key");
    let v = t.put("present", json!(1), Any).await;
    let got = t.get_many(&["nope", "present", "nope", "also-nope"]).await;
    assert_eq!(got, [None, rec(json!(1), v), None, None], "read_many");
    assert!(t.get_many(&[]).await.is_empty(), "read_many of no keys");
}

/// Keys with separators, spaces, unicode, empty and very long keys round-trip and stay distinct
/// (no escaping scheme may make two of them collide).
pub async fn check_odd_keys<S: Storage>(s: &S) {
    let t = T(s);
    let long = "k".repeat(1000);
    #[rustfmt::skip]
    let keys: Vec<&str> = vec![
        "a:b/c d", "a:b/c_d", "a_b/c d", "a%3Ab%2Fc%20d", "ключ-🔑", "", " ", "A", "a", "key",
        "key ", "é", "e\u{301}", "tab\there", "new\nline", "quote\"'`", "nul\0byte", "*", "?[]",
        "{tag}", &long,
    ];
    let value = |i: usize| json!({ "i": i, "key": keys[i] });
    let ops = (0..keys.len()).map(|i| WriteOp::put(keys[i], value(i), IfAbsent));
    let versions = t.batch(ops.collect()).await;
    assert_eq!(versions.len(), keys.len(), "one version per op");
    for (i, got) in t.get_many(&keys).await.into_iter().enumerate() {
        let expected = rec(value(i), versions[i].expect("a put has a version"));
        assert_eq!(got, expected, "odd key {:?}", keys[i]);
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(t.list("", None, 1000).await, expected, "list all");
    let a_keys = ["a", "a%3Ab%2Fc%20d", "a:b/c d", "a:b/c_d", "a_b/c d"];
    assert_eq!(t.list("a", None, 100).await, a_keys, "list \"a\"");
}

/// JSON values of every type come back equal.
pub async fn check_value_types<S: Storage>(s: &S) {
    let t = T(s);
    #[rustfmt::skip]
    let values = [
        json!(null), json!(true), json!(false), json!(0), json!(-1), json!(i64::MIN),
        json!(i64::MAX), json!(u64::MAX), json!(0.5), json!(-2.25), json!(1.0e300), json!(0.1),
        json!(1.0 / 3.0), json!(f64::MAX), json!(f64::MIN_POSITIVE), json!(5e-324),
        // Floats that a JSON parser without exact float parsing (serde_json's default, without
        // `float_roundtrip`) reads back one ULP off.
        json!(994.1414234139935), json!(105.00455722256841), json!(1.947700395895162e-169),
        json!(-1.490143767845386e129),
        json!(""), json!("plain"), json!("ünïcödé ✓ 🔑 \"quoted\" \\ back\nslash\t\u{1}"),
        json!([]), json!({}), json!([1, "two", null, [3, [4]], { "five": 5 }]),
        json!({ "z": 1, "a": { "nested": { "deep": [true, false, null] } }, "": "empty key" }),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("type-{i}");
        let version = t.put(&key, v.clone(), Any).await;
        assert_eq!(t.get(&key).await, rec(v.clone(), version), "{v}");
    }
}

/// Every write, even of the same value, produces a version never seen before on that key,
/// including after a delete (no ABA: a stale version cannot match a recreated record).
pub async fn check_new_version_every_write<S: Storage>(s: &S) {
    let t = T(s);
    let mut last = t.put("v", json!("same"), IfAbsent).await;
    let mut seen = vec![last];
    for round in 0..5 {
        let next = t.put("v", json!("same"), IfMatch(last)).await;
        assert!(!seen.contains(&next), "write {round} reused {next:?}");
        let read = t.get("v").await.map(|r| r.version);
        assert_eq!(read, Some(next), "latest version");
        seen.push(next);
        last = next;
    }
    t.del("v", IfMatch(last)).await;
    let recreated = t.put("v", json!("same"), IfAbsent).await;
    assert!(!seen.contains(&recreated), "reused {recreated:?}");
    let stale = IfMatch(last);
    t.put_conflict("v", json!("x"), stale, "version before delete")
        .await;
}

/// `IfMatch` with a stale version is a `Conflict` and leaves the record untouched.
pub async fn check_stale_if_match_rejected<S: Storage>(s: &S) {
    let t = T(s);
    let v1 = t.put("k", json!({ "n": 1 }), Any).await;
    let v2 = t.put("k", json!({ "n": 2 }), IfMatch(v1)).await;
    t.put_conflict("k", json!(3), IfMatch(v1), "stale IfMatch")
        .await;
    assert_eq!(t.get("k").await, rec(json!({"n": 2}), v2), "conflict");
    t.put_conflict("missing", json!(1), IfMatch(v2), "IfMatch, missing")
        .await;
    assert_eq!(t.get("missing").await, None, "failed IfMatch created it");
}

/// `IfAbsent` on an existing record is a `Conflict`; on a missing one it creates the record.
pub async fn check_if_absent_on_existing_rejected<S: Storage>(s: &S) {
    let t = T(s);
    let v = t.put("k", json!("first"), IfAbsent).await;
    t.put_conflict("k", json!("second"), IfAbsent, "IfAbsent")
        .await;
    assert_eq!(t.get("k").await, rec(json!("first"), v), "after conflict");
}

/// `Any` writes whatever is stored (last writer wins), creating or replacing.
pub async fn check_unconditional_write<S: Storage>(s: &S) {
    let t = T(s);
    let v1 = t.put("k", json!(1), Any).await;
    let v2 = t.put("k", json!(2), Any).await;
    assert_ne!(v1, v2, "Any replace must produce a new version");
    assert_eq!(t.get("k").await, rec(json!(2), v2), "Any replace");
}

/// Deletes honour preconditions; deleting a missing key is fine with `Any` (and `IfAbsent`) but
/// a `Conflict` with `IfMatch`.
pub async fn check_delete<S: Storage>(s: &S) {
    let t = T(s);
    let v = t.put("k", json!("x"), Any).await;
    let wrong = IfMatch(Version(v.0.wrapping_add(1_000)));
    t.del_conflict("k", wrong, "delete, wrong version").await;
    t.del_conflict("k", IfAbsent, "delete IfAbsent, existing")
        .await;
    assert_eq!(t.get("k").await, rec(json!("x"), v), "failed deletes");
    let res = t.batch(vec![WriteOp::delete("k", IfMatch(v))]).await;
    assert_eq!(res, [None], "a delete returns no version");
    assert_eq!(t.get("k").await, None, "deleted key");
    assert!(t.list("", None, 10).await.is_empty(), "deleted key listed");
    t.del("k", Any).await;
    t.del("never", Any).await;
    t.del("never", IfAbsent).await;
    t.del_conflict("never", IfMatch(v), "IfMatch delete, unknown")
        .await;
    t.put("k", json!("again"), IfAbsent).await;
    t.del("k", Any).await;
    assert_eq!(t.get("k").await, None, "delete with Any");
}

/// A batch is all or nothing: one failing precondition writes nothing.
pub async fn check_batch_atomic<S: Storage>(s: &S) {
    let t = T(s);
    assert!(t.batch(vec![]).await.is_empty(), "empty batch");
    let a = t.put("a", json!("a0"), Any).await;
    let b = t.put("b", json!("b0"), Any).await;
    let doomed = vec![
        WriteOp::put("a", json!("a1"), IfMatch(a)),
        WriteOp::delete("b", IfMatch(b)),
        WriteOp::put("new", json!("n"), IfAbsent),
        WriteOp::put("a2", json!("x"), Any),
        WriteOp::put("b", json!("b1"), IfAbsent),
        WriteOp::put("a", json!("late"), IfAbsent),
    ];
    // Preconditions are checked against the state before the batch: "b" still exists for the
    // IfAbsent put even though the batch deletes it first, so "b" is the first failing key.
    assert_conflict(s.write_many(doomed).await, "b", "failing batch");
    let keys = ["a", "b", "new", "a2"];
    let expected = [rec(json!("a0"), a), rec(json!("b0"), b), None, None];
    assert_eq!(t.get_many(&keys).await, expected, "after a failed batch");
    assert_eq!(t.list("", None, 10).await, ["a", "b"], "failed batch");

    let good = vec![
        WriteOp::put("a", json!("a1"), IfMatch(a)),
        WriteOp::delete("b", IfMatch(b)),
        WriteOp::put("new", json!("n"), IfAbsent),
        WriteOp::put("a2", json!("x"), Any),
    ];
    let v = t.batch(good).await;
    assert!(v.len() == 4 && v[1].is_none(), "batch results: {v:?}");
    let (v0, v2, v3) = (v[0].expect("put"), v[2].expect("put"), v[3].expect("put"));
    assert!(v0 != v2 && v2 != v3 && v0 != v3, "one version per put");
    let expected = [
        rec(json!("a1"), v0),
        None,
        rec(json!("n"), v2),
        rec(json!("x"), v3),
    ];
    assert_eq!(t.get_many(&keys).await, expected, "after a good batch");
}

/// Two clients doing read-modify-write with retry on `Conflict` lose no update: 2 × 50
/// increments end at exactly 100. Pass two handles (two connections, ideally) to one backend.
pub async fn check_concurrent_increments<S: Storage>(a: &S, b: &S) {
    const PER_CLIENT: u64 = 50;
    let conflicts = AtomicUsize::new(0);
    let (ia, ib) = (
        increment(a, PER_CLIENT, &conflicts),
        increment(b, PER_CLIENT, &conflicts),
    );
    futures::join!(ia, ib);
    let total = T(a).get("counter").await.map(|r| r.value);
    assert_eq!(total, Some(json!(2 * PER_CLIENT)), "lost updates");
    assert!(conflicts.load(Ordering::Relaxed) > 0, "never conflicted");
}

async fn increment<S: Storage>(s: &S, times: u64, conflicts: &AtomicUsize) {
    for _ in 0..times {
        loop {
            let (n, pre) = match T(s).get("counter").await {
                Some(r) => (r.value.as_u64().expect("a number"), IfMatch(r.version)),
                None => (0, IfAbsent),
            };
            YieldNow(false).await; // let the other client in between our read and write
            match s.write("counter", json!(n + 1), pre).await {
                Ok(_) => break,
                Err(StorageError::Conflict { .. }) => conflicts.fetch_add(1, Ordering::Relaxed),
                Err(e) => fail("increment", "counter", e),
            };
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

fn assert_too_large<T: fmt::Debug>(res: Result<T, StorageError>, what: &str) {
    let too_large = matches!(res, Err(StorageError::TooLarge { .. }));
    assert!(too_large, "{what}: expected TooLarge, got {res:?}");
}

/// A value whose serialized (compact JSON) size exceeds `limit` bytes is `TooLarge`, in a batch
/// too, and nothing is written; a value of exactly `limit` bytes is accepted.
pub async fn check_size_limit<S: Storage>(s: &S, limit: usize) {
    assert!(limit >= 8, "the limit must be at least 8 bytes");
    let t = T(s);
    let v = t.put("k", json!("small"), Any).await;
    // A JSON string of n ASCII characters serializes to n + 2 bytes.
    let too_big = json!("x".repeat(limit - 1));
    match s.write("k", too_big.clone(), IfMatch(v)).await {
        Err(StorageError::TooLarge {
            key,
            size,
            limit: l,
        }) => {
            assert_eq!((key.as_str(), size, l), ("k", limit + 1, limit), "TooLarge");
        }
        other => panic!("value over the limit: expected TooLarge, got {other:?}"),
    }
    // Sizes are bytes, not characters: 'é' is two bytes.
    let wide = json!("é".repeat(limit / 2));
    assert_too_large(s.write("k", wide, Any).await, "limit counts bytes");
    let batch = vec![
        WriteOp::put("other", json!(1), Any),
        WriteOp::put("k", too_big, Any),
    ];
    assert_too_large(s.write_many(batch).await, "big value in a batch");
    assert_eq!(t.get("other").await, None, "batch with a TooLarge value");
    assert_eq!(t.get("k").await, rec(json!("small"), v), "after TooLarge");
    let exact = json!("x".repeat(limit - 2));
    let v2 = t.put("k", exact.clone(), IfMatch(v)).await;
    assert_eq!(t.get("k").await, rec(exact, v2), "exactly the limit");
}

fn dialog_frame(i: usize) -> Value {
    json!({
        "id": format!("*:/flow-{i}"),
        "state": {
            "BotBuilder.Data.WaterfallStep": i % 7,
            "BotBuilder.Data.Intent": if i.is_multiple_of(2) { Value::Null } else { json!("greeting") },
            "options": { "prompt": format!("Question {i}: how are you? ✓"), "retries": i },
            "results": { "answers": [i, i * 2, i as f64 / 8.0], "text": "x".repeat(i % 40) },
        }
    })
}

/// A 200-frame dialog-stack-like session state round-trips intact.
pub async fn check_dialog_stack_round_trip<S: Storage>(s: &S) {
    let t = T(s);
    let state = json!({
        "callstack": (0..200).map(dialog_frame).collect::<Vec<_>>(),
        "lastAccess": 1_700_000_000_000u64,
        "version": 3.1,
        "userData": { "name": "Ada", "tags": ["a", "b"], "profile": { "tz": "Europe/Kyiv" } },
    });
    let key = "session:emulator:conv-1:user-1";
    let v1 = t.put(key, state.clone(), IfAbsent).await;
    assert_eq!(t.get(key).await, rec(state.clone(), v1), "dialog stack");
    let mut next = state;
    next["callstack"].as_array_mut().expect("callstack").pop();
    let v2 = t.put(key, next.clone(), IfMatch(v1)).await;
    assert_eq!(t.get(key).await, rec(next, v2), "popped dialog stack");
}

/// `list_keys` pages through keys with a prefix, in key (byte) order, resuming after `after`.
pub async fn check_list_keys<S: Storage>(s: &S) {
    let t = T(s);
    #[rustfmt::skip]
    let keys = [
        "user:1", "user:10", "user:2", "user:3", "user:é", "user:z", "user", "users", "usez",
        "other:1", "u",
    ];
    let ops = keys.iter().map(|k| WriteOp::put(*k, json!(k), Any));
    t.batch(ops.collect()).await;
    let users = ["user:1", "user:10", "user:2", "user:3", "user:z", "user:é"];
    assert_eq!(t.list("user:", None, 100).await, users, "in byte order");
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..=users.len() {
        let page = t.list("user:", after.as_deref(), 4).await;
        assert!(page.len() <= 4, "page larger than the limit: {page:?}");
        let Some(last) = page.last().cloned() else {
            break;
        };
        if let (Some(prev), Some(first)) = (&after, page.first()) {
            assert!(first > prev, "page after {prev:?} starts at {first:?}");
        }
        after = Some(last);
        paged.extend(page);
    }
    assert_eq!(paged, users, "paging by 4 visits every key once");
    let page = |after: &'static str, limit| t.list("user:", Some(after), limit);
    assert_eq!(page("user:2", 2).await, ["user:3", "user:z"], "after a key");
    assert_eq!(page("user:15", 2).await, ["user:2", "user:3"], "absent");
    assert_eq!(page("a", 1).await, ["user:1"], "before the prefix");
    assert!(page("user:é", 10).await.is_empty(), "after the last key");
    assert!(page("zzz", 10).await.is_empty(), "past the prefix");
    assert!(t.list("user:", None, 0).await.is_empty(), "limit 0");
    assert!(t.list("no:", None, 10).await.is_empty(), "unknown prefix");
    assert_eq!(t.list("use", None, 100).await.len(), 9, "prefix 'use'");
    let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(t.list("", None, 100).await, all, "empty prefix");
    t.del("user:2", Any).await;
    assert_eq!(page("user:10", 1).await, ["user:3"], "a deleted key");
}

/// Two storages over one backend with different namespaces don't see each other's keys.
pub async fn check_namespace_isolation<S: Storage>(a: &S, b: &S) {
    let (ta, tb) = (T(a), T(b));
    let va = ta.put("shared", json!("from a"), IfAbsent).await;
    assert_eq!(tb.get("shared").await, None, "b sees a's key");
    let vb = tb.put("shared", json!("from b"), IfAbsent).await;
    tb.put("only-b", json!(1), Any).await;
    assert_eq!(ta.get("shared").await, rec(json!("from a"), va), "a's key");
    assert_eq!(ta.get("only-b").await, None, "a sees b's key");
    assert_eq!(ta.list("", None, 10).await, ["shared"], "a's keys");
    assert_eq!(tb.list("", None, 9).await, ["only-b", "shared"], "b's");
    ta.del("shared", Any).await;
    assert_eq!(tb.get("shared").await, rec(json!("from b"), vb), "b's key");
}

/// Records written with a TTL vanish after it (to preconditions, listings and reads alike);
/// records without one stay; a later write without a TTL makes a record permanent.
pub async fn check_ttl<S: Storage>(s: &S, control: &TtlControl) {
    let (t, ttl) = (T(s), control.ttl);
    let ops = vec![
        WriteOp::put("short", json!("gone soon"), IfAbsent).with_ttl(ttl),
        WriteOp::put("cas", json!("gone soon"), IfAbsent).with_ttl(ttl),
        WriteOp::put("absent", json!("gone soon"), IfAbsent).with_ttl(ttl),
        WriteOp::put("long", json!("stays"), IfAbsent).with_ttl(ttl * 100),
        WriteOp::put("forever", json!("stays"), IfAbsent),
        WriteOp::put("made-permanent", json!(1), IfAbsent).with_ttl(ttl),
        WriteOp::put("given-ttl", json!(1), IfAbsent),
    ];
    let v: Vec<Version> = t.batch(ops).await.into_iter().flatten().collect();
    let permanent = WriteOp::put("made-permanent", json!(2), IfMatch(v[5]));
    let given = WriteOp::put("given-ttl", json!(2), IfMatch(v[6])).with_ttl(ttl);
    t.batch(vec![permanent, given]).await;
    let keys = [
        "short",
        "cas",
        "absent",
        "long",
        "forever",
        "made-permanent",
        "given-ttl",
    ];
    let before = t.get_many(&keys).await;
    assert!(before.iter().all(Option::is_some), "early: {before:?}");
    assert_eq!(t.list("", None, 10).await.len(), 7, "list before expiry");

    (control.advance)(ttl + ttl / 2).await;
    // Each expired record is first touched by a different operation, so a backend that only
    // drops expired records lazily, on one kind of access, is still caught by the others.
    t.put_conflict("cas", json!(0), IfMatch(v[1]), "IfMatch, expired")
        .await;
    t.put("absent", json!("back"), IfAbsent).await;
    assert_eq!(t.get("short").await, None, "an expired record");
    let listed = t.list("", None, 10).await;
    let expected = ["absent", "forever", "long", "made-permanent"];
    assert_eq!(listed, expected, "expired records are not listed");
    let got = t.get_many(&keys).await;
    let present: Vec<bool> = got.iter().map(Option::is_some).collect();
    let expected = [false, false, true, true, true, true, false];
    assert_eq!(present, expected, "presence after the TTL of {keys:?}");
    let recreated = got[2].as_ref().map(|r| &r.value);
    assert_eq!(recreated, Some(&json!("back")), "recreated");
}
