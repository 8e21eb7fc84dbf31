//! [`Waterfall`]: a dialog made of steps run one after another.
//!
//! Only `(dialog id, step index, dialog data)` is persisted, so steps are closures registered
//! at start-up. The v3 rules:
//! - `begin` runs step 0 with the begin arguments;
//! - a child's result (a prompt's answer) runs the next step with that result;
//! - `session.next(value)` runs the next step at once;
//! - a user message arriving while the waterfall itself is on top restarts it at step 0;
//! - running past the last step ends the dialog, bubbling the last result up.

use crate::contracts::error::{BotError, StepError};
use crate::model::dialog::Dialog;
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use crate::model::state::WATERFALL_STEP;
use async_trait::async_trait;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;
type ErasedStep = dyn for<'a> Fn(&'a mut Session, DialogResult) -> StepFuture<'a> + Send + Sync;

/// A function that can be a waterfall step: an `async` closure or an `async fn` taking
/// `(&mut Session, DialogResult)`, whose future is `Send`. Implemented for every such
/// function; bot authors never name it.
pub trait StepFn<'a>: Send + Sync {
    /// What the step returns: `()` or `Result<(), StepError>`.
    type Output: StepOutput;
    /// The step's future.
    type Future: Future<Output = Self::Output> + Send + 'a;
    /// Runs the step.
    fn call(&self, session: &'a mut Session, result: DialogResult) -> Self::Future;
}

impl<'a, F, Fut> StepFn<'a> for F
where
    F: Fn(&'a mut Session, DialogResult) -> Fut + Send + Sync,
    Fut: Future + Send + 'a,
    Fut::Output: StepOutput,
{
    type Output = Fut::Output;
    type Future = Fut;
    fn call(&self, session: &'a mut Session, result: DialogResult) -> Fut {
        self(session, result)
    }
}

/// What a step may return: nothing, or `Result<(), StepError>` (so `?` works on any error).
pub trait StepOutput {
    /// The step's outcome.
    fn into_result(self) -> Result<(), StepError>;
}

impl StepOutput for () {
    fn into_result(self) -> Result<(), StepError> {
        Ok(())
    }
}

impl StepOutput for Result<(), StepError> {
    fn into_result(self) -> Result<(), StepError> {
        self
    }
}

/// A dialog of steps. Each step gets the session and the previous result.
///
/// ```
/// use botcore::{prompts, Waterfall};
/// let greet = Waterfall::new()
///     .step(async |s, _| prompts::text(s, "What is your name?"))
///     .step(async |s, r| {
///         let name = r.text()?.to_owned();
///         s.send(format!("Hi {name}!"));
///         s.end_dialog();
///         Ok(())
///     });
/// assert_eq!(greet.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Waterfall {
    steps: Vec<Arc<ErasedStep>>,
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

    /// Adds a step: an `async` closure or `async fn` taking `(&mut Session, DialogResult)` and
    /// returning `()` or `Result<(), StepError>`. Sends and stack changes are buffered.
    ///
    /// A step cannot borrow from the closure's captures across an `.await` (Rust's async
    /// closures that do are not `Send`-checkable); share data through the types it needs
    /// (`Arc` fields of a dialog of your own, or state).
    pub fn step<F, O>(mut self, f: F) -> Self
    where
        F: AsyncFn(&mut Session, DialogResult) -> O + for<'a> StepFn<'a> + 'static,
    {
        self.steps.push(Arc::new(move |session, result| {
            let fut = f.call(session, result);
            Box::pin(async move { fut.await.into_result() })
        }));
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
        let Some((i, step)) = usize::try_from(index)
            .ok()
            .and_then(|i| Some((i, self.steps.get(i)?)))
        else {
            // Past the last step: end, bubbling the last result up.
            session.end_dialog_with_result(result);
            return Ok(());
        };
        if let Some(frame) = session.stack.last_mut() {
            frame
                .state
                .insert(WATERFALL_STEP.into(), Value::from(index));
        }
        match step(session, result).await {
            Ok(()) => Ok(()),
            Err(e) => Err(e.into_bot_error(session.current_dialog().unwrap_or(""), i)),
        }
    }
}

fn current_step(session: &Session) -> i64 {
    session
        .stack
        .last()
        .and_then(|f| f.state.get(WATERFALL_STEP))
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
        // An Adaptive Card's Action.Submit (a value and no text) hands over the value.
        let m = session.message();
        let value = match &m.value {
            Some(v) if m.text.is_empty() => v.clone(),
            _ => Value::String(m.text.clone()),
        };
        self.run_step(session, 0, DialogResult::completed(value))
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
