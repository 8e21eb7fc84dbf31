//! Dialog-based proactive messages: Interrupt and Replace, through the mock channel;
//! proactive dialogs begun from inside a dialog step.

mod support;

use botcore::{Bot, BotBuilder, BotError, Localizer, StepError, Waterfall, prompts};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use support::order_bot::{BACK, SURVEY, at_topping, interrupt, order_bot, survey};
use transport_mock::TestBot;

const NUMBER_RETRY: &str = "I didn't recognize that as a number. Please enter a number.";

/// User data a proactive dialog leaves behind.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Favourites {
    fav: String,
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
        st.stack[0].state["size"], "large",
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
            .step(async |s, _| prompts::confirm(s, "Quick question: coffee?"))
            .step(async |s, r| {
                s.send(format!("coffee={}", r.confirm()?));
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = at_topping(&t, "ann").await;
    t.bot
        .proactive(&ann.address)
        .begin("*:quick")
        .interrupt()
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
        .proactive(&fresh)
        .begin("*:survey")
        .interrupt()
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
        Waterfall::new().step(async |s, _| {
            let fav = "tea".to_owned();
            s.user_data_mut().set(&Favourites { fav })?;
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ann = at_topping(&t, "ann").await;
    t.bot
        .proactive(&ann.address)
        .begin("*:remember")
        .interrupt()
        .await
        .unwrap();
    ann.new_messages();
    t.bot
        .proactive(&ann.address)
        .begin("*:survey")
        .replace()
        .await
        .unwrap();
    assert_eq!(ann.new_texts(), [SURVEY]);
    assert_eq!(ann.state().await.stack_ids(), ["*:survey"]);
    ann.say("done").await.expect(&[BACK]);
    ann.say("hello").await.expect(&["Which size?"]);
    assert_eq!(ann.state().await.user::<Favourites>().fav, "tea");
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
        t1.bot.proactive(&ann.address).begin("*:survey").interrupt(),
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
        .proactive(&ann.address)
        .begin("*:nope")
        .interrupt()
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
        Waterfall::new().step(async |s, _| {
            s.set_preferred_locale("es");
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ana = t.user("ana");
    ana.say("hi").await;
    t.bot
        .proactive(&ana.address)
        .begin("*:spanish")
        .replace()
        .await
        .unwrap();
    t.bot
        .proactive(&ana.address)
        .begin("*:count")
        .replace()
        .await
        .unwrap();
    assert_eq!(ana.new_texts(), ["¿Cuántos?"]);
    // The app has no Spanish retry text: botcore's Spanish system string.
    ana.say("muchos").await.expect(&[
        "No se pudo reconocer el texto como número. Vuelva a intentar sólo con números.",
    ]);
}

/// A bot whose root dialog begins proactive dialogs from inside its step, awaiting them.
fn bot_that_interrupts_from_a_step() -> (BotBuilder, support::BotCell) {
    let root = Waterfall::new().step(async |s, _| {
        let bot = support::bot_of(s)?;
        match s.text() {
            "interrupt myself" => {
                let me = s.address().clone();
                match bot.proactive(&me).begin("survey").interrupt().await {
                    Err(BotError::Reentrant(_)) => s.send("refused: reentrant"),
                    Err(e) => s.send(format!("failed: {e}")),
                    Ok(_) => s.send("began the survey for myself"),
                }
            }
            "interrupt bo" => {
                let everyone = bot.address_book().all().await?;
                let Some(bo) = everyone.into_iter().find(|a| a.user.id == "bo") else {
                    return Err(StepError::msg("bo never wrote"));
                };
                bot.proactive(&bo).begin("survey").interrupt().await?;
                s.send("bo is answering the survey");
            }
            _ => s.send("hello"),
        }
        s.end_dialog();
        Ok(())
    });
    support::reachable_from_steps(Bot::builder().dialog("/", root).dialog("survey", survey()))
}

/// A turn that would hang would wait for itself forever: give up after a few seconds.
const NO_HANG: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_step_awaiting_a_proactive_dialog_for_its_own_conversation_gets_reentrant_not_a_hang() {
    let (builder, cell) = bot_that_interrupts_from_a_step();
    let t = TestBot::new(builder);
    cell.set(t.bot.clone()).unwrap();
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["hello"]);
    let replies = tokio::time::timeout(NO_HANG, ann.say("interrupt myself"))
        .await
        .expect("the turn hung waiting for itself");
    replies.expect(&["refused: reentrant"]);
    assert!(replies.outcome.is_ok(), "{:?}", replies.error());
    assert!(
        ann.state().await.stack.is_empty(),
        "no survey was pushed on the user's own stack"
    );
}

#[tokio::test]
async fn a_step_awaiting_a_proactive_dialog_for_another_conversation_runs_it() {
    let (builder, cell) = bot_that_interrupts_from_a_step();
    let t = TestBot::new(builder);
    cell.set(t.bot.clone()).unwrap();
    let (ann, bo) = (t.user("ann"), t.user("bo"));
    ann.say("hi").await.expect(&["hello"]);
    bo.say("hi").await.expect(&["hello"]);
    let replies = tokio::time::timeout(NO_HANG, ann.say("interrupt bo"))
        .await
        .expect("the turn hung");
    replies.expect(&["bo is answering the survey"]);
    assert!(replies.outcome.is_ok(), "{:?}", replies.error());
    assert_eq!(bo.new_texts(), [SURVEY]);
    assert_eq!(bo.state().await.stack_ids(), ["*:survey"]);
    assert!(ann.state().await.stack.is_empty());
    bo.say("done").await.expect(&[BACK]);
}
