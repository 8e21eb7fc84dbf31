//! Helpers of the resumable fan-out tests: the message most of them send, and the progress
//! of a job.

use botcore::proactive::fanout::{FanOutAction, FanOutProgress};
use botcore::{Bot, Message};

/// The fan-out action most tests use: the message `news`.
pub(crate) fn news() -> FanOutAction {
    FanOutAction::Message(Message::default().text("news"))
}

/// The journaled progress of fan-out `job` (which must exist).
pub(crate) async fn progress(bot: &Bot, job: &str) -> FanOutProgress {
    bot.fan_out_progress(job).await.unwrap().unwrap()
}

/// The progress of a job of `total` recipients with the given counts (the rest pending).
pub(crate) fn progress_of(
    total: usize,
    done: usize,
    failed: usize,
    in_doubt: usize,
) -> FanOutProgress {
    FanOutProgress {
        total,
        done,
        failed,
        in_doubt,
        pending: total - done - failed - in_doubt,
    }
}
