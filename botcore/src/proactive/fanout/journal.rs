//! The journal of a resumable fan-out: claim records, one per batch, and the run that
//! claims, sends and records (see the module docs of `fanout`).

use super::*;

/// A claim record: the recipients of one batch, and how many the job had when it was claimed.
#[derive(Default, Serialize, Deserialize)]
struct Chunk {
    total: usize,
    recipients: Vec<Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    channel: String,
    user: String,
    #[serde(flatten)]
    status: RecipientStatus,
}

/// A recipient: channel id and user id.
type Key = (String, String);

/// The storage keys of one job (`/` and `%` in the id escaped, so ids cannot collide).
pub(super) struct JobKeys {
    prefix: String,
}

impl JobKeys {
    pub(super) fn new(job_id: &str) -> Self {
        let id = job_id.replace('%', "%25").replace('/', "%2F");
        Self {
            prefix: format!("fanout/{id}"),
        }
    }

    fn chunk(&self, n: u64) -> String {
        format!("{}/{n}", self.prefix)
    }
}

/// Everything the stored records say about a job.
#[derive(Default)]
pub(super) struct Journal {
    pub(super) total: usize,
    next_chunk: u64,
    pub(super) status: HashMap<Key, RecipientStatus>,
}

impl Journal {
    fn merge(&mut self, chunk: Chunk) {
        self.total = self.total.max(chunk.total);
        for e in chunk.recipients {
            let key = (e.channel, e.user);
            // Records are read in the order they were claimed; a final outcome stays final.
            if !self.status.get(&key).is_some_and(|s| s.settled(true)) {
                self.status.insert(key, e.status);
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, v: Value) -> Result<T, BotError> {
    serde_json::from_value(v).map_err(|e| BotError::CorruptState(format!("{key}: {e}")))
}

/// A recipient this run still has to handle.
struct Pending {
    index: usize,
    key: Key,
    address: Address,
}

/// A stored claim: the record, its version, and who in it is to be sent to.
struct Claim {
    key: String,
    version: Version,
    entries: Vec<Entry>,
    send: Vec<(usize, Pending)>,
}

const PROBE: u64 = 16;
const MAX_ATTEMPTS: usize = 10_000;

/// One resumable run ([`FanOut::resumable`]).
struct Run<'a> {
    bot: &'a Bot,
    job: JobKeys,
    journal: Journal,
    results: Vec<Option<FanOutResult>>,
    /// Recipients another run of the same job claimed while this one was running: never
    /// ours to send, whatever batch they come up in.
    taken_by_others: std::collections::HashSet<Key>,
}

impl Run<'_> {
    fn skip(&mut self, p: Pending, status: RecipientStatus) {
        let outcome = ProactiveOutcome {
            address: p.address.clone(),
            ..Default::default()
        };
        self.results[p.index] = Some(FanOutResult::new(p.address, Ok(outcome), Some(status)));
    }

    fn fail(&mut self, p: Pending, error: BotError) {
        self.results[p.index] = Some(FanOutResult::new(p.address, Err(error), None));
    }

    /// Reads the journal, counts the recipients, and returns who is left to do
    /// (duplicates and recipients already handled are answered). `None` if storage failed.
    async fn start(&mut self, addresses: Vec<Address>, resend: bool) -> Option<Vec<Pending>> {
        let mut todo = Vec::new();
        let mut seen = HashSet::new();
        for (index, address) in addresses.into_iter().enumerate() {
            let key = (address.channel_id.clone(), address.user.id.clone());
            let p = Pending {
                index,
                key,
                address,
            };
            if seen.insert(p.key.clone()) {
                todo.push(p);
            } else {
                let e = BotError::InvalidAddress("recipient listed twice in a fan-out".into());
                self.fail(p, e);
            }
        }
        let loaded = self.bot.load_journal(&self.job).await;
        let mut journal = match loaded {
            Ok(journal) => journal.unwrap_or_default(),
            Err(e) => {
                for p in todo {
                    self.fail(p, not_attempted(&e));
                }
                return None;
            }
        };
        let known = &journal.status;
        let new = seen.iter().filter(|k| !known.contains_key(*k)).count();
        journal.total = journal.total.max(known.len() + new);
        self.journal = journal;
        let mut queue = Vec::with_capacity(todo.len());
        for p in todo {
            match self.journal.status.get(&p.key) {
                Some(s) if s.settled(resend) => {
                    let s = s.clone();
                    self.skip(p, s);
                }
                _ => queue.push(p),
            }
        }
        Some(queue)
    }

    /// Stores a claim for `batch` under the next free record number. Recipients another run
    /// claimed are answered as skipped, unreachable ones as failed; `Ok(None)` when nobody is
    /// left to send to. On error, what is left in `batch` was not sent.
    async fn claim(&mut self, batch: &mut Vec<Pending>) -> Result<Option<Claim>, BotError> {
        let storage = &self.bot.inner.storage;
        let book: Vec<String> = batch
            .iter()
            .map(|p| address_key(&p.key.0, &p.key.1))
            .collect();
        let refs: Vec<&str> = book.iter().map(String::as_str).collect();
        let stored = storage.read_many(&refs).await?;
        let unreachable: HashMap<Key, u16> = (batch.iter().zip(stored))
            .filter_map(|(p, s)| {
                let record: AddressRecord = serde_json::from_value(s?.value).ok()?;
                Some((p.key.clone(), record.unreachable?))
            })
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let mut i = 0;
            while i < batch.len() {
                if self.taken_by_others.contains(&batch[i].key) {
                    let p = batch.remove(i);
                    let status = self
                        .journal
                        .status
                        .get(&p.key)
                        .cloned()
                        .unwrap_or(RecipientStatus::InDoubt);
                    self.skip(p, status);
                } else {
                    i += 1;
                }
            }
            if batch.is_empty() {
                return Ok(None);
            }
            let entries: Vec<Entry> = batch
                .iter()
                .map(|p| Entry {
                    channel: p.key.0.clone(),
                    user: p.key.1.clone(),
                    status: match unreachable.get(&p.key) {
                        Some(status) => RecipientStatus::Failed {
                            error: format!("address marked unreachable (status {status})"),
                            retryable: false,
                        },
                        None => RecipientStatus::InDoubt,
                    },
                })
                .collect();
            let key = self.job.chunk(self.journal.next_chunk);
            let chunk = Chunk {
                total: self.journal.total,
                recipients: entries.clone(),
            };
            let value = serde_json::to_value(chunk).map_err(BotError::dialog)?;
            match storage.write(&key, value, Precondition::IfAbsent).await {
                Ok(version) => {
                    self.journal.next_chunk += 1;
                    let mut send = Vec::new();
                    for (pos, p) in batch.drain(..).enumerate() {
                        match unreachable.get(&p.key) {
                            Some(&status) => {
                                let e = DeliveryError::Permanent { status, code: None };
                                self.fail(p, BotError::Delivery(e));
                            }
                            None => send.push((pos, p)),
                        }
                    }
                    return Ok(Some(Claim {
                        key,
                        version,
                        entries,
                        send,
                    }));
                }
                Err(StorageError::Conflict { .. }) => {
                    // Another run took this number: what it claimed is not ours to send.
                    let theirs: Chunk = match storage.read(&key).await? {
                        Some(s) => decode(&key, s.value)?,
                        None => Chunk::default(),
                    };
                    for e in &theirs.recipients {
                        self.taken_by_others
                            .insert((e.channel.clone(), e.user.clone()));
                        let taken = |p: &Pending| p.key.0 == e.channel && p.key.1 == e.user;
                        if let Some(i) = batch.iter().position(taken) {
                            let p = batch.remove(i);
                            self.skip(p, e.status.clone());
                        }
                    }
                    self.journal.merge(theirs);
                    self.journal.next_chunk += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(BotError::Conflict {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Runs the action for the claimed recipients, then records their outcomes in the claim.
    async fn send(&mut self, claim: Claim, action: &FanOutAction, concurrency: usize) {
        let bot = self.bot;
        let outcomes: Vec<_> =
            futures::stream::iter(claim.send)
                .map(|(pos, p)| async move {
                    (pos, bot.fan_out_one(&p.address, action.clone()).await, p)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        let mut recipients = claim.entries;
        for (pos, result, p) in outcomes {
            recipients[pos].status = RecipientStatus::of(&result);
            self.results[p.index] = Some(FanOutResult::new(p.address, result, None));
        }
        let pre = Precondition::IfMatch(claim.version);
        let total = self.journal.total;
        let recorded = match serde_json::to_value(Chunk { total, recipients }) {
            Ok(v) => bot.inner.storage.write(&claim.key, v, pre).await.err(),
            Err(e) => Some(StorageError::Unavailable(e.to_string())),
        };
        if let Some(e) = recorded {
            let record = &claim.key;
            tracing::warn!(error = %e, %record, "fan-out outcomes not recorded: the batch stays in doubt");
        }
    }
}

impl Bot {
    /// A resumable run: see the module docs. If progress cannot be read or a claim cannot be
    /// stored, the recipients not yet sent to get a [`BotError::Storage`] error and are left
    /// for the next run.
    pub(crate) async fn fan_out_resumable(
        &self,
        job_id: &str,
        addresses: Vec<Address>,
        action: FanOutAction,
        options: FanOutOptions,
    ) -> Vec<FanOutResult> {
        let mut run = Run {
            bot: self,
            job: JobKeys::new(job_id),
            journal: Journal::default(),
            results: addresses.iter().map(|_| None).collect(),
            taken_by_others: Default::default(),
        };
        let mut queue = run
            .start(addresses, options.resend_in_doubt)
            .await
            .unwrap_or_default()
            .into_iter();
        loop {
            let mut batch: Vec<Pending> = queue.by_ref().take(options.batch.max(1)).collect();
            if batch.is_empty() {
                break;
            }
            match run.claim(&mut batch).await {
                Ok(Some(claim)) => run.send(claim, &action, options.concurrency).await,
                Ok(None) => {}
                Err(e) => {
                    // No claim, no send: the rest waits for the next run.
                    for p in batch.into_iter().chain(queue.by_ref()) {
                        run.fail(p, not_attempted(&e));
                    }
                }
            }
        }
        run.results.into_iter().flatten().collect()
    }

    /// Reads every claim record of a job (they are numbered densely from 0).
    pub(super) async fn load_journal(&self, job: &JobKeys) -> Result<Option<Journal>, BotError> {
        let mut journal = Journal::default();
        loop {
            let from = journal.next_chunk;
            let keys: Vec<String> = (from..from + PROBE).map(|n| job.chunk(n)).collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            for (key, stored) in keys.iter().zip(self.inner.storage.read_many(&refs).await?) {
                let Some(s) = stored else {
                    return Ok((journal.next_chunk > 0).then_some(journal));
                };
                journal.merge(decode(key, s.value)?);
                journal.next_chunk += 1;
            }
        }
    }
}
