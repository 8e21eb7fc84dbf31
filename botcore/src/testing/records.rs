//! Checks of single records and batches: reads, versions, preconditions, deletes, atomicity.

use super::*;

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
