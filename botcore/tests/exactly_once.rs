//! Exactly-once turns through the mock channel: a redelivered activity (same id) does not run
//! again, a committed reply waits in the outbox until the channel takes it, and a proactive
//! dialog the user never saw is taken back.

mod support;

use botcore::proactive::ProactiveOutcome;
use botcore::proactive::scheduler::LEASE_MS;
use botcore::{
    Bot, BotBuilder, BotError, Clock, DeliveryError, JobAction, Message, ProactiveMode,
    ProactiveRefusal, Storage, Waterfall, prompts,
};
use std::time::Duration;
use support::order_bot::{SURVEY, at_topping, order_bot};
use transport_mock::{Fault, TestBot, TestUser};

const NAME: &str = "What is your name?";

fn profile() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, NAME))
            .step(async |s, r| {
                let name = r.text()?;
                prompts::number(s, &format!("How old are you, {name}?"));
                Ok(())
            })
            .step(async |s, r| {
                let age = r.number()?;
                s.send(format!("Thanks, {age}"));
                s.end_dialog();
                Ok(())
            }),
    )
}

/// A message with a fixed activity id, as a channel sends (and resends) it.
fn activity(u: &TestUser, id: &str, text: &str) -> Message {
    let mut m = Message::to(&u.address).text(text);
    m.address.id = Some(id.into());
    m
}

/// The survey interrupts `u`'s conversation.
async fn survey_interrupts(t: &TestBot, u: &TestUser) -> Result<ProactiveOutcome, BotError> {
    t.bot
        .proactive(&u.address)
        .begin("*:survey")
        .interrupt()
        .await
}

async fn outbox_of(t: &TestBot, u: &TestUser) -> Option<serde_json::Value> {
    let key = format!("outbox/mock/{}", u.conversation_id());
    t.storage.read_many(&[&key]).await.unwrap()[0]
        .clone()
        .map(|s| s.value)
}

#[tokio::test]
async fn a_redelivered_activity_is_not_run_again() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[NAME]);
    let name = activity(&ann, "act-2", "Ann");
    ann.send(name.clone())
        .await
        .expect(&["How old are you, Ann?"]);
    let again = ann.send(name).await;
    again.expect(&[]);
    let outcome = again.outcome.unwrap();
    assert!(outcome.redelivery && !outcome.ran_turn);
    // The repeated name was not taken as the age: the prompt still waits for it.
    ann.say("30").await.expect(&["Thanks, 30"]);
}

#[tokio::test]
async fn the_same_activity_twice_at_once_runs_one_turn() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[NAME]);
    let name = activity(&ann, "act-2", "Ann");
    let (a, b) = tokio::join!(ann.send(name.clone()), ann.send(name));
    let (a, b) = (a.outcome.unwrap(), b.outcome.unwrap());
    assert_eq!(
        [a.redelivery, b.redelivery].iter().filter(|r| **r).count(),
        1
    );
    let asked: Vec<_> = t
        .channel
        .sent()
        .into_iter()
        .filter(|m| m.text == "How old are you, Ann?")
        .collect();
    assert_eq!(asked.len(), 1);
}

#[tokio::test]
async fn a_second_process_on_the_same_store_does_not_run_it_again() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[NAME]);
    ann.send(activity(&ann, "act-2", "Ann"))
        .await
        .expect(&["How old are you, Ann?"]);
    let other = t.sharing(profile());
    let ann_there = other.user("ann");
    let again = ann_there.send(activity(&ann, "act-2", "Ann")).await;
    again.expect(&[]);
    assert!(again.outcome.unwrap().redelivery);
}

#[tokio::test]
async fn a_reply_the_channel_cannot_take_waits_for_the_redelivery() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    t.channel.fail_next(Fault::Unreachable);
    let hi = activity(&ann, "act-1", "hi");
    let first = ann.send(hi.clone()).await;
    first.expect(&[]);
    let outcome = first.outcome.unwrap();
    assert_eq!(outcome.pending, 1);
    assert!(matches!(
        outcome.deliveries[..],
        [Err(DeliveryError::Unreachable(_))]
    ));
    assert!(outbox_of(&t, &ann).await.is_some());
    // The channel retries: the pending prompt goes out, the turn does not run again.
    let retry = ann.send(hi).await;
    retry.expect(&[NAME]);
    let outcome = retry.outcome.unwrap();
    assert!(outcome.redelivery);
    assert_eq!(outcome.pending, 0);
    assert!(outbox_of(&t, &ann).await.is_none());
    ann.say("Ann").await.expect(&["How old are you, Ann?"]);
}

#[tokio::test]
async fn pending_replies_go_out_ahead_of_the_next_turns_own() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    t.channel
        .fail_next(Fault::Throttled(Duration::from_millis(1)));
    assert_eq!(ann.say("hi").await.outcome.unwrap().pending, 1);
    let next = ann.say("Ann").await;
    next.expect(&[NAME, "How old are you, Ann?"]);
    // The outcome reports the turn's own message.
    assert_eq!(next.outcome.unwrap().deliveries.len(), 1);
}

