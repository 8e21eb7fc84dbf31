//! The stand-up: a two-question waterfall begun for every subscribed member at once, the
//! answers collected into a report.

use botcore::proactive::fanout::{FanOutAction, FanOutResult};
use botcore::{Address, Bot, BotBuilder, BotError, Waterfall, prompts};
use serde::{Deserialize, Serialize};

/// The first question.
pub const YESTERDAY: &str = "What did you do yesterday?";
/// The second question.
pub const TODAY: &str = "What will you do today?";

/// A member's answers (kept in user data under `standup`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    /// What they did yesterday.
    pub yesterday: Option<String>,
    /// What they will do today.
    pub today: Option<String>,
}

/// The part of user data the stand-up owns.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Member {
    standup: Option<Answers>,
}

/// The stand-up dialog (`*:standup`).
pub fn standup_dialog() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, YESTERDAY))
        .step(async |s, r| {
            let yesterday = r.text()?.to_owned();
            s.dialog_data_mut()
                .update(|a: &mut Answers| a.yesterday = Some(yesterday))?;
            prompts::text(s, TODAY);
            Ok(())
        })
        .step(async |s, r| {
            let mut answers: Answers = s.dialog_data().get()?;
            answers.today = Some(r.text()?.to_owned());
            s.user_data_mut()
                .update(|m: &mut Member| m.standup = Some(answers))?;
            s.send("Thanks, that's all for today.");
            s.end_dialog();
            Ok(())
        })
}

/// A bot with the stand-up registered, and a root dialog that says hello.
pub fn bot() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| {
            s.send("Hi! You're subscribed to the daily stand-up.");
            s.end_dialog();
        })
        .dialog("standup", standup_dialog())
}

/// Begins the stand-up for every member (interrupting whatever they are doing).
pub async fn start(bot: &Bot, members: Vec<Address>) -> Vec<FanOutResult> {
    let standup = FanOutAction::dialog("standup");
    bot.fan_out(members, standup).concurrency(8).await
}

/// One member's line in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportEntry {
    /// The member's user id.
    pub user: String,
    /// Their answers (empty if they have not answered yet).
    pub answers: Answers,
}

/// Collects every member's answers.
pub async fn report(bot: &Bot, members: &[Address]) -> Result<Vec<ReportEntry>, BotError> {
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let member: Member = bot.proactive(m).load_session().await?.user_data().get()?;
        let (user, answers) = (m.user.id.clone(), member.standup.unwrap_or_default());
        out.push(ReportEntry { user, answers });
    }
    Ok(out)
}
