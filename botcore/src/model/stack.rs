//! Stack operations: what a handler asks of the dialog stack. Each queues one [`StackOp`]
//! on the session; the engine's driver carries it out after the handler returns. An id that
//! names no dialog is remembered as the turn's error (v3: the error message and a reset),
//! except through [`Session::try_begin_dialog`], which returns it.

use crate::contracts::error::BotError;
use crate::model::effects::StackOp;
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use serde::Serialize;
use serde_json::Value;

impl Session {
    fn queue(&mut self, op: StackOp) {
        self.effects.queue(op);
    }

    /// Resolves `id` against the dialog on top (unqualified ids use its library, then `*`).
    fn resolve(&self, id: &str) -> Result<String, BotError> {
        self.env
            .ids
            .resolve(id, self.current_dialog())
            .map(str::to_owned)
    }

    /// Resolves `id`, or remembers the error for the driver (which fails the turn with it).
    fn resolve_or_fail(&mut self, id: &str) -> Option<String> {
        match self.resolve(id) {
            Ok(id) => Some(id),
            Err(e) => {
                self.effects.fail(e);
                None
            }
        }
    }

    fn args<A: Serialize>(&mut self, args: &A) -> Option<Value> {
        match serde_json::to_value(args) {
            Ok(Value::Null) => None,
            Ok(v) => Some(v),
            Err(e) => {
                self.effects.fail(BotError::StateType {
                    what: "dialog arguments",
                    type_name: std::any::type_name::<A>(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    /// Begins the dialog `id` on top of the current one; the current dialog is resumed with
    /// the child's result when it ends. An unknown id fails the turn with
    /// [`BotError::DialogNotFound`] (v3: the error message and a reset); use
    /// [`try_begin_dialog`](Self::try_begin_dialog) to handle it yourself.
    pub fn begin_dialog(&mut self, id: &str) {
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Begin { id, args: None });
        }
    }

    /// [`begin_dialog`](Self::begin_dialog) with arguments, which the dialog's first step
    /// reads with [`DialogResult::value`](crate::DialogResult::value).
    pub fn begin_dialog_with<A: Serialize>(&mut self, id: &str, args: &A) {
        let args = self.args(args);
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Begin { id, args });
        }
    }

    /// Begins the dialog `id` if it exists; otherwise returns [`BotError::DialogNotFound`]
    /// and queues nothing.
    pub fn try_begin_dialog(&mut self, id: &str) -> Result<(), BotError> {
        let id = self.resolve(id)?;
        self.queue(StackOp::Begin { id, args: None });
        Ok(())
    }

    /// Ends the current dialog and begins `id` in its place; the parent is not resumed in between.
    pub fn replace_dialog(&mut self, id: &str) {
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Replace { id, args: None });
        }
    }

    /// [`replace_dialog`](Self::replace_dialog) with arguments.
    pub fn replace_dialog_with<A: Serialize>(&mut self, id: &str, args: &A) {
        let args = self.args(args);
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Replace { id, args });
        }
    }

    /// Ends the current dialog; the parent resumes with a completed result whose value is
    /// `true` (v3 `endDialog()`: `{ response: true }`).
    pub fn end_dialog(&mut self) {
        self.queue(StackOp::End(DialogResult::completed(Value::Bool(true))));
    }

    /// Ends the current dialog, handing `value` to the parent (v3 `endDialogWithResult`).
    pub fn end_dialog_with<V: Serialize>(&mut self, value: &V) {
        let value = self.args(value);
        self.queue(StackOp::End(DialogResult::completed(value)));
    }

    /// Ends the current dialog, handing `result` (any reason) to the parent.
    pub fn end_dialog_with_result(&mut self, result: DialogResult) {
        self.queue(StackOp::End(result));
    }

    /// Moves the current dialog on (a waterfall runs its next step at once), as v3's `next()`:
    /// the step gets a result with reason [`ResumeReason::Forward`](crate::ResumeReason::Forward).
    pub fn next(&mut self) {
        self.queue(StackOp::Resume(DialogResult::with_reason(
            ResumeReason::Forward,
        )));
    }

    /// [`next`](Self::next) with a value for the next step.
    pub fn next_with<V: Serialize>(&mut self, value: &V) {
        let mut result = DialogResult::with_reason(ResumeReason::Forward);
        result.value = self.args(value);
        self.queue(StackOp::Resume(result));
    }

    /// Resumes the current dialog with a result of any reason (e.g. [`ResumeReason::Back`](crate::ResumeReason::Back)).
    pub fn resume_with(&mut self, result: DialogResult) {
        self.queue(StackOp::Resume(result));
    }

    /// Cancels the current dialog; the parent resumes with
    /// [`ResumeReason::Canceled`](crate::ResumeReason::Canceled).
    pub fn cancel_dialog(&mut self) {
        self.queue(StackOp::Cancel {
            id: None,
            then: None,
        });
    }

    /// Cancels the newest frame of dialog `id` and everything above it (nothing when it is not
    /// on the stack); the dialog below resumes with `Canceled`.
    pub fn cancel_dialog_id(&mut self, id: &str) {
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Cancel {
                id: Some(id),
                then: None,
            });
        }
    }

    /// Cancels like [`cancel_dialog`](Self::cancel_dialog) (or, with `id`, like
    /// [`cancel_dialog_id`](Self::cancel_dialog_id)), then begins `replace_with` in place of
    /// the canceled frames instead of resuming the parent.
    pub fn cancel_and_begin(&mut self, id: Option<&str>, replace_with: &str) {
        let id = match id {
            Some(i) => match self.resolve_or_fail(i) {
                Some(i) => Some(i),
                None => return,
            },
            None => None,
        };
        if let Some(with) = self.resolve_or_fail(replace_with) {
            self.queue(StackOp::Cancel {
                id,
                then: Some((with, None)),
            });
        }
    }

    /// Sends `text` (if any) and an endOfConversation (`completedSuccessfully`), clears the stack,
    /// conversation data and private conversation data. User data is kept.
    pub fn end_conversation(&mut self, text: Option<&str>) {
        if let Some(t) = text {
            self.send(t);
        }
        self.queue(StackOp::EndConversation {
            code: "completedSuccessfully",
        });
    }

    /// Clears the stack and begins the root dialog (`*:/` unless the bot says otherwise).
    pub fn reset(&mut self) {
        self.queue(StackOp::Reset {
            id: None,
            args: None,
        });
    }

    /// Clears the stack and begins `id`.
    pub fn reset_to(&mut self, id: &str) {
        if let Some(id) = self.resolve_or_fail(id) {
            self.queue(StackOp::Reset {
                id: Some(id),
                args: None,
            });
        }
    }
}