#[tokio::test]
async fn a_reply_refused_for_good_is_dropped_not_kept() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    t.channel.fail_next(Fault::Forbidden);
    let outcome = ann.say("hi").await.outcome.unwrap();
    assert_eq!(outcome.pending, 0);
    assert!(outcome.deliveries[0].as_ref().unwrap_err().is_permanent());
    assert!(outbox_of(&t, &ann).await.is_none());
}

#[tokio::test]
async fn a_turn_cut_off_mid_delivery_is_delivered_by_the_sweep_after_its_lease() {
    let t = TestBot::new(profile());
    let ann = t.user("ann");
    t.channel.fail_next(Fault::Hang);
    let cut = tokio::time::timeout(Duration::from_millis(200), ann.say("hi")).await;
    assert!(cut.is_err(), "the delivery hangs");
    assert!(t.channel.sent().is_empty());
    // Another process: the first one's lease still runs.
    let other = t.sharing(profile());
    assert_eq!(other.bot.sweep_outbox().await.unwrap().delivered, 0);
    t.clock.advance(Duration::from_secs(11));
    let swept = other.bot.sweep_outbox().await.unwrap();
    assert_eq!((swept.conversations, swept.delivered), (1, 1));
    assert_eq!(ann.new_texts(), [NAME]);
    assert_eq!(other.bot.sweep_outbox().await.unwrap().delivered, 0);
    // The turn was saved once: the answer goes to the second step.
    other
        .user("ann")
        .say("Ann")
        .await
        .expect(&["How old are you, Ann?"]);
}

#[tokio::test]
async fn with_dedupe_off_a_repeated_id_runs_again() {
    let t = TestBot::new(profile().dedupe_window(0));
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[NAME]);
    let name = activity(&ann, "act-2", "Ann");
    ann.send(name.clone())
        .await
        .expect(&["How old are you, Ann?"]);
    ann.send(name)
        .await
        .expect(&["I didn't recognize that as a number. Please enter a number."]);
}

#[tokio::test]
async fn a_proactive_interrupt_to_a_user_who_blocked_the_bot_leaves_the_stack_as_it_was() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let before = ann.state().await;
    t.channel.fail_next(Fault::Forbidden);
    let refused = survey_interrupts(&t, &ann).await;
    match refused {
        Err(BotError::Delivery(e)) => assert!(e.is_permanent() && e.refusal().is_some()),
        other => panic!("expected the delivery error, got {other:?}"),
    }
    let after = ann.state().await;
    assert_eq!(after.stack, before.stack);
    ann.say("cheese")
        .await
        .expect(&["Order: large with cheese"]);
}

#[tokio::test]
async fn with_the_keep_policy_a_refused_interrupt_stays_on_the_stack() {
    let t = TestBot::new(order_bot().proactive_refusal(ProactiveRefusal::Keep));
    let ann = at_topping(&t, "ann").await;
    t.channel.fail_next(Fault::Forbidden);
    let kept = survey_interrupts(&t, &ann).await.unwrap();
    assert!(kept.deliveries[0].as_ref().unwrap_err().is_permanent());
    assert_eq!(ann.state().await.stack_ids().last(), Some(&"*:survey"));
    ann.say("meh").await.expect(&[SURVEY]);
}

#[tokio::test]
async fn a_scheduled_dialog_cut_off_mid_delivery_is_not_begun_again() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let at = t.clock.now_ms() + 1_000;
    let job = JobAction::dialog("*:survey", ProactiveMode::Interrupt);
    t.bot.scheduler().at(at, &ann.address, job).await.unwrap();
    t.clock.advance(Duration::from_secs(2));
    t.channel.fail_next(Fault::Hang);
    let cut = tokio::time::timeout(Duration::from_millis(200), t.bot.scheduler().tick()).await;
    assert!(cut.is_err(), "the delivery hangs");
    // Another process, once the job's lease and the outbox's have run out.
    let other = t.sharing(order_bot());
    t.clock
        .advance(Duration::from_millis(LEASE_MS) + Duration::from_secs(11));
    assert!(other.bot.scheduler().tick().await.unwrap().is_empty());
    assert_eq!(other.bot.sweep_outbox().await.unwrap().delivered, 1);
    assert_eq!(ann.new_texts(), [SURVEY]);
    let stack = ann.state().await;
    let surveys = stack
        .stack_ids()
        .iter()
        .filter(|id| **id == "*:survey")
        .count();
    assert_eq!(surveys, 1, "begun once");
}

#[tokio::test]
async fn a_refused_earlier_reply_ahead_of_an_interrupt_does_not_take_the_interrupt_back() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    t.channel.fail_next(Fault::Unreachable);
    assert_eq!(ann.say("what?").await.outcome.unwrap().pending, 1);
    // The earlier reply, carried ahead of the survey, is refused for good; the survey is not.
    t.channel.fail_next(Fault::Forbidden);
    let out = survey_interrupts(&t, &ann).await.unwrap();
    assert!(out.deliveries[0].is_ok());
    assert_eq!(ann.state().await.stack_ids().last(), Some(&"*:survey"));
    assert_eq!(ann.new_texts(), [SURVEY]);
}
