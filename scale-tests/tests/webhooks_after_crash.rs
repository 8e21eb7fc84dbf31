//! The webhooks' answers stay true after a crash: `scale-bot --webhooks` serves
//! `POST /api/standup` and `POST /api/notify` (`examples::webhooks`) on a Redis the test
//! starts. Users write first (so they are in the address book); then a webhook is called
//! while the channel refuses some of them for good (`403 ConversationBlockedByUser`) or cannot
//! be reached for some (their service URL is a second fake channel that went offline). The
//! process is SIGKILLed as soon as the answer arrives and started again; the store and the
//! fake channels then show that every per-recipient result holds:
//!
//! - standup `ok: true` → the stand-up is on the member's stack once and its first question
//!   reached them exactly once (`"pending": true`: once the channel is back, from the
//!   restarted process's outbox sweeper);
//! - standup `ok: false` → no stand-up on the stack (the member's records are as they were)
//!   and no question reached them;
//! - notify `ok: true` → the notification reached them exactly once; `ok: false` → never;
//! - after the restart nothing else arrives (quiet for many sweeper periods), and no outbox
//!   is left;
//! - also when the member's outbox still held an earlier reply, refused for good once the
//!   channel is back, ahead of the stand-up's question.

mod support;

use examples::standup::YESTERDAY;
use serde_json::json;
use std::collections::BTreeMap;
use support::wait_until;
use support::webhooks::{NOTIFICATION, STANDUP, TIMEOUT, World, is_blocked};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standup_results_hold_after_a_kill_when_the_channel_refuses_some_members_for_good() {
    let mut w = World::start(&["ann", "bob", "cat", "dan", "eve", "fay"], &[]).await;
    let blocked = ["bob", "eve"];
    for user in blocked {
        w.near.refuse_user(user, 403, "ConversationBlockedByUser");
    }
    let mut before = BTreeMap::new();
    for user in w.users.keys() {
        before.insert(user.clone(), w.records(user).await);
    }

    let members = w.members();
    let results = w.call_then_kill("/api/standup", members).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let refused = blocked.contains(&user.as_str());
        assert_eq!(r.ok, !refused, "{user}: {r:?}");
        assert!(!r.pending, "{user}: {r:?}");
        if refused {
            assert!(is_blocked(r.error.as_deref()), "{user}: {r:?}");
        }
    }

    w.bot.restart();
    w.wait_quiet().await;
    assert_eq!(w.arrivals(), at_kill, "something arrived after the restart");
    for (user, r) in &results {
        let on_stack = w.on_stack(user, STANDUP).await;
        let asked = w.accepted(user, YESTERDAY);
        if r.ok {
            assert_eq!(
                on_stack, 1,
                "{user} answered ok: the stand-up is on the stack"
            );
            assert_eq!(asked, 1, "{user} answered ok: asked exactly once");
        } else {
            assert_eq!(
                on_stack, 0,
                "{user} answered ok:false: no stand-up on the stack"
            );
            assert_eq!(asked, 0, "{user} answered ok:false: never asked");
            let after = w.records(user).await;
            assert_eq!(
                after, before[user],
                "{user}: records changed by a refused stand-up"
            );
        }
    }
    w.assert_no_outbox().await;
    assert!(w.bot.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standup_results_hold_after_a_kill_when_the_channel_is_unreachable_for_some_members() {
    let mut w = World::start(&["ann", "bob", "cat"], &["dan", "eve", "fay"]).await;
    w.far.go_offline().await;

    let members = w.members();
    let results = w.call_then_kill("/api/standup", members).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let far = w.users[user].1;
        assert!(r.ok, "{user}: {r:?}");
        assert_eq!(
            r.pending, far,
            "{user}: pending only where unreachable: {r:?}"
        );
        assert_eq!(r.error, None, "{user}: {r:?}");
    }
    // Already true with the process dead: every stand-up is saved with its message.
    for user in results.keys() {
        assert_eq!(w.on_stack(user, STANDUP).await, 1, "{user}");
    }

    w.bot.restart();
    w.far.recover().await;
    let far_users: Vec<&String> = w.users.iter().filter(|u| u.1.1).map(|u| u.0).collect();
    wait_until(TIMEOUT, "the pending questions reach the far users", || {
        let done = far_users.iter().all(|u| w.accepted(u, YESTERDAY) >= 1);
        async move { done.then_some(()) }
    })
    .await;
    w.wait_quiet().await;
    assert_eq!(
        w.near.len(),
        at_kill.0,
        "the near channel got more after the restart"
    );
    for user in results.keys() {
        assert_eq!(w.accepted(user, YESTERDAY), 1, "{user}: asked exactly once");
        assert_eq!(
            w.on_stack(user, STANDUP).await,
            1,
            "{user}: the stand-up once"
        );
    }
    // The far channel got nothing but the pending questions after the restart.
    let late: Vec<String> = w.far.arrivals()[at_kill.1..]
        .iter()
        .map(|a| format!("{} {} {}", a.user, a.status, a.text))
        .collect();
    assert!(
        late.iter().all(|a| a.ends_with(YESTERDAY)),
        "more than the pending questions: {late:?}"
    );
    w.assert_no_outbox().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_results_hold_after_a_kill() {
    let mut w = World::start(&["ann", "bob", "cat", "dan"], &["eve", "fay"]).await;
    let blocked = "bob";
    w.near
        .refuse_user(blocked, 403, "ConversationBlockedByUser");
    w.far.go_offline().await;

    let body = json!({ "notification": NOTIFICATION });
    let results = w.call_then_kill("/api/notify", body).await;
    let at_kill = w.arrivals();
    for (user, r) in &results {
        let reachable = user != blocked && !w.users[user].1;
        assert_eq!(r.ok, reachable, "{user}: {r:?}");
        assert!(
            !r.pending,
            "{user}: ad hoc messages are never pending: {r:?}"
        );
        if user == blocked {
            assert!(is_blocked(r.error.as_deref()), "{user}: {r:?}");
        }
    }

    w.bot.restart();
    w.far.recover().await;
    w.wait_quiet().await;
    assert_eq!(w.arrivals(), at_kill, "something arrived after the restart");
    for (user, r) in &results {
        let got = w.accepted(user, NOTIFICATION);
        assert_eq!(got, usize::from(r.ok), "{user} answered ok={}", r.ok);
    }
    w.assert_no_outbox().await;
}

/// A member whose conversation still holds an undelivered reply (written while their service
/// URL was unreachable, with no sweeper to retry it) which the channel, back, refuses for
/// good (`400`), while it accepts the stand-up's question behind it: the answer must hold
/// all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standup_result_holds_when_an_earlier_reply_ahead_of_it_is_refused_for_good() {
    let mut w = World::start_sweeping(&["ann"], &["bob"], 0).await;
    w.far.go_offline().await;
    assert_eq!(w.write_once("bob", "again-bob", "again").await, 503);
    w.far.recover().await;
    // `scale-bot`'s reply to it, still in bob's outbox: `a again c=2 u=2`.
    w.far.refuse_text("a again", 400, "BadSyntax");

    let members = w.members();
    let results = w.call_then_kill("/api/standup", members).await;
    w.bot.restart();
    w.wait_quiet().await;
    for (user, r) in &results {
        let (on_stack, asked) = (w.on_stack(user, STANDUP).await, w.accepted(user, YESTERDAY));
        let expected = usize::from(r.ok);
        assert_eq!(
            on_stack, expected,
            "{user} answered {r:?}: stand-ups on the stack"
        );
        assert_eq!(asked, expected, "{user} answered {r:?}: questions accepted");
    }
    w.assert_no_outbox().await;
}
