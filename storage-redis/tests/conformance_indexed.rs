//! The conformance suite with every key inside an indexed family: the storage under test puts
//! `fanout/suite/` (or `job/`, `address/`) before each key, so every listing the suite makes
//! pages a family index instead of scanning.

mod support;

use async_trait::async_trait;
use botcore::testing::{self, ConformanceOptions, TtlControl};
use botcore::{Storage, StorageError, Stored, Version, WriteOp};
use std::time::Duration;
use storage_redis::RedisStorage;
use support::{target, unique_namespace};

/// `inner`, with `prefix` before every key.
#[derive(Debug)]
struct InFamily {
    inner: RedisStorage,
    prefix: &'static str,
}

impl InFamily {
    fn wrap(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn unwrap_key(&self, key: String) -> String {
        key.strip_prefix(self.prefix)
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{key:?} is outside {:?}", self.prefix))
    }

    fn unwrap_error(&self, e: StorageError) -> StorageError {
        match e {
            StorageError::Conflict { key } => StorageError::Conflict {
                key: self.unwrap_key(key),
            },
            StorageError::TooLarge { key, size, limit } => StorageError::TooLarge {
                key: self.unwrap_key(key),
                size,
                limit,
            },
            StorageError::Corrupt { key, reason } => StorageError::Corrupt {
                key: self.unwrap_key(key),
                reason,
            },
            other => other,
        }
    }
}

#[async_trait]
impl Storage for InFamily {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        let keys: Vec<String> = keys.iter().map(|k| self.wrap(k)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let res = self.inner.read_many(&refs).await;
        res.map_err(|e| self.unwrap_error(e))
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        let ops = ops
            .into_iter()
            .map(|op| WriteOp {
                key: self.wrap(&op.key),
                ..op
            })
            .collect();
        let res = self.inner.write_many(ops).await;
        res.map_err(|e| self.unwrap_error(e))
    }

    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let after = after.map(|a| self.wrap(a));
        let keys = self
            .inner
            .list_keys(&self.wrap(prefix), after.as_deref(), limit)
            .await
            .map_err(|e| self.unwrap_error(e))?;
        Ok(keys.into_iter().map(|k| self.unwrap_key(k)).collect())
    }
}

async fn suite(prefix: &'static str) {
    let t = target();
    let base = RedisStorage::connect(&t.url)
        .await
        .unwrap()
        .with_max_value_bytes(testing::MIN_SIZE_LIMIT);
    let options = ConformanceOptions {
        size_limit: Some(testing::MIN_SIZE_LIMIT),
        ttl: Some(TtlControl::real_time(
            Duration::from_millis(700),
            tokio::time::sleep,
        )),
    };
    let make = || InFamily {
        inner: base.clone().with_namespace(unique_namespace("indexed")),
        prefix,
    };
    testing::run_storage_conformance(make, options).await;
    let (a, b) = (make(), make());
    testing::check_namespace_isolation(&a, &b).await;
}

#[tokio::test]
async fn whole_suite_in_the_fanout_family() {
    suite("fanout/suite/").await;
}

#[tokio::test]
async fn whole_suite_in_the_job_family() {
    suite("job/").await;
}

#[tokio::test]
async fn whole_suite_in_the_address_family() {
    suite("address/c/").await;
}
