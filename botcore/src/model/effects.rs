//! [`Effects`]: what a turn asks for — messages to send, a stack operation, jobs to schedule,
//! an address-book update — buffered in the session and carried out by the engine: stack
//! operations by the driver after each handler returns, everything else committed with the
//! turn's state (jobs and the address book in the same compare-and-set batch) and delivered
//! after the commit.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::WriteOp;
use crate::model::address_record::AddressUpdate;
use crate::model::result::DialogResult;
use serde_json::Value;

/// A queued change to the dialog stack, carried out by the driver.
#[derive(Clone, Debug)]
pub(crate) enum StackOp {
    Begin {
        id: String,
        args: Option<Value>,
    },
    Replace {
        id: String,
        args: Option<Value>,
    },
    End(DialogResult),
    /// Resume the top dialog with a result (waterfall `next`).
    Resume(DialogResult),
    Cancel {
        id: Option<String>,
        then: Option<(String, Option<Value>)>,
    },
    EndConversation {
        code: &'static str,
    },
    Reset {
        id: Option<String>,
        args: Option<Value>,
    },
}

/// The effects one turn has buffered so far.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Messages to deliver after the commit, in order.
    pub(crate) outbox: Vec<Message>,
    /// The stack operation queued by the handler that just ran.
    pub(crate) op: Option<StackOp>,
    /// Set when one handler queued two stack operations (an error the driver raises).
    pub(crate) op_conflict: Option<String>,
    /// Jobs scheduled in this turn: saved in the turn's own compare-and-set batch.
    pub(crate) scheduled: Vec<WriteOp>,
    /// The user's address-book entry, when the incoming address changed it.
    pub(crate) address_update: Option<AddressUpdate>,
    /// An error a handler ran into without returning it (an unknown dialog id, arguments that
    /// cannot be stored): the driver fails the turn with it.
    pub(crate) error: Option<BotError>,
}

impl Effects {
    /// Remembers the first error a handler ran into.
    pub(crate) fn fail(&mut self, error: BotError) {
        self.error.get_or_insert(error);
    }

    /// Queues a stack operation; a second one in the same handler is remembered as a conflict.
    pub(crate) fn queue(&mut self, op: StackOp) {
        if let Some(prev) = self.op.replace(op) {
            self.op_conflict = Some(format!("{prev:?} then {:?}", self.op));
        }
    }
}
