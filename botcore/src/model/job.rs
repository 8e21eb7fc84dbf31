//! Scheduled jobs as stored: what a job does, its record, its keys and ids. The scheduler
//! (`proactive::scheduler`) claims and runs them; a dialog step saves one in its turn's own
//! compare-and-set batch through [`Session::schedule_in`](crate::Session::schedule_in).

use crate::contracts::address::Address;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, WriteOp};
use crate::model::proactive_mode::ProactiveMode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) const JOB_PREFIX: &str = "job/";
pub(crate) const MOVED_PREFIX: &str = "job-moved/";
/// How many times a job is started before a retryable failure drops it.
pub const MAX_ATTEMPTS: u32 = 5;

/// What a job does when it comes due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
// Built once per job: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum JobAction {
    /// Send a message (ad hoc).
    Message {
        /// The message; its address is the job's.
        message: Message,
    },
    /// Begin a dialog.
    Dialog {
        /// The dialog id.
        id: String,
        /// Its arguments.
        #[serde(default)]
        args: Option<Value>,
        /// How to treat a busy user.
        mode: ProactiveMode,
    },
    /// Re-check dialogs held until the user is idle (scheduled by `WhenIdle`).
    CheckHeld,
}

impl JobAction {
    /// Begin dialog `id` (an unqualified id is in the bot's own library) in `mode`.
    pub fn dialog(id: impl Into<String>, mode: ProactiveMode) -> Self {
        Self::Dialog {
            id: id.into(),
            args: None,
            mode,
        }
    }

    /// Send `message` (to the job's address).
    pub fn message(message: impl Into<Message>) -> Self {
        Self::Message {
            message: message.into(),
        }
    }
}

/// A scheduled job, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// When it is due (ms since the Unix epoch); later than first asked after a retry.
    pub at: u64,
    /// Whom it is for.
    pub address: Address,
    /// What it does.
    pub action: JobAction,
    /// Skip the job if it is found more than this late (e.g. after downtime); `None` runs it late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lateness_ms: Option<u64>,
    /// How many times it was started so far (failed runs that are retried count).
    #[serde(default)]
    pub attempts: u32,
    /// It is dropped when a run fails after this many starts.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lease_until: Option<u64>,
}

fn default_max_attempts() -> u32 {
    MAX_ATTEMPTS
}

pub(crate) fn new_id(at_ms: u64) -> String {
    let salt: u64 = rand::random();
    format!("{at_ms:016x}-{salt:016x}")
}

pub(crate) fn job_key(at_ms: u64, id: &str) -> String {
    format!("{JOB_PREFIX}{at_ms:020}/{id}")
}

pub(crate) fn moved_key(id: &str) -> String {
    format!("{MOVED_PREFIX}{id}")
}

/// The first due time an id encodes, if it is an id of this scheduler.
pub(crate) fn id_at(id: &str) -> Option<u64> {
    let (at, salt) = id.split_once('-')?;
    let hex = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(at) || !hex(salt) {
        return None;
    }
    u64::from_str_radix(at, 16).ok()
}

/// The due time and id in a job key.
pub(crate) fn parse_key(key: &str) -> Option<(u64, &str)> {
    let (at, id) = key.strip_prefix(JOB_PREFIX)?.split_once('/')?;
    if at.len() != 20 || !at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id_at(id)?;
    Some((at.parse().ok()?, id))
}

pub(crate) fn decode(key: &str, value: Value) -> Result<Job, String> {
    let job: Job = serde_json::from_value(value).map_err(|e| e.to_string())?;
    match parse_key(key) {
        Some((at, id)) if at == job.at && id == job.id => Ok(job),
        _ => Err(format!(
            "the key does not match the job's id {} and due time {}",
            job.id, job.at
        )),
    }
}

pub(crate) fn encode(job: &Job) -> Result<Value, BotError> {
    serde_json::to_value(job).map_err(|e| BotError::dialog(format!("job cannot be stored: {e}")))
}

/// A new job's id and the write that stores it (if nothing is stored under its key yet): for
/// callers that save a job in the same atomic batch as other records.
pub(crate) fn job_write_op(
    at_ms: u64,
    address: &Address,
    action: JobAction,
    max_lateness_ms: Option<u64>,
) -> Result<(String, WriteOp), BotError> {
    if address.channel_id.is_empty() || address.user.id.is_empty() {
        return Err(BotError::InvalidAddress(
            "a job's address needs a channelId and a user id".into(),
        ));
    }
    let id = new_id(at_ms);
    let job = Job {
        id: id.clone(),
        at: at_ms,
        address: address.clone(),
        action,
        max_lateness_ms,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        lease_until: None,
    };
    let op = WriteOp::put(job_key(at_ms, &id), encode(&job)?, Precondition::IfAbsent);
    Ok((id, op))
}
