//! [`check`]: what a deploy would do to stored conversations, for CI — run the current
//! code's version pass over a sample of stored private-conversation records, without
//! changing them.

use crate::contracts::storage::{Storage, StorageError, StorageExt, Stored};
use crate::engine::bot::Bot;
use crate::engine::migrate::{self, Upgrade};
use crate::model::state::{SESSION_STATE, SessionState};

/// How many stored conversations each outcome of the version pass would have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Renamed or migrated frames; the user continues where they were.
    pub migrated: usize,
    /// A dialog restarted by [`VersionPolicy::RestartDialog`](crate::VersionPolicy::RestartDialog).
    pub restarted: usize,
    /// The stack reset, by [`VersionPolicy::ResetStack`](crate::VersionPolicy::ResetStack)
    /// or a raised [`DialogVersion`](crate::DialogVersion).
    pub reset: usize,
    /// Turns that would fail with [`BotError::DialogVersion`](crate::BotError::DialogVersion).
    pub refused: usize,
    /// Nothing to do (up to date, empty, or not a conversation record).
    pub unchanged: usize,
    /// The keys of the refused conversations, to look at.
    pub refused_keys: Vec<String>,
}

/// Runs the version pass of `bot` over `records` (stored private-conversation records, as
/// [`StorageExt::read_page`]`("private/", ..)` returns them; any `Storage` can export them)
/// and counts what each would go through. Nothing is written. A record whose session state
/// cannot be read counts as `reset` (its next turn resets it, as v3 does).
///
/// ```
/// # use botcore::StorageExt;
/// # async fn f(bot: botcore::Bot, storage: &dyn botcore::Storage) -> Result<(), botcore::StorageError> {
/// let (sample, _next) = storage.read_page("private/", None, 1_000).await?;
/// let report = botcore::deploy::check(&bot, &sample);
/// assert_eq!(report.refused, 0, "this deploy would refuse {:?}", report.refused_keys);
/// # Ok(()) }
/// ```
pub fn check(bot: &Bot, records: &[(String, Stored)]) -> CheckReport {
    let rt = &bot.inner;
    let mut report = CheckReport::default();
    for (key, stored) in records {
        let Some(raw) = stored.value.get(SESSION_STATE) else {
            report.unchanged += 1;
            continue;
        };
        let Ok(mut state) = SessionState::from_value(raw.clone()) else {
            report.reset += 1;
            continue;
        };
        if let Some(dv) = &rt.config.dialog_version
            && migrate::bot_wide(dv, &mut state.version, None, &mut state.callstack).is_some()
        {
            report.reset += 1;
            continue;
        }
        let upgrade =
            migrate::upgrade_stack(&rt.library, &rt.config.version_policy, &mut state.callstack);
        // A frame of a dialog this build no longer has resets the stack on the next turn (the
        // unknown-dialog policy), whatever the migrations did.
        let unknown = state
            .callstack
            .iter()
            .any(|f| rt.library.current(&f.id).is_none());
        match upgrade {
            Upgrade::Unchanged | Upgrade::Migrated if unknown => report.reset += 1,
            Upgrade::Unchanged => report.unchanged += 1,
            Upgrade::Migrated => report.migrated += 1,
            Upgrade::Restart { .. } => report.restarted += 1,
            Upgrade::Reset { .. } => report.reset += 1,
            Upgrade::Refused(_) => {
                report.refused += 1;
                report.refused_keys.push(key.clone());
            }
        }
    }
    report
}

/// [`check`] over every private-conversation record of `storage` (via
/// [`StorageExt::read_page`]), read in pages of
/// `page_size`.
pub async fn check_storage(
    bot: &Bot,
    storage: &dyn Storage,
    page_size: usize,
) -> Result<CheckReport, StorageError> {
    let mut total = CheckReport::default();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = storage
            .read_page("private/", after.as_deref(), page_size.max(1))
            .await?;
        let r = check(bot, &page);
        total.migrated += r.migrated;
        total.restarted += r.restarted;
        total.reset += r.reset;
        total.refused += r.refused;
        total.unchanged += r.unchanged;
        total.refused_keys.extend(r.refused_keys);
        match next {
            Some(n) => after = Some(n),
            None => return Ok(total),
        }
    }
}
