//! Typing while a slow turn runs ([`BotBuilder::show_typing`](crate::BotBuilder::show_typing),
//! v4's ShowTypingMiddleware): a typing activity once the turn has run for the threshold,
//! then again every period, until the turn's replies are ready to go out.

use crate::contracts::address::Address;
use crate::contracts::connector::Connector;
use crate::contracts::message::{Message, MessageKind};
use futures::future::{self, Either};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// The shortest time between two typing activities of one turn: channels show one for a few
/// seconds, and some (Teams) throttle a conversation at about one activity a second.
pub(crate) const MIN_PERIOD: Duration = Duration::from_secs(2);

/// Runs `work`; if it is still running after `threshold`, sends a typing activity to
/// `address` through `connector`, then again every `max(threshold, MIN_PERIOD)` until `work`
/// is done. A typing activity being sent when `work` ends is finished first, so it cannot
/// arrive after the replies the caller sends next. Failures are logged and otherwise ignored.
pub(crate) async fn while_running<F: Future>(
    connector: &dyn Connector,
    address: &Address,
    threshold: Duration,
    work: F,
) -> F::Output {
    let (done, mut stopped) = futures::channel::oneshot::channel::<()>();
    let work = async move {
        let out = work.await;
        // The ticker may have stopped already; nothing to tell it then.
        let _ = done.send(());
        out
    };
    let ticker = async {
        let mut wait = threshold;
        loop {
            let sleep = pin!(tokio::time::sleep(wait));
            match future::select(sleep, &mut stopped).await {
                Either::Left(_) => {
                    let typing = Message::of_kind(MessageKind::Typing, address);
                    if let Err(e) = connector.send(&typing).await {
                        tracing::debug!(error = %e, "typing indicator not delivered");
                    }
                    wait = threshold.max(MIN_PERIOD);
                }
                Either::Right(_) => break,
            }
        }
    };
    future::join(work, ticker).await.0
}
