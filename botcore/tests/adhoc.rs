//! Ad hoc proactive sends, the address book, the scheduler and fan-outs.

mod support;

use botcore::proactive::fanout::FanOutAction;
use botcore::proactive::scheduler::JobOutcome;
use botcore::{
    Bot, BotBuilder, BotError, Clock, DeliveryError, JobAction, Localizer, Message, Storage,
    Waterfall, prompts,
};
use std::time::Duration;
use transport_mock::{Fault, TestBot};

fn bot() -> BotBuilder {
    Bot::builder()
        .localizer(Localizer::new("en").add("es", [("notice", "aviso")]))
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "Which size?"))
                .step(async |s, _| {
                    s.send("done");
                    s.end_dialog();
                }),
        )
}

async fn raw(t: &TestBot, keys: &[&str]) -> Vec<String> {
    t.storage
        .read_many(keys)
        .await
        .unwrap()
        .into_iter()
        .map(|s| format!("{s:?}"))
        .collect()
}

#[tokio::test]
async fn an_ad_hoc_send_mid_waterfall_changes_no_stored_byte() {
    let t = TestBot::new(bot());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Which size?"]);
    let keys = [
        "user/mock/ann",
        "conversation/mock/conv-ann",
        "private/mock/conv-ann/ann",
        "address/mock/ann",
    ];
    let before = raw(&t, &keys).await;
    let writes = t.storage.writes();
    let receipt = t
        .bot
        .send(Message::to(&ann.address).text("Hello, this is a notification"))
        .await
        .unwrap();
    assert_eq!(receipt.conversation_id, "conv-ann");
    assert_eq!(ann.new_texts(), ["Hello, this is a notification"]);
    assert_eq!(
        raw(&t, &keys).await,
        before,
        "stored state is byte-for-byte the same"
    );
    assert_eq!(t.storage.writes(), writes, "nothing written at all");
    ann.say("large").await.expect(&["done"]);
}

