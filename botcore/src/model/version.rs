//! Dialog versions: what a dialog declares at registration (its version, the migrations of
//! its stored frames, its former ids, what to do with a frame it cannot migrate), and the
//! typed view a migration gets of one stored frame.
//!
//! A frame's version is stored in its state under the reserved key `botcore.Version`,
//! omitted for version 0: stacks stored before versions existed load as version 0, and the
//! v3 shape of unversioned dialogs does not change.

use crate::contracts::error::BotError;
use crate::model::data::{Data, DataMut};
use crate::model::state::{Frame, WATERFALL_STEP};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Key of a frame's dialog version inside the frame's state (absent: version 0).
pub(crate) const VERSION_KEY: &str = "botcore.Version";

/// What happens to a stored frame whose dialog version the code cannot migrate (no
/// migration registered for a step of the way, a migration that failed, a frame newer than
/// the code, or state that no longer fits the dialog's declared state type).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionPolicy {
    /// Restart that dialog where it is on the stack (the dialogs above it end): the user gets
    /// `message` (a localization key or the text; empty: none) and the dialog begins again.
    RestartDialog {
        /// What the user is told.
        message: String,
    },
    /// Clear the whole stack (v3's bot-wide `dialogVersion` behaviour): the user gets
    /// `message` (empty: none), and their message goes to the root dialog.
    ResetStack {
        /// What the user is told.
        message: String,
    },
    /// Change nothing and fail the turn with [`BotError::DialogVersion`], for the caller to
    /// handle (it does not reset the conversation).
    Refuse,
}

impl Default for VersionPolicy {
    /// [`ResetStack`](Self::ResetStack) with v3's error message ("Oops. Something went wrong
    /// and we need to start over.").
    fn default() -> Self {
        Self::ResetStack {
            message: "BotBuilder:default_error".into(),
        }
    }
}

/// Why a migration could not map a stored frame forward; the frame then goes through its
/// [`VersionPolicy`]. Any [`BotError`] converts into it, so `?` works on
/// [`DataMut::get`] of state that no longer deserialises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationError(pub String);

impl MigrationError {
    /// A migration error with a message.
    pub fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration failed: {}", self.0)
    }
}

impl std::error::Error for MigrationError {}

impl From<BotError> for MigrationError {
    fn from(e: BotError) -> Self {
        Self(e.to_string())
    }
}

/// A stored frame, as a migration sees it: the waterfall step and the dialog's data.
#[derive(Debug)]
pub struct FrameMut<'a> {
    pub(crate) frame: &'a mut Frame,
}

impl FrameMut<'_> {
    /// The frame's (qualified) dialog id.
    pub fn id(&self) -> &str {
        &self.frame.id
    }

    /// The waterfall step the frame is at (`BotBuilder.Data.WaterfallStep`; 0 when absent).
    pub fn step(&self) -> usize {
        self.frame
            .state
            .get(WATERFALL_STEP)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Moves the frame to waterfall step `n`: the answer the frame waits for goes to step
    /// `n + 1`.
    pub fn set_step(&mut self, n: usize) {
        self.frame
            .state
            .insert(WATERFALL_STEP.into(), Value::from(n));
    }

    /// The dialog's data, to read (reserved keys hidden, as in a step).
    pub fn data(&self) -> Data<'_> {
        Data {
            what: "dialog data",
            map: Some(&self.frame.state),
        }
    }

    /// The dialog's data, to change (`set`, `update`, `json_mut`, as in a step).
    pub fn data_mut(&mut self) -> DataMut<'_> {
        DataMut {
            what: "dialog data",
            map: Some(&mut self.frame.state),
            dirty: None,
        }
    }
}

