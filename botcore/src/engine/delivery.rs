//! Delivery: a turn's buffered messages, and messages sent outside any turn, through the send
//! middleware to the connector — in order, and never interleaved: the conversation's
//! delivery lock keeps an ad hoc send or an event reply out of the middle of a turn's replies.

use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::message::Message;
use crate::engine::locks::{self, Claim};
use crate::engine::runtime::Runtime;
use crate::model::state::StateKeys;
use std::sync::Arc;

/// Delivers a turn's messages together, under the conversation's delivery lock (the turn
/// holds `claim` on its slot).
pub(crate) async fn deliver_as_one(
    rt: &Arc<Runtime>,
    claim: &Claim<'_>,
    out: Vec<Message>,
) -> Vec<Result<Receipt, DeliveryError>> {
    if out.is_empty() {
        return Vec::new();
    }
    let _delivering = claim.delivery().await;
    deliver(rt, out).await
}

/// Delivers one message outside any turn (ad hoc, event replies), never between the
/// messages of one of its conversation's turns. From inside a turn of that conversation (a
/// step, a send middleware) it goes out at once: no other turn of it can be delivering.
pub(crate) async fn deliver_between_turns(
    rt: &Arc<Runtime>,
    message: Message,
) -> Result<Receipt, DeliveryError> {
    let key = StateKeys::for_address(&message.address)
        .ok()
        .map(|k| k.conversation)
        .filter(|k| !locks::holds(k));
    let claim = key.as_deref().map(|k| rt.locks.claim(k));
    let _delivering = match &claim {
        Some(c) => Some(c.delivery().await),
        None => None,
    };
    deliver(rt, vec![message])
        .await
        .pop()
        .unwrap_or(Err(DeliveryError::Skipped))
}

/// Sends messages in order through the send middleware and the connector.
pub(crate) async fn deliver(
    inner: &Arc<Runtime>,
    out: Vec<Message>,
) -> Vec<Result<Receipt, DeliveryError>> {
    let mut results = Vec::with_capacity(out.len());
    for mut m in out {
        let mut dropped = false;
        for mw in &inner.middleware {
            if let Err(e) = mw.send(&mut m).await {
                results.push(Err(DeliveryError::Ambiguous(format!(
                    "send middleware failed: {e}"
                ))));
                dropped = true;
                break;
            }
        }
        if !dropped {
            results.push(inner.connector.send(&m).await);
        }
    }
    results
}