#[tokio::test]
async fn users_who_never_wrote_are_not_contacted_unless_the_caller_opts_in() {
    let t = TestBot::new(bot());
    let stranger = t.user("stranger");
    let err = t
        .bot
        .send(Message::to(&stranger.address).text("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, BotError::NotConsented { ref user, .. } if user == "stranger"));
    assert!(t.channel.sent().is_empty());
    let err = t
        .bot
        .proactive(&stranger.address)
        .begin("*:/")
        .interrupt()
        .await
        .unwrap_err();
    assert!(matches!(err, BotError::NotConsented { .. }));
    t.bot
        .proactive(&stranger.address)
        .allow_unconsented()
        .send("hi")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_address_without_conversation_starts_one_and_says_which() {
    let t = TestBot::new(bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let mut saved = ann.address.clone();
    saved.conversation = None;
    let r = t
        .bot
        .send_all(vec![
            Message::to(&saved).text("one"),
            Message::to(&saved).text("two"),
        ])
        .await
        .unwrap();
    let c1 = &r[0].as_ref().unwrap().conversation_id;
    let c2 = &r[1].as_ref().unwrap().conversation_id;
    assert!(c1.starts_with("started-ann"), "{c1}");
    assert_eq!(c1, c2, "both messages go to the one started conversation");
    assert_eq!(t.channel.started_conversations().len(), 1);
    let texts: Vec<String> = t.channel.sent_to(c1).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn a_stale_saved_address_is_sent_with_the_fresh_service_url() {
    let t = TestBot::new(bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let saved = ann.address.clone();
    // The channel moved: the user's next message comes from a new service URL.
    let mut moved = ann.address.clone();
    moved.service_url = "https://new.channel.invalid".into();
    t.bot
        .receive(Message::to(&moved).text("large"))
        .await
        .unwrap();
    t.bot.send(Message::to(&saved).text("ping")).await.unwrap();
    let last = t.channel.sent().pop().unwrap();
    assert_eq!(
        (last.text.as_str(), last.address.service_url.as_str()),
        ("ping", "https://new.channel.invalid")
    );
}

#[tokio::test]
async fn delivery_failures_are_typed_keep_order_and_mark_dead_addresses() {
    let t = TestBot::new(bot());
    for u in ["ann", "bo", "cy"] {
        t.user(u).say("hi").await;
    }
    t.channel
        .fail_next_for("ann", Fault::Throttled(Duration::from_secs(3)));
    let ann = t.user("ann").address;
    let r = t
        .bot
        .send_all(vec![
            Message::to(&ann).text("1"),
            Message::to(&ann).text("2"),
        ])
        .await
        .unwrap();
    assert_eq!(
        r[0],
        Err(DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(3))
        })
    );
    assert_eq!(
        r[1],
        Err(DeliveryError::Skipped),
        "order kept: the second is not sent past a failed first"
    );
    t.channel.fail_next_for("bo", Fault::Forbidden);
    let r = t
        .bot
        .send(Message::to(&t.user("bo").address).text("x"))
        .await;
    assert!(
        matches!(&r, Err(BotError::Delivery(e)) if e.is_permanent()),
        "{r:?}"
    );
    let known: Vec<String> = t
        .bot
        .address_book()
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.user.id)
        .collect();
    assert_eq!(
        known,
        ["ann", "cy"],
        "the blocked user is skipped by fan-outs"
    );
    t.user("bo").say("back again").await;
    assert_eq!(
        t.bot.address_book().all().await.unwrap().len(),
        3,
        "writing again revives the address"
    );
}

#[tokio::test]
async fn the_address_book_lists_every_user_in_pages() {
    let t = TestBot::new(bot());
    support::users_who_wrote(&t, 25).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = t
            .bot
            .address_book()
            .page(after.as_deref(), 10)
            .await
            .unwrap();
        assert!(page.addresses.len() <= 10);
        seen.extend(page.addresses.into_iter().map(|a| a.user.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[0], "u00");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn ad_hoc_sends_are_localized_only_when_asked() {
    let t = TestBot::new(bot());
    let ana = t.user("ana");
    ana.send(Message::to(&ana.address).text("hola").locale("es"))
        .await;
    t.bot
        .send(Message::to(&ana.address).text("notice"))
        .await
        .unwrap();
    t.bot
        .proactive(&ana.address)
        .localized()
        .send("notice")
        .await
        .unwrap();
    assert_eq!(ana.new_texts(), ["notice", "aviso"]);
}

#[tokio::test]
async fn reminders_survive_a_restart_fire_once_and_can_be_cancelled() {
    let t = TestBot::new(bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let at = t.clock.now_ms() + 60_000;
    let msg = Message::to(&ann.address).text("Reminder: stand-up");
    t.bot
        .scheduler()
        .at(at, &ann.address, JobAction::message(msg.clone()))
        .await
        .unwrap();
    let cancelled = t
        .bot
        .scheduler()
        .at(at, &ann.address, JobAction::message(msg.text("never")))
        .await
        .unwrap();
    assert!(t.bot.scheduler().cancel(&cancelled).await.unwrap());
    // The first process goes away; two new ones share the storage.
    let (p1, p2) = (t.sharing(bot()), t.sharing(bot()));
    ann.new_messages();
    let writes = t.storage.writes();
    assert_eq!(p1.advance(Duration::from_secs(59)).await, 0);
    assert_eq!(
        t.storage.writes(),
        writes,
        "a tick with nothing due writes nothing"
    );
    t.clock.advance(Duration::from_secs(2));
    let (a, b) = tokio::join!(p1.tick(), p2.tick());
    assert_eq!(a + b, 1, "the job runs in exactly one process");
    assert_eq!(ann.new_texts(), ["Reminder: stand-up"]);
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn jobs_found_too_late_are_skipped_by_the_catch_up_policy() {
    let t = TestBot::new(bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    ann.new_messages();
    let at = t.clock.now_ms() + 1_000;
    let late = Message::to(&ann.address).text("too late");
    t.bot
        .scheduler()
        .at_with_lateness(at, &ann.address, JobAction::message(late), Some(5_000))
        .await
        .unwrap();
    t.clock.advance(Duration::from_secs(3_600));
    let reports = t.bot.scheduler().tick().await.unwrap();
    assert!(matches!(reports[0].outcome, JobOutcome::Skipped { .. }));
    assert!(ann.new_messages().is_empty());
}

#[tokio::test]
async fn fan_out_reports_per_recipient_in_order() {
    let t = TestBot::new(bot());
    let users: Vec<_> = ["ann", "bo", "cy"].iter().map(|u| t.user(u)).collect();
    for u in &users[..2] {
        u.say("hi").await;
    }
    let addresses = users.iter().map(|u| u.address.clone()).collect();
    let results = t
        .bot
        .fan_out(
            addresses,
            FanOutAction::Message(Message::default().text("news")),
        )
        .concurrency(2)
        .await;
    let summary: Vec<(String, bool)> = results
        .iter()
        .map(|r| (r.address.user.id.clone(), r.result.is_ok()))
        .collect();
    assert_eq!(
        summary,
        [
            ("ann".into(), true),
            ("bo".into(), true),
            ("cy".into(), false)
        ]
    );
    assert!(matches!(
        results[2].result,
        Err(BotError::NotConsented { .. })
    ));
}
