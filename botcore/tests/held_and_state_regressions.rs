//! Held dialogs across renames and removals, typed state that evolves, a deploy check that
//! sees removed dialogs, and a turn writing to another conversation.

mod support;

use botcore::{Bot, BotBuilder, Message, Waterfall, WhenIdle, prompts};
use std::collections::BTreeMap;
use std::time::Duration;
use support::SlowChannel;
use transport_mock::{TestBot, TestUser};

fn order() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "Size?"))
        .step(async |s, r| {
            let size = r.text()?.to_owned();
            s.send(format!("Order: {size}"));
            s.end_dialog();
            Ok(())
        })
}

fn feedback() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "How was it?"))
        .step(async |s, _| {
            s.send("Thanks!");
            s.end_dialog();
        })
}

fn v1() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| s.begin_dialog("pizza"))
        .dialog("pizza", order())
        .dialog("feedback", feedback())
}

fn v2() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| s.begin_dialog("pizza"))
        .dialog("pizza", order())
        .dialog("survey", feedback())
        .formerly("feedback")
}

async fn mid_order(t: &TestBot) -> TestUser {
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Size?"]);
    ann
}

/// Holding a dialog again replaces its earlier hold ("no pile-up"), but a hold saved under
/// a dialog's former id is compared by the raw id: after a rename the same survey is held
/// twice and the user is asked it twice.
#[tokio::test]
async fn holding_a_renamed_dialog_again_replaces_the_hold_saved_under_its_former_id() {
    let t = TestBot::new(v1());
    let ann = mid_order(&t).await;
    let out = t
        .bot
        .proactive(&ann.address)
        .begin("feedback")
        .when_idle(WhenIdle::stack_empty())
        .await
        .unwrap();
    assert!(out.held);
    let deployed = t.sharing(v2());
    let out = deployed
        .bot
        .proactive(&ann.address)
        .begin("survey")
        .when_idle(WhenIdle::stack_empty())
        .await
        .unwrap();
    assert!(out.held);
    let ann = deployed.user("ann");
    ann.say("large")
        .await
        .expect(&["Order: large", "How was it?"]);
    // The survey was held once (the second hold replaced the first): it is over now.
    ann.say("fine").await.expect(&["Thanks!"]);
}

/// `DataMut::update` over a map: a key the closure removed comes back, because `set`
/// only merges the serialized fields into the bag.
#[tokio::test]
async fn removing_a_key_through_update_on_a_map_removes_it() {
    let t = TestBot::new(Bot::builder().dialog_fn("/", async |s, _| {
        let text = s.text().to_owned();
        let r = s.user_data_mut().update(|m: &mut BTreeMap<String, u32>| {
            if let Some(k) = text.strip_prefix("del ") {
                m.remove(k);
            } else {
                m.insert(text.clone(), 1);
            }
            m.keys().cloned().collect::<Vec<_>>().join(",")
        });
        s.send(format!("keys: {}", r.unwrap_or_default()));
        s.end_dialog();
    }));
    let ann = t.user("ann");
    ann.say("a").await.expect(&["keys: a"]);
    ann.say("b").await.expect(&["keys: a,b"]);
    ann.say("del a").await.expect(&["keys: b"]);
    // The next turn reads what was saved.
    ann.say("c").await.expect(&["keys: b,c"]);
}

/// A dialog held for a user whose dialog a deploy removed: when the stack empties the held
/// dialog is begun, the turn fails with `DialogNotFound` and is reset — but the reset keeps
/// the held dialogs, so every later turn that ends with an empty stack fails the same way.
#[tokio::test]
async fn a_held_dialog_that_no_longer_exists_does_not_break_every_later_turn() {
    let t = TestBot::new(v1());
    let ann = mid_order(&t).await;
    let out = t
        .bot
        .proactive(&ann.address)
        .begin("feedback")
        .when_idle(WhenIdle::stack_empty())
        .await
        .unwrap();
    assert!(out.held);
    // The next release has no survey at all.
    let deployed = t.sharing(
        Bot::builder()
            .dialog_fn("/", async |s, _| s.begin_dialog("pizza"))
            .dialog("pizza", order()),
    );
    let ann = deployed.user("ann");
    let first = ann.say("large").await;
    let second = ann.say("hi").await;
    second.expect(&["Size?"]);
    ann.say("small").await.expect(&["Order: small"]);
    let third = ann.say("hi").await;
    assert!(
        first.error().is_none() && third.error().is_none(),
        "turns failed: {:?} / {:?}",
        first.error(),
        third.error()
    );
}

