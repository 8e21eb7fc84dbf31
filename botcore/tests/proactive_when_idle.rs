//! Proactive dialogs begun WhenIdle, through the mock channel: held until the stack is empty,
//! interrupting or dropped at the deadline, or started once the user has been idle.

mod support;

use botcore::WhenIdle;
use std::time::Duration;
use support::order_bot::{BACK, SURVEY, at_topping, order_bot};
use transport_mock::TestBot;

#[tokio::test]
async fn when_idle_holds_the_survey_until_the_order_completes() {
    let t = TestBot::new(order_bot());
    let ann = at_topping(&t, "ann").await;
    let out = t
        .bot
        .proactive(&ann.address)
        .begin("*:survey")
        .when_idle(WhenIdle::deadline(Duration::from_secs(600)))
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
    let minute = WhenIdle::deadline(Duration::from_secs(60));
    t.bot
        .proactive(&ann.address)
        .begin("*:survey")
        .when_idle(minute)
        .await
        .unwrap();
    t.bot
        .proactive(&bo.address)
        .begin("*:survey")
        .when_idle(minute.drop_at_deadline())
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
    t.bot
        .proactive(&ann.address)
        .begin("*:survey")
        .when_idle(WhenIdle::stack_empty().or_idle_for(Duration::from_secs(120)))
        .await
        .unwrap();
    t.advance(Duration::from_secs(60)).await;
    assert!(ann.new_messages().is_empty());
    t.advance(Duration::from_secs(61)).await;
    assert_eq!(ann.new_texts(), [SURVEY]);
}
