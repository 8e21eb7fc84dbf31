//! [`Waterfall`]: a dialog made of steps run one after another.
//!
//! Only `(dialog id, step index, dialog data)` is persisted, so steps are closures registered
//! at start-up. The v3 rules:
//! - `begin` runs step 0 with the begin arguments;
//! - a child's result (a prompt's answer) runs the next step with that result;
//! - `session.next(value)` runs the next step at once;
//! - a user message arriving while the waterfall itself is on top restarts it at step 0;
//! - running past the last step ends the dialog, bubbling the last result up.

use crate::contracts::error::BotError;
use crate::model::dialog::Dialog;
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use crate::model::state::WATERFALL_STEP;
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

type SyncStep = dyn Fn(&mut Session, DialogResult) -> Result<(), BotError> + Send + Sync;
type AsyncStep = dyn for<'a> Fn(&'a mut Session, DialogResult) -> BoxFuture<'a, Result<(), BotError>>
    + Send
    + Sync;

#[derive(Clone)]
enum Step {
    Sync(Arc<SyncStep>),
    Async(Arc<AsyncStep>),
}

/// A dialog of steps. Each step gets the session and the previous result.
///
/// ```
/// use botcore::{prompts, Waterfall};
/// let greet = Waterfall::new()
///     .step(|s, _| { prompts::text(s, "What is your name?") })
///     .step(|s, r| {
///         let name = r.as_str().unwrap_or("stranger").to_owned();
///         s.send(format!("Hi {name}!"));
///         s.end_dialog();
///         Ok(())
///     });
/// assert_eq!(greet.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Waterfall {
    steps: Vec<Step>,
}

impl fmt::Debug for Waterfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waterfall")
            .field("steps", &self.steps.len())
            .finish()
    }
}

impl Waterfall {
    /// An empty waterfall.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step. Steps are plain functions: sends and stack changes are buffered.
    pub fn step<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut Session, DialogResult) -> Result<(), BotError> + Send + Sync + 'static,
    {
        self.steps.push(Step::Sync(Arc::new(f)));
        self
    }

    /// Adds an async step, for steps that wait on I/O:
    /// `.step_async(|s, r| Box::pin(async move { ...; Ok(()) }))`.
    pub fn step_async<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut Session, DialogResult) -> BoxFuture<'a, Result<(), BotError>>
            + Send
            + Sync
            + 'static,
    {
        self.steps.push(Step::Async(Arc::new(f)));
        self
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    async fn run_step(
        &self,
        session: &mut Session,
        index: i64,
        result: DialogResult,
    ) -> Result<(), BotError> {
        let Some(step) = usize::try_from(index).ok().and_then(|i| self.steps.get(i)) else {
            // Past the last step: end, bubbling the last result up.
            session.end_dialog_with_result(result);
            return Ok(());
        };
        session
            .dialog_data_mut()
            .insert(WATERFALL_STEP.into(), Value::from(index));
        match step {
            Step::Sync(f) => f(session, result),
            Step::Async(f) => f(session, result).await,
        }
    }
}

fn current_step(session: &Session) -> i64 {
    session
        .dialog_data()
        .get(WATERFALL_STEP)
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[async_trait]
impl Dialog for Waterfall {
    async fn begin(&self, session: &mut Session, args: Option<Value>) -> Result<(), BotError> {
        self.run_step(session, 0, DialogResult::completed(args))
            .await
    }

    async fn reply_received(&self, session: &mut Session) -> Result<(), BotError> {
        let text = session.message().text.clone();
        self.run_step(session, 0, DialogResult::completed(Value::String(text)))
            .await
    }

    async fn dialog_resumed(
        &self,
        session: &mut Session,
        result: DialogResult,
    ) -> Result<(), BotError> {
        // v3: `Back` re-runs the previous step (nothing at the first), `Reprompt` leaves the
        // waterfall waiting, everything else (`Forward` included) runs the next step.
        let step = current_step(session);
        let next = match result.reason {
            ResumeReason::Back if step == 0 => return Ok(()),
            ResumeReason::Back => step - 1,
            ResumeReason::Reprompt => return Ok(()),
            _ => step.saturating_add(1),
        };
        self.run_step(session, next, result).await
    }
}
