//! The stand-up: a two-question waterfall begun for every subscribed member at once, the
//! answers collected into a report.

use botcore::proactive::fanout::{FanOutAction, FanOutResult};
use botcore::{Address, Bot, BotBuilder, BotError, ProactiveMode, Waterfall, json, prompts};

/// The first question.
pub const YESTERDAY: &str = "What did you do yesterday?";
/// The second question.
pub const TODAY: &str = "What will you do today?";
/// Where a member's answers are kept (user data).
pub const ANSWERS: &str = "standup";

/// The stand-up dialog (`*:standup`).
pub fn standup_dialog() -> Waterfall {
    Waterfall::new()
        .step(|s, _| prompts::text(s, YESTERDAY))
        .step(|s, r| {
            s.dialog_data_mut().insert("yesterday".into(), r.value.clone().unwrap_or_default());
            prompts::text(s, TODAY)
        })
        .step(|s, r| {
            let entry = json!({ "yesterday": s.dialog_data()["yesterday"], "today": r.value.clone().unwrap_or_default() });
            s.user_data_mut().insert(ANSWERS.into(), entry);
            s.send("Thanks, that's all for today.");
            s.end_dialog();
            Ok(())
        })
}

/// A bot with the stand-up registered, and a root dialog that says hello.
pub fn bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step(|s, _| {
                s.send("Hi! You're subscribed to the daily stand-up.");
                s.end_dialog();
                Ok(())
            }),
        )
        .dialog("standup", standup_dialog())
}

/// Begins the stand-up for every member (interrupting whatever they are doing).
pub async fn start(bot: &Bot, members: Vec<Address>) -> Vec<FanOutResult> {
    let action = FanOutAction::Dialog {
        id: "*:standup".into(),
        args: None,
        mode: ProactiveMode::Interrupt,
    };
    bot.fan_out(members, action, 8).await
}

/// One member's line in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportEntry {
    /// The member's user id.
    pub user: String,
    /// What they did yesterday (`None` if they have not answered yet).
    pub yesterday: Option<String>,
    /// What they will do today.
    pub today: Option<String>,
}

/// Collects every member's answers.
pub async fn report(bot: &Bot, members: &[Address]) -> Result<Vec<ReportEntry>, BotError> {
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let session = bot.load_session(m).await?;
        let a = session.user_data().get(ANSWERS);
        let field = |k: &str| {
            a.and_then(|a| a.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        out.push(ReportEntry {
            user: m.user.id.clone(),
            yesterday: field("yesterday"),
            today: field("today"),
        });
    }
    Ok(out)
}
