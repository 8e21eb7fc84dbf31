//! Helpers of the scheduler tests: a bot with users who wrote, and short ways to schedule,
//! tick and list storage keys.

use botcore::proactive::scheduler::JobReport;
use botcore::{Bot, BotBuilder, Clock, JobAction, Message, Storage, Waterfall};
use transport_mock::{TestBot, TestUser};

/// A bot that says `hello` to whoever writes.
pub(crate) fn bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| {
            s.send("hello");
            s.end_dialog();
        }),
    )
}

/// A test bot and users who have each written once (so they may be contacted).
pub(crate) async fn with_users(names: &[&str]) -> (TestBot, Vec<TestUser>) {
    let t = TestBot::new(bot());
    let mut users = Vec::new();
    for name in names {
        let u = t.user(name);
        u.say("hi").await.expect(&["hello"]);
        users.push(u);
    }
    (t, users)
}

/// A job that sends `text` to `to`.
pub(crate) fn text(to: &TestUser, text: &str) -> JobAction {
    JobAction::message(Message::to(&to.address).text(text))
}

/// Schedules `say` for `to`, due `ms` from now; returns the job id.
pub(crate) async fn schedule_in(t: &TestBot, to: &TestUser, ms: u64, say: &str) -> String {
    let at = t.clock.now_ms() + ms;
    t.bot
        .scheduler()
        .at(at, &to.address, text(to, say))
        .await
        .unwrap()
}

/// One scheduler tick of `t`'s bot, with its reports.
pub(crate) async fn tick(t: &TestBot) -> Vec<JobReport> {
    t.bot.scheduler().tick().await.unwrap()
}

/// The storage keys under `prefix`.
pub(crate) async fn keys(t: &TestBot, prefix: &str) -> Vec<String> {
    t.storage.list_keys(prefix, None, 1_000).await.unwrap()
}
