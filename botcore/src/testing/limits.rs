//! Checks of concurrency, size limits, the v3 dialog stack, listing, namespaces and TTLs.

use super::*;

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
