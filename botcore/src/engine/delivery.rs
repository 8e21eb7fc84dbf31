//! Delivery: a turn's buffered messages, and messages sent outside any turn, through the send
//! middleware to the connector — in order, and never interleaved: the conversation's
//! delivery lock keeps an ad hoc send or an event reply out of the middle of a turn's replies.
//!
//! Messages are delivered by reference: the outbox keeps them as the turn wrote them (a send
//! middleware changes a copy), so a message sent again later goes through the middleware once
//! more, as the first time.

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::message::Message;
use crate::contracts::telemetry;
use crate::engine::locks::{self, Claim};
use crate::engine::runtime::Runtime;
use crate::model::outbox::retry_later;
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
    out: &[Message],
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
    // Boxed: the rare case would otherwise make every turn's future larger.
    Box::pin(deliver_mixed(rt, claim, out, same)).await
}

/// [`deliver_as_one`] for a turn that also wrote to other conversations.
async fn deliver_mixed(
    rt: &Arc<Runtime>,
    claim: &Claim<'_>,
    out: &[Message],
    same: impl Fn(&Message) -> bool,
) -> Vec<Result<Receipt, DeliveryError>> {
    let (own, others): (Vec<usize>, Vec<usize>) = (0..out.len()).partition(|&i| same(&out[i]));
    let mut results: Vec<Option<Result<Receipt, DeliveryError>>> =
        (0..out.len()).map(|_| None).collect();
    {
        let _delivering = claim.delivery().await;
        let msgs: Vec<Message> = own.iter().map(|&i| out[i].clone()).collect();
        for (i, r) in own.into_iter().zip(deliver(rt, &msgs).await) {
            results[i] = Some(r);
        }
    }
    for i in others {
        results[i] = Some(deliver_elsewhere(rt, &out[i]).await);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(DeliveryError::Skipped)))
        .collect()
}

/// One message of a turn to another conversation, under that conversation's delivery lock.
async fn deliver_elsewhere(rt: &Arc<Runtime>, message: &Message) -> Result<Receipt, DeliveryError> {
    let key = StateKeys::for_address(&message.address)
        .ok()
        .map(|k| k.conversation);
    let claim = key.as_deref().map(|k| rt.locks.claim(k));
    let _delivering = match &claim {
        Some(c) => Some(c.delivery().await),
        None => None,
    };
    deliver(rt, std::slice::from_ref(message))
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
    deliver(rt, std::slice::from_ref(&message))
        .await
        .pop()
        .unwrap_or(Err(DeliveryError::Skipped))
}

/// Sends messages in order through the send middleware and the connector. After a failure
/// that keeps a message for a later try, the ones behind it wait too
/// ([`DeliveryError::Skipped`]), so they cannot overtake it.
pub(crate) async fn deliver(
    inner: &Arc<Runtime>,
    out: &[Message],
) -> Vec<Result<Receipt, DeliveryError>> {
    let mut results = Vec::with_capacity(out.len());
    let mut stopped = false;
    for m in out {
        if stopped {
            results.push(Err(DeliveryError::Skipped));
            continue;
        }
        let result = if inner.middleware.is_empty() {
            let conversation = m.address.conversation_id();
            telemetry::delivery(&inner.metrics, conversation, inner.connector.send(m)).await
        } else {
            Box::pin(through_middleware(inner, m.clone())).await
        };
        stopped = matches!(&result, Err(e) if retry_later(e));
        results.push(result);
    }
    results
}

/// One message through the send middleware (which may change it), then the connector.
async fn through_middleware(
    inner: &Arc<Runtime>,
    mut m: Message,
) -> Result<Receipt, DeliveryError> {
    for mw in &inner.middleware {
        if let Err(e) = mw.send(&mut m).await {
            return Err(DeliveryError::Ambiguous(format!(
                "send middleware failed: {e}"
            )));
        }
    }
    let conversation = m.address.conversation_id();
    telemetry::delivery(&inner.metrics, conversation, inner.connector.send(&m)).await
}