/// A turn's message addressed to another conversation (a hand-off bot telling an agent) goes
/// out under the delivery lock of the turn's own conversation only, so it lands between the
/// messages of a turn of the conversation it is addressed to.
#[tokio::test]
async fn a_turns_message_to_another_conversation_never_lands_between_that_conversations_turn() {
    const TURN: [&str; 3] = ["one", "two", "three"];
    let builder = || {
        Bot::builder().dialog_fn("/", async |s, _| {
            match s.text() {
                "three" => TURN.into_iter().for_each(|t| s.send(t)),
                "relay" => {
                    let mut to_bob = s.address().without_reply();
                    to_bob.user = botcore::ChannelAccount::new("bob").with_name("bob");
                    to_bob = to_bob.with_conversation("conv-bob");
                    s.send(Message::to(&to_bob).text("from ann"));
                }
                _ => {}
            }
            s.end_dialog();
        })
    };
    let t = TestBot::new(builder());
    let slow = SlowChannel::new(t.channel.clone(), Duration::from_millis(40));
    let bot = support::bot_sending_through(&t, builder(), slow.clone());
    let (ann, bob) = (t.user("ann"), t.user("bob"));
    ann.say("hi").await;
    bob.say("hi").await;
    let (b, a) = tokio::join!(
        bot.receive(Message::to(&bob.address).text("three")),
        async {
            slow.reached(TURN[0]).await;
            bot.receive(Message::to(&ann.address).text("relay")).await
        }
    );
    b.unwrap();
    a.unwrap();
    let texts = bob.new_texts();
    assert!(
        texts == ["from ann", "one", "two", "three"]
            || texts == ["one", "two", "three", "from ann"],
        "a message landed between the messages of bob's turn: {texts:?}"
    );
}

/// `deploy::check` counts a stored stack that names a dialog the release no longer has as
/// `unchanged` ("nothing to do"), though its next turn fails and resets the conversation with
/// the error message (`UnknownDialogPolicy::ErrorAndReset`): CI is told the deploy is harmless.
#[tokio::test]
async fn deploy_check_does_not_call_a_stack_naming_a_removed_dialog_unchanged() {
    let t = TestBot::new(v1());
    let ann = mid_order(&t).await;
    let release = t.sharing(
        Bot::builder()
            .dialog_fn("/", async |s, _| s.begin_dialog("order"))
            .dialog("order", order()),
    );
    let (sample, _) = botcore::StorageExt::read_page(&t.storage, "private/", None, 100)
        .await
        .unwrap();
    let report = botcore::deploy::check(&release.bot, &sample);
    // What the release really does to that conversation:
    let replies = release.user("ann").say("large").await;
    assert!(
        replies.error().is_some(),
        "the turn fails: {:?}",
        replies.texts()
    );
    let _ = ann;
    assert_eq!(
        report.unchanged, 0,
        "a conversation the release will reset is reported as unchanged: {report:?}"
    );
}

mod profile_v1 {
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    pub(crate) struct Home {
        pub(crate) street: String,
    }
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    pub(crate) struct Profile {
        pub(crate) name: String,
        pub(crate) home: Home,
    }
}

mod profile_v2 {
    /// `Home` gained a field since v1.
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    pub(crate) struct Home {
        pub(crate) street: String,
        pub(crate) city: String,
    }
    #[derive(Default, serde::Serialize, serde::Deserialize)]
    pub(crate) struct Profile {
        pub(crate) name: String,
        pub(crate) home: Home,
    }
}

/// "A state type that gained a field loads old state without a migration": the defaults are
/// merged one level deep only, so a field gained by a nested struct fails to load with
/// `StateType` — and since the v3 reset keeps user data, every later turn of that user fails.
#[tokio::test]
async fn user_data_whose_nested_type_gained_a_field_still_loads() {
    let t = TestBot::new(Bot::builder().dialog_fn("/", async |s, _| {
        let p = profile_v1::Profile {
            name: "Ann".into(),
            home: profile_v1::Home {
                street: "Main St".into(),
            },
        };
        s.user_data_mut().set(&p)?;
        s.send("saved");
        s.end_dialog();
        Ok::<(), botcore::StepError>(())
    }));
    t.user("ann").say("hi").await.expect(&["saved"]);
    let release = t.sharing(Bot::builder().dialog_fn("/", async |s, _| {
        let p: profile_v2::Profile = s.user_data().get()?;
        s.send(format!("{} lives on {}", p.name, p.home.street));
        s.end_dialog();
        Ok::<(), botcore::StepError>(())
    }));
    let ann = release.user("ann");
    ann.say("hi").await.expect(&["Ann lives on Main St"]);
}
