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

mod limits;
mod records;

pub use limits::*;
pub use records::*;
