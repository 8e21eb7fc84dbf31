//! `write_many`: one transaction per batch.
//!
//! 1. Before anything is sent: values are serialized and checked against the size limit.
//! 2. `BEGIN`; a transaction-scoped advisory lock per key of the batch, present or not, taken
//!    in one global order (by a stable hash), so that concurrent batches over the same keys
//!    queue instead of deadlocking (row locks alone cannot cover keys that do not exist yet);
//!    then the batch's existing rows are locked (`SELECT … FOR UPDATE`), and every precondition
//!    is checked against them, i.e. against the state before the batch. A failure rolls back:
//!    `Conflict`.
//! 3. The batch is collapsed to its final state per key (later ops on a key win) and applied
//!    with up to four pipelined statements: a `DELETE`, an upsert, an insert of keys that must
//!    still be absent (`ON CONFLICT DO NOTHING`: a row a concurrent transaction inserted since
//!    step 2 is a `Conflict`), and fresh versions for puts that a later op in the batch
//!    overwrote. New versions are drawn from the table's sequence while the row is locked.
//! 4. `COMMIT`. Deadlocks and serialization failures are retried from step 2.

use crate::{PostgresStorage, error, keys, settle};
use botcore::{Precondition, StorageError, Version, WriteOp};
use deadpool_postgres::{Object, Transaction};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How often a batch runs when the server keeps aborting it for a deadlock.
const ATTEMPTS: u32 = 5;

/// Batches with more distinct keys than this skip the key locks (PostgreSQL's lock table is
/// sized for about 64 locks per transaction) and rely on row locks and deadlock retries.
const MAX_KEY_LOCKS: usize = 64;

/// TTLs are capped (about 73 million years) so that `now + ttl` cannot overflow.
const MAX_TTL_MS: u128 = (i64::MAX / 4) as u128;

/// One op, ready to send.
struct Op {
    key: String,
    stored: String,
    /// The compact JSON text, or `None` for a delete.
    json: Option<String>,
    ttl_ms: Option<i64>,
    precondition: Precondition,
}

/// How an attempt ended, short of a database error.
enum Outcome {
    Written(Vec<Option<Version>>),
    Conflict(String),
}

/// Writes `ops` (not empty) atomically.
pub(crate) async fn write_many(
    s: &PostgresStorage,
    ops: Vec<WriteOp>,
) -> Result<Vec<Option<Version>>, StorageError> {
    let ops = prepare(ops, s.max_value_bytes)?;
    let deadline = s.deadline();
    let mut client = s.client(deadline).await?;
    let result = tokio::time::timeout_at(deadline, run(s, &mut client, &ops)).await;
    settle(client, result)
}

fn prepare(ops: Vec<WriteOp>, limit: Option<usize>) -> Result<Vec<Op>, StorageError> {
    ops.into_iter()
        .map(|op| {
            let json = match &op.value {
                Some(value) => {
                    let json = serde_json::to_string(value).map_err(|e| {
                        StorageError::Unavailable(format!("cannot serialize value: {e}"))
                    })?;
                    if let Some(limit) = limit.filter(|&limit| json.len() > limit) {
                        return Err(StorageError::TooLarge {
                            key: op.key,
                            size: json.len(),
                            limit,
                        });
                    }
                    Some(json)
                }
                None => None,
            };
            Ok(Op {
                stored: keys::escape(&op.key).into_owned(),
                ttl_ms: op.ttl.map(|t| t.as_millis().clamp(1, MAX_TTL_MS) as i64),
                json,
                precondition: op.precondition,
                key: op.key,
            })
        })
        .collect()
}

async fn run(
    s: &PostgresStorage,
    client: &mut Object,
    ops: &[Op],
) -> Result<Vec<Option<Version>>, StorageError> {
    let mut attempt = 1;
    loop {
        match attempt_batch(s, client, ops).await {
            Ok(Outcome::Written(versions)) => return Ok(versions),
            Ok(Outcome::Conflict(key)) => return Err(StorageError::Conflict { key }),
            Err(e) if error::is_transient(&e) && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(2 << attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(error::unavailable("write", &e)),
        }
    }
}

/// The version and liveness of each existing row of the batch.
type Locked = HashMap<String, (i64, bool)>;

fn holds(precondition: Precondition, row: Option<&(i64, bool)>) -> bool {
    let live = row.filter(|(_, live)| *live).map(|(v, _)| *v);
    match precondition {
        Precondition::Any => true,
        Precondition::IfAbsent => live.is_none(),
        Precondition::IfMatch(v) => live.is_some_and(|cur| cur as u64 == v.0),
    }
}

async fn attempt_batch(
    s: &PostgresStorage,
    client: &mut Object,
    ops: &[Op],
) -> Result<Outcome, tokio_postgres::Error> {
    let sql = &s.shared.sql;
    let ns: &str = &s.stored_namespace;
    let now = s.now_param();
    let txn = client.transaction().await?;
    // Lock the batch's keys, present or not, in one global order (see `keys::lock_id`), then
    // lock and read its existing rows: pipelined, one round trip.
    let mut all: Vec<&str> = ops.iter().map(|op| op.stored.as_str()).collect();
    all.sort_unstable();
    all.dedup();
    let key_locks = async {
        if all.len() > MAX_KEY_LOCKS {
            return Ok(0);
        }
        let mut ids: Vec<i64> = all
            .iter()
            .map(|k| keys::lock_id(&s.shared.table, ns, k))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let statement = txn.prepare_cached(&sql.key_locks).await?;
        txn.execute(&statement, &[&ids]).await
    };
    let rows = async {
        let statement = txn.prepare_cached(&sql.lock).await?;
        txn.query(&statement, &[&ns, &all, &now]).await
    };
    let (_, rows) = futures::try_join!(key_locks, rows)?;
    let mut locked = Locked::new();
    for row in rows {
        locked.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    if let Some(op) = ops
        .iter()
        .find(|op| !holds(op.precondition, locked.get(&op.stored)))
    {
        txn.rollback().await?;
        return Ok(Outcome::Conflict(op.key.clone()));
    }
    let plan = Plan::new(ops, &locked);
    let applied = plan.apply(&txn, s, ns, now).await?;
    let Applied {
        mut versions,
        fresh,
    } = applied;
    let mut extra = fresh.into_iter();
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        if op.json.is_none() {
            out.push(None);
        } else if plan.last[op.stored.as_str()] == i {
            match versions.remove(&op.stored) {
                Some(v) => out.push(Some(Version(v as u64))),
                // An insert of a key that had to stay absent found a row: someone else's.
                None => {
                    txn.rollback().await?;
                    return Ok(Outcome::Conflict(op.key.clone()));
                }
            }
        } else {
            out.push(extra.next().map(|v| Version(v as u64)));
        }
    }
    txn.commit().await?;
    Ok(Outcome::Written(out))
}

/// Puts as statement parameters: stored keys, JSON texts, TTLs.
type PutRows<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<Option<i64>>);

