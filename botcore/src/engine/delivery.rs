//! Delivery: a turn's buffered messages, and messages sent outside any turn, through the send
//! middleware to the connector — in order, and never interleaved: the conversation's
//! delivery lock keeps an ad hoc send or an event reply out of the middle of a turn's replies.

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::message::Message;
use crate::contracts::telemetry;
use crate::engine::locks::{self, Claim};
use crate::engine::runtime::Runtime;
use crate::model::state::StateKeys;
use std::sync::Arc;

/// Delivers a turn's messages together, under the conversation's delivery lock (the turn
/// holds `claim` on its slot). Messages the turn addressed to other conversations go out
/// after its own, each under its own conversation's delivery lock (one lock at a time, so two
/// turns writing to each other's conversations cannot wait for each other). Results are in
/// the order of `out`.
pub(crate) async fn deliver_as_one(
    rt: &Arc<Runtime>,
    claim: &Claim<'_>,
    turn: &Address,
    out: Vec<Message>,
) -> Vec<Result<Receipt, DeliveryError>> {
    if out.is_empty() {
        return Vec::new();
    }
    let same = |m: &Message| {
        m.address.channel_id == turn.channel_id
            && m.address.conversation_id() == turn.conversation_id()
    };
    if out.iter().all(same) {
        let _delivering = claim.delivery().await;
        return deliver(rt, out).await;
    }
    let (mut own, mut others) = (Vec::new(), Vec::new());
    for (i, m) in out.into_iter().enumerate() {
        if same(&m) {
            own.push((i, m));
        } else {
            others.push((i, m));
        }
    }
    let mut results: Vec<Option<Result<Receipt, DeliveryError>>> =
        (0..own.len() + others.len()).map(|_| None).collect();
    {
        let _delivering = claim.delivery().await;
        let (idx, msgs): (Vec<usize>, Vec<Message>) = own.into_iter().unzip();
        for (i, r) in idx.into_iter().zip(deliver(rt, msgs).await) {
            results[i] = Some(r);
        }
    }
    for (i, m) in others {
        results[i] = Some(deliver_elsewhere(rt, m).await);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(DeliveryError::Skipped)))
        .collect()
}

/// One message of a turn to another conversation, under that conversation's delivery lock.
async fn deliver_elsewhere(rt: &Arc<Runtime>, message: Message) -> Result<Receipt, DeliveryError> {
    let key = StateKeys::for_address(&message.address)
        .ok()
        .map(|k| k.conversation);
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
            let (metrics, conversation) = (&inner.metrics, m.address.conversation_id());
            let sent = telemetry::delivery(metrics, conversation, inner.connector.send(&m));
            results.push(sent.await);
        }
    }
    results
}