/// A migration from one version to the next.
pub(crate) type MigrateFn = dyn Fn(&mut FrameMut<'_>) -> Result<(), MigrationError> + Send + Sync;
/// A check that a frame's state still fits the dialog's state type.
pub(crate) type StateCheck = dyn Fn(&Map<String, Value>) -> Result<(), String> + Send + Sync;

/// What a dialog declared about its versions at registration.
#[derive(Clone, Default)]
pub(crate) struct DialogSpec {
    pub(crate) version: u32,
    /// Migration from version `n` (the key) to `n + 1`.
    pub(crate) migrations: BTreeMap<u32, Arc<MigrateFn>>,
    pub(crate) formerly: Vec<String>,
    pub(crate) policy: Option<VersionPolicy>,
    pub(crate) state_check: Option<Arc<StateCheck>>,
}

impl fmt::Debug for DialogSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialogSpec")
            .field("version", &self.version)
            .field("migrations", &self.migrations.keys().collect::<Vec<_>>())
            .field("formerly", &self.formerly)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The version stored in a frame (0 when absent).
pub(crate) fn stored_version(frame: &Frame) -> u32 {
    frame
        .state
        .get(VERSION_KEY)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// Stamps `version` on a frame (removing the key for version 0).
pub(crate) fn stamp(frame: &mut Frame, version: u32) {
    if version == 0 {
        frame.state.remove(VERSION_KEY);
    } else {
        frame.state.insert(VERSION_KEY.into(), Value::from(version));
    }
}

/// Maps `frame` from `stored` to `spec.version` through the registered migrations.
/// `Err` when a step of the way has no migration, one failed, or the state does not fit.
pub(crate) fn migrate(spec: &DialogSpec, frame: &mut Frame, stored: u32) -> Result<(), String> {
    if stored > spec.version {
        return Err(format!("stored version {stored} is newer than the code"));
    }
    // Work on a copy so a failed chain leaves the stored frame as it was.
    let mut work = frame.clone();
    for from in stored..spec.version {
        let m = spec
            .migrations
            .get(&from)
            .ok_or_else(|| format!("no migration from version {from}"))?;
        m(&mut FrameMut { frame: &mut work }).map_err(|e| e.to_string())?;
    }
    if let Some(check) = &spec.state_check {
        check(&work.state)?;
    }
    stamp(&mut work, spec.version);
    *frame = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(state: Value) -> Frame {
        let Value::Object(state) = state else {
            unreachable!()
        };
        Frame {
            id: "*:order".into(),
            state,
        }
    }

    fn spec(version: u32, from: &[u32]) -> DialogSpec {
        let mut s = DialogSpec {
            version,
            ..DialogSpec::default()
        };
        for &n in from {
            s.migrations.insert(
                n,
                Arc::new(move |f: &mut FrameMut<'_>| {
                    f.set_step(f.step() + 1);
                    let mut data = f.data_mut();
                    let trail = data.json_mut()?.entry("trail").or_insert(json!([]));
                    trail
                        .as_array_mut()
                        .into_iter()
                        .for_each(|a| a.push(json!(n)));
                    Ok(())
                }),
            );
        }
        s
    }

    #[test]
    fn migrations_run_one_version_at_a_time_and_stamp_the_frame() {
        let mut f = frame(json!({"BotBuilder.Data.WaterfallStep": 1}));
        migrate(&spec(3, &[0, 1, 2]), &mut f, 0).unwrap();
        assert_eq!(f.state["trail"], json!([0, 1, 2]));
        assert_eq!(f.state[WATERFALL_STEP], 4);
        assert_eq!(stored_version(&f), 3);
        stamp(&mut f, 0);
        assert!(
            !f.state.contains_key(VERSION_KEY),
            "version 0 is not stored"
        );
    }

    #[test]
    fn a_missing_migration_or_a_newer_frame_leaves_the_frame_as_it_was() {
        let before = frame(json!({"BotBuilder.Data.WaterfallStep": 1, "botcore.Version": 1}));
        let mut f = before.clone();
        let e = migrate(&spec(3, &[1]), &mut f, 1).unwrap_err();
        assert!(e.contains("no migration from version 2"), "{e}");
        assert_eq!(f, before);
        assert!(migrate(&spec(0, &[]), &mut f, 1).is_err());
        assert_eq!(f, before);
    }
}