/// The batch collapsed to one final op per key.
struct Plan<'a> {
    /// The index of the last op on each stored key.
    last: HashMap<&'a str, usize>,
    deletes: Vec<&'a str>,
    /// Puts that may replace a row.
    upserts: PutRows<'a>,
    /// Puts of keys that had no row and must have none when inserted.
    inserts: PutRows<'a>,
    /// Puts overwritten by a later op of the batch: they still get a version.
    superseded: i64,
}

struct Applied {
    /// The new version of each key written (inserts that found a row are missing).
    versions: HashMap<String, i64>,
    /// Versions for the superseded puts.
    fresh: Vec<i64>,
}

impl<'a> Plan<'a> {
    fn new(ops: &'a [Op], locked: &Locked) -> Self {
        let mut last = HashMap::with_capacity(ops.len());
        let mut guarded = HashSet::new();
        for (i, op) in ops.iter().enumerate() {
            last.insert(op.stored.as_str(), i);
            if op.precondition != Precondition::Any {
                guarded.insert(op.stored.as_str());
            }
        }
        let mut plan = Plan {
            last: HashMap::new(),
            deletes: Vec::new(),
            upserts: Default::default(),
            inserts: Default::default(),
            superseded: 0,
        };
        for (i, op) in ops.iter().enumerate() {
            let key = op.stored.as_str();
            let had_row = locked.contains_key(key);
            match &op.json {
                Some(_) if last[key] != i => plan.superseded += 1,
                None if last[key] != i => {}
                // Deleting a key that must be absent and had no row: nothing to do (a row
                // inserted since by someone else is theirs).
                None if op.precondition == Precondition::IfAbsent && !had_row => {}
                None => plan.deletes.push(key),
                Some(json) => {
                    let target = if guarded.contains(key) && !had_row {
                        &mut plan.inserts
                    } else {
                        &mut plan.upserts
                    };
                    target.0.push(key);
                    target.1.push(json);
                    target.2.push(op.ttl_ms);
                }
            }
        }
        plan.last = last;
        plan
    }

    /// Runs the statements, pipelined on one connection.
    async fn apply(
        &self,
        txn: &Transaction<'_>,
        s: &PostgresStorage,
        ns: &str,
        now: Option<i64>,
    ) -> Result<Applied, tokio_postgres::Error> {
        let sql = &s.shared.sql;
        let delete = async {
            if self.deletes.is_empty() {
                return Ok(0);
            }
            let statement = txn.prepare_cached(&sql.delete).await?;
            txn.execute(&statement, &[&ns, &self.deletes]).await
        };
        let fresh = async {
            if self.superseded == 0 {
                return Ok(Vec::new());
            }
            let statement = txn.prepare_cached(&sql.versions).await?;
            txn.query(&statement, &[&self.superseded]).await
        };
        let (_, upserted, inserted, fresh) = futures::try_join!(
            delete,
            put(txn, &sql.upsert, ns, &self.upserts, now),
            put(txn, &sql.insert_new, ns, &self.inserts, now),
            fresh
        )?;
        let mut versions = HashMap::with_capacity(upserted.len() + inserted.len());
        for row in upserted.iter().chain(&inserted) {
            versions.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let fresh = fresh
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(Applied { versions, fresh })
    }
}

/// Inserts (or upserts) `rows` with `statement`; returns `key, version` of the rows written.
async fn put(
    txn: &Transaction<'_>,
    statement: &str,
    ns: &str,
    (keys, values, ttls): &PutRows<'_>,
    now: Option<i64>,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let statement = txn.prepare_cached(statement).await?;
    txn.query(&statement, &[&ns, keys, values, ttls, &now])
        .await
}
