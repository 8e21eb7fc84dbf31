//! `BotBuilder::show_typing`: typing activities while a user's turn runs long, none for a
//! fast turn or with the option off; `Session::send_typing` as before.

use botcore::{Bot, BotBuilder, MessageKind};
use std::time::Duration;
use transport_mock::{Fault, Replies, TestBot};

/// A bot whose root dialog takes as many milliseconds as the user's text says, then answers.
fn slow_bot() -> BotBuilder {
    Bot::builder().dialog_fn("/", async |s, _| {
        let ms: u64 = s.text().parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        s.send(format!("done after {ms} ms"));
    })
}

/// The kinds of what the bot sent in a turn, typing as `typing` and messages by their text.
fn sent(r: &Replies) -> Vec<String> {
    r.messages
        .iter()
        .map(|m| match m.kind {
            MessageKind::Typing => "typing".to_owned(),
            _ => m.text.clone(),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_slow_turn_shows_typing_once_before_its_replies() {
    let t = TestBot::new(slow_bot().show_typing(Duration::from_secs(1)));
    let r = t.user("ann").say("1500").await;
    assert!(r.outcome.is_ok());
    assert_eq!(sent(&r), ["typing", "done after 1500 ms"]);
}

#[tokio::test(start_paused = true)]
async fn a_fast_turn_shows_no_typing() {
    let t = TestBot::new(slow_bot().show_typing(Duration::from_secs(1)));
    let r = t.user("ann").say("900").await;
    assert_eq!(sent(&r), ["done after 900 ms"]);
    let r = t.user("ann").say("0").await;
    assert_eq!(sent(&r), ["done after 0 ms"]);
}

#[tokio::test(start_paused = true)]
async fn without_the_option_a_slow_turn_shows_no_typing() {
    let t = TestBot::new(slow_bot());
    let r = t.user("ann").say("5000").await;
    assert_eq!(sent(&r), ["done after 5000 ms"]);
}

#[tokio::test(start_paused = true)]
async fn a_long_turn_repeats_typing_until_its_replies_go_out() {
    // After 1 s, then every 2 s (the shortest period): at 1, 3 and 5 s.
    let t = TestBot::new(slow_bot().show_typing(Duration::from_secs(1)));
    let r = t.user("ann").say("5500").await;
    assert_eq!(
        sent(&r),
        ["typing", "typing", "typing", "done after 5500 ms"]
    );
    // A threshold above the shortest period is the period too: at 3 and 6 s.
    let t = TestBot::new(slow_bot().show_typing(Duration::from_secs(3)));
    let r = t.user("ann").say("7000").await;
    assert_eq!(sent(&r), ["typing", "typing", "done after 7000 ms"]);
}

#[tokio::test(start_paused = true)]
async fn a_typing_activity_that_fails_is_ignored() {
    let t = TestBot::new(slow_bot().show_typing(Duration::from_millis(500)));
    t.channel.fail_next(Fault::ServerError);
    let r = t.user("ann").say("1000").await;
    let outcome = r.outcome.as_ref().expect("the turn succeeds");
    assert_eq!(sent(&r), ["done after 1000 ms"]);
    assert_eq!(outcome.deliveries.len(), 1);
    assert!(outcome.deliveries[0].is_ok());
    assert_eq!(t.channel.failed()[0].0.kind, MessageKind::Typing);
}

#[tokio::test(start_paused = true)]
async fn send_typing_still_queues_a_typing_activity() {
    let t = TestBot::new(Bot::builder().dialog_fn("/", async |s, _| {
        s.send_typing();
        s.send("hi");
    }));
    let r = t.user("ann").say("hello").await;
    assert_eq!(sent(&r), ["typing", "hi"]);
}
