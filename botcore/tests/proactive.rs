//! Dialog-based proactive messages: Interrupt, Replace, WhenIdle, through the mock channel.

use botcore::{
    Bot, BotBuilder, BotError, DeadlineAction, DialogResult, Localizer, ProactiveMode, Prompt,
    Waterfall, json, prompts,
};
use std::time::Duration;
use transport_mock::{TestBot, TestUser};

const SURVEY: &str = "Hello, I'm the survey dialog. I'm interrupting your conversation to ask you a question. Type \"done\" to resume";
const BACK: &str = "Great, back to the original conversation";
const NUMBER_RETRY: &str = "I didn't recognize that as a number. Please enter a number.";

fn survey() -> Waterfall {
    Waterfall::new().step(|s, _| {
        if s.message().text == "done" {
            s.send(BACK);
            s.end_dialog_with_result(DialogResult::completed(json!("survey-done")));
        } else {
            s.send(SURVEY);
        }
        Ok(())
    })
}

fn order_bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| match s.message().text.as_str() {
                    "count" => s.replace_dialog("count", None),
                    "quiet" => s.replace_dialog("quiet", None),
                    "wait" => s.replace_dialog("waiter", None),
                    _ => prompts::text(s, "Which size?"),
                })
                .step(|s, r| {
                    s.dialog_data_mut().insert("size".into(), json!(r.as_str()));
                    prompts::text(s, "Which topping?")
                })
                .step(|s, r| {
                    let size = s.dialog_data()["size"].as_str().unwrap_or("").to_owned();
                    s.send(format!("Order: {size} with {}", r.as_str().unwrap_or("")));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog(
            "count",
            Waterfall::new()
                .step(|s, _| prompts::number(s, "How many?"))
                .step(|s, r| {
                    s.send(format!("count {}", r.value.clone().unwrap_or_default()));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog(
            "quiet",
            Waterfall::new().step(|s, _| {
                Prompt::text("Quiet question?")
                    .no_reprompt_after_interrupt()
                    .begin(s)
            }),
        )
        .dialog(
            "waiter",
            Waterfall::new()
                .step(|s, _| {
                    s.send("waiting for anything");
                    Ok(())
                })
                .step(|s, r| {
                    s.send(format!(
                        "waiter resumed with {}",
                        r.value.clone().unwrap_or_default()
                    ));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog("survey", survey())
}

async fn at_topping(t: &TestBot, id: &str) -> TestUser {
    let u = t.user(id);
    u.say("hi").await.expect(&["Which size?"]);
    u.say("large").await.expect(&["Which topping?"]);
    u
}

async fn interrupt(t: &TestBot, u: &TestUser) -> Vec<String> {
    let before = t.channel.sent_len();
    let out = t
        .bot
        .begin_dialog(&u.address, "*:survey", None, ProactiveMode::Interrupt)
        .await
        .unwrap();
    assert!(out.deliveries.iter().all(Result::is_ok));
    u.new_messages();
    t.channel
        .sent_since(before)
        .into_iter()
        .map(|m| m.text)
        .collect()
}

#[tokio::test]
async fn interrupt_resumes_the_unanswered_prompt_with_dialog_data_intact() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    assert_eq!(interrupt(&t, &ann).await, [SURVEY]);
    let st = ann.state().await;
    assert_eq!(
        st.stack_ids(),
        ["*:/", "BotBuilder:prompt-text", "*:survey"]
    );
    assert_eq!(
        st.stack[0].state["size"],
        json!("large"),
        "the interrupted frame keeps its data"
    );
    ann.say("meh").await.expect(&[SURVEY]);
    ann.say("done").await.expect(&[BACK, "Which topping?"]);
    ann.say("cheese")
        .await
        .expect(&["Order: large with cheese"]);
    assert!(ann.state().await.stack.is_empty());
}

#[tokio::test]
async fn interrupt_after_a_bad_answer_resends_the_retry_text() {
    let t = TestBot::new(order_bot());
    let bo = t.user("bo");
    bo.say("count").await.expect(&["How many?"]);
    bo.say("lots").await.expect(&[NUMBER_RETRY]);
    assert_eq!(interrupt(&t, &bo).await, [SURVEY]);
    bo.say("done").await.expect(&[BACK, NUMBER_RETRY]);
    bo.say("4").await.expect(&["count 4"]);
}

#[tokio::test]
async fn a_prompt_made_without_reprompt_stays_silent_after_an_interruption() {
    let t = TestBot::new(order_bot());
    let cy = t.user("cy");
    cy.say("quiet").await.expect(&["Quiet question?"]);
    interrupt(&t, &cy).await;
    cy.say("done").await.expect(&[BACK]);
}

#[tokio::test]
async fn a_waterfall_not_waiting_on_a_prompt_advances_with_the_childs_result() {
    let t = TestBot::new(order_bot());
    let di = t.user("di");
    di.say("wait").await.expect(&["waiting for anything"]);
    interrupt(&t, &di).await;
    di.say("done")
        .await
        .expect(&[BACK, "waiter resumed with \"survey-done\""]);
}

#[tokio::test]
async fn nested_interrupts_unwind_last_in_first_out() {
    let bot = order_bot().dialog(
        "quick",
        Waterfall::new()
            .step(|s, _| prompts::confirm(s, "Quick question: coffee?"))
            .step(|s, r| {
                s.send(format!("coffee={}", r.as_bool().unwrap_or(false)));
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = at_topping(&t, "ann").await;
    t.bot
        .begin_dialog(&ann.address, "*:quick", None, ProactiveMode::Interrupt)
        .await
        .unwrap();
    assert_eq!(ann.new_texts(), ["Quick question: coffee?"]);
    assert_eq!(interrupt(&t, &ann).await, [SURVEY]);
    assert_eq!(
        ann.state().await.stack_ids(),
        [
            "*:/",
            "BotBuilder:prompt-text",
            "*:quick",
            "BotBuilder:prompt-confirm",
            "*:survey"
        ]
    );
    // The newest interruption ends first and hands back to the one below it.
    ann.say("done")
        .await
        .expect(&[BACK, "Quick question: coffee?"]);
    ann.say("yes")
        .await
        .expect(&["coffee=true", "Which topping?"]);
    ann.say("ham").await.expect(&["Order: large with ham"]);
}

#[tokio::test]
async fn interrupt_works_on_an_empty_stack_and_on_an_address_without_conversation() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    // A user with no stored dialog state.
    let eve = t.user("eve");
    eve.say("hi").await;
    eve.say("x").await;
    eve.say("y").await.expect(&["Order: x with y"]);
    assert_eq!(interrupt(&t, &eve).await, [SURVEY]);
    eve.say("done").await.expect(&[BACK]);
    assert!(eve.state().await.stack.is_empty());
    // No conversation on the address: one is started; the old conversation is untouched.
    let before = ann.state().await;
    let mut fresh = ann.address.clone();
    fresh.conversation = None;
    let out = t
        .bot
        .begin_dialog(&fresh, "*:survey", None, ProactiveMode::Interrupt)
        .await
        .unwrap();
    assert!(out.started_conversation);
    let conv = out.address.conversation_id().unwrap().to_owned();
    assert_ne!(conv, ann.conversation_id());
    assert_eq!(t.channel.sent_to(&conv).len(), 1);
    assert_eq!(ann.state().await.stack, before.stack);
}

#[tokio::test]
async fn replace_clears_the_stack_but_keeps_user_data() {
    let bot = order_bot().dialog(
        "remember",
        Waterfall::new().step(|s, _| {
            s.user_data_mut().insert("fav".into(), json!("tea"));
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ann = at_topping(&t, "ann").await;
    t.bot
        .begin_dialog(&ann.address, "*:remember", None, ProactiveMode::Interrupt)
        .await
        .unwrap();
    ann.new_messages();
    t.bot
        .begin_dialog(&ann.address, "*:survey", None, ProactiveMode::Replace)
        .await
        .unwrap();
    assert_eq!(ann.new_texts(), [SURVEY]);
    assert_eq!(ann.state().await.stack_ids(), ["*:survey"]);
    ann.say("done").await.expect(&[BACK]);
    ann.say("hello").await.expect(&["Which size?"]);
    assert_eq!(ann.state().await.user_data["fav"], json!("tea"));
}

fn when_idle(deadline: Option<u64>, on_deadline: DeadlineAction) -> ProactiveMode {
    ProactiveMode::WhenIdle {
        idle_after: None,
        deadline: deadline.map(Duration::from_secs),
        on_deadline,
    }
}

#[tokio::test]
async fn when_idle_holds_the_survey_until_the_order_completes() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let out = t
        .bot
        .begin_dialog(
            &ann.address,
            "*:survey",
            None,
            when_idle(Some(600), DeadlineAction::Interrupt),
        )
        .await
        .unwrap();
    assert!(out.held && out.deliveries.is_empty());
    assert!(ann.new_messages().is_empty());
    // A restart: a second process over the same storage finishes the order and delivers.
    let restarted = t.sharing(order_bot());
    restarted
        .user("ann")
        .say("cheese")
        .await
        .expect(&["Order: large with cheese", SURVEY]);
    restarted.user("ann").say("done").await.expect(&[BACK]);
    ann.new_messages();
    // The deadline check finds nothing left to do.
    t.advance(Duration::from_secs(601)).await;
    assert!(ann.new_messages().is_empty());
}

#[tokio::test]
async fn when_idle_interrupts_or_drops_at_the_deadline() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let bo = at_topping(&t, "bo").await;
    t.bot
        .begin_dialog(
            &ann.address,
            "*:survey",
            None,
            when_idle(Some(60), DeadlineAction::Interrupt),
        )
        .await
        .unwrap();
    t.bot
        .begin_dialog(
            &bo.address,
            "*:survey",
            None,
            when_idle(Some(60), DeadlineAction::Drop),
        )
        .await
        .unwrap();
    assert_eq!(
        t.advance(Duration::from_secs(30)).await,
        0,
        "nothing due yet"
    );
    assert!(ann.new_messages().is_empty());
    assert_eq!(t.advance(Duration::from_secs(31)).await, 2);
    assert_eq!(ann.new_texts(), [SURVEY]);
    assert!(bo.new_messages().is_empty(), "dropped at the deadline");
    ann.say("done").await.expect(&[BACK, "Which topping?"]);
    bo.say("ham").await.expect(&["Order: large with ham"]);
}

#[tokio::test]
async fn when_idle_starts_once_the_user_has_been_idle_long_enough() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let mode = ProactiveMode::WhenIdle {
        idle_after: Some(Duration::from_secs(120)),
        deadline: None,
        on_deadline: DeadlineAction::Drop,
    };
    t.bot
        .begin_dialog(&ann.address, "*:survey", None, mode)
        .await
        .unwrap();
    t.advance(Duration::from_secs(60)).await;
    assert!(ann.new_messages().is_empty());
    t.advance(Duration::from_secs(61)).await;
    assert_eq!(ann.new_texts(), [SURVEY]);
}

#[tokio::test]
async fn a_proactive_interrupt_racing_a_user_reply_keeps_both() {
    let t1 = TestBot::new(order_bot());
    let ann = at_topping(&t1, "ann").await;
    let t2 = t1.sharing(order_bot());
    t1.storage.set_read_delay(Duration::from_millis(40));
    let before = t1.channel.sent_len();
    let reply = t2.user("ann");
    let (p, r) = tokio::join!(
        t1.bot
            .begin_dialog(&ann.address, "*:survey", None, ProactiveMode::Interrupt),
        reply.say("cheese")
    );
    p.unwrap();
    let r = r.outcome.unwrap();
    let sent: Vec<String> = t1
        .channel
        .sent_since(before)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let st = ann.state().await;
    assert_eq!(
        st.stack.last().map(|f| f.id.as_str()),
        Some("*:survey"),
        "the interrupt is kept"
    );
    if sent.contains(&"Order: large with cheese".to_owned()) {
        // The reply committed first: the order completed, then the survey was pushed.
        assert_eq!(st.stack_ids(), ["*:survey"]);
        assert_eq!(sent.iter().filter(|s| *s == SURVEY).count(), 1);
    } else {
        // The interrupt committed first: the reply went to the survey.
        assert_eq!(
            st.stack_ids(),
            ["*:/", "BotBuilder:prompt-text", "*:survey"]
        );
        assert_eq!(sent, [SURVEY, SURVEY]);
    }
    assert!(r.attempts >= 1);
    assert_eq!(
        sent.len(),
        2,
        "one message per committed turn, none from a lost attempt: {sent:?}"
    );
}

#[tokio::test]
async fn unknown_proactive_dialogs_are_refused_with_nothing_changed() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let before = ann.state().await;
    let writes = t.storage.writes();
    let err = t
        .bot
        .begin_dialog(&ann.address, "*:nope", None, ProactiveMode::Interrupt)
        .await
        .unwrap_err();
    assert!(matches!(err, BotError::DialogNotFound(_)));
    assert_eq!(t.storage.writes(), writes, "nothing written");
    assert!(ann.new_messages().is_empty(), "nothing sent");
    assert_eq!(ann.state().await, before);
}

#[tokio::test]
async fn proactive_dialogs_speak_the_users_preferred_locale() {
    let l = Localizer::new("en").add("es", [("How many?", "¿Cuántos?")]);
    let bot = order_bot().localizer(l).dialog(
        "spanish",
        Waterfall::new().step(|s, _| {
            s.set_preferred_locale("es");
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ana = t.user("ana");
    ana.say("hi").await;
    t.bot
        .begin_dialog(&ana.address, "*:spanish", None, ProactiveMode::Replace)
        .await
        .unwrap();
    t.bot
        .begin_dialog(&ana.address, "*:count", None, ProactiveMode::Replace)
        .await
        .unwrap();
    assert_eq!(ana.new_texts(), ["¿Cuántos?"]);
    ana.say("muchos").await.expect(&[NUMBER_RETRY]); // no Spanish system string configured: English default
}
