//! Deploying a new version of a dialog, through the mock channel: the same storage, a new
//! bot. A user mid-waterfall continues at the right step after a migration; without one the
//! dialog's policy happens (restart, reset or a typed error) and nothing else is lost; a
//! state type that gained a field loads old state with its default.

use botcore::{
    Bot, BotBuilder, BotError, Localizer, Message, MigrationError, VersionPolicy, Waterfall,
    prompts,
};
use serde::{Deserialize, Serialize};
use transport_mock::{TestBot, TestUser};

/// The order's data in version 1.
#[derive(Serialize, Deserialize, Default)]
struct OrderV1 {
    size: String,
    topping: String,
}

/// The order's data in version 2: it gained a drink (default "water").
#[derive(Serialize, Deserialize)]
struct Order {
    size: String,
    topping: String,
    drink: String,
}

impl Default for Order {
    fn default() -> Self {
        Self {
            size: String::new(),
            topping: String::new(),
            drink: "water".into(),
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Profile {
    name: String,
}

#[derive(Serialize, Deserialize, Default)]
struct Notes {
    note: String,
}

/// The root dialog: remembers the user, runs the order, says bye.
fn root() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| {
            s.user_data_mut().set(&Profile { name: "ann".into() })?;
            s.conversation_data_mut().set(&Notes {
                note: "conv".into(),
            })?;
            s.private_conversation_data_mut().set(&Notes {
                note: "private".into(),
            })?;
            s.begin_dialog("order");
            Ok(())
        })
        .step(async |s, _| {
            s.send("Bye");
            s.end_dialog();
        })
}

/// Version 1: size, topping, address.
fn order_v1() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "Size?"))
        .step(async |s, r| {
            let size = r.text()?.to_owned();
            s.dialog_data_mut()
                .update(|o: &mut OrderV1| o.size = size)?;
            prompts::text(s, "Topping?");
            Ok(())
        })
        .step(async |s, r| {
            let topping = r.text()?.to_owned();
            s.dialog_data_mut()
                .update(|o: &mut OrderV1| o.topping = topping)?;
            prompts::text(s, "Address?");
            Ok(())
        })
        .step(async |s, r| {
            let o: OrderV1 = s.dialog_data().get()?;
            s.send(format!("Order: {} {} to {}", o.size, o.topping, r.text()?));
            s.end_dialog();
            Ok(())
        })
}

/// Version 2 inserts a drink step before the address.
fn order_v2() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "Size?"))
        .step(async |s, r| {
            let size = r.text()?.to_owned();
            s.dialog_data_mut().update(|o: &mut Order| o.size = size)?;
            prompts::text(s, "Topping?");
            Ok(())
        })
        .step(async |s, r| {
            let topping = r.text()?.to_owned();
            s.dialog_data_mut()
                .update(|o: &mut Order| o.topping = topping)?;
            prompts::text(s, "Drink?");
            Ok(())
        })
        .step(async |s, r| {
            let drink = r.text()?.to_owned();
            s.dialog_data_mut()
                .update(|o: &mut Order| o.drink = drink)?;
            prompts::text(s, "Address?");
            Ok(())
        })
        .step(async |s, r| {
            let o: Order = s.dialog_data().get()?;
            s.send(format!(
                "Order: {} {} {} to {}",
                o.size,
                o.topping,
                o.drink,
                r.text()?
            ));
            s.end_dialog();
            Ok(())
        })
}

fn v1() -> BotBuilder {
    Bot::builder()
        .dialog("/", root())
        .dialog("order", order_v1())
        .version(1)
}

/// Version 2 with no migration: the caller adds the policy.
fn v2() -> BotBuilder {
    Bot::builder()
        .dialog("/", root())
        .dialog("order", order_v2())
        .version(2)
}

/// The migration from 1 to 2: a step was inserted before step 2.
fn shift_past_drink(frame: &mut botcore::FrameMut<'_>) -> Result<(), MigrationError> {
    if frame.step() >= 2 {
        frame.set_step(frame.step() + 1);
    }
    Ok(())
}

/// A user of `t` waiting at step 2 (the address) of version 1.
async fn at_address(t: &TestBot) -> TestUser {
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Size?"]);
    ann.say("large").await.expect(&["Topping?"]);
    ann.say("ham").await.expect(&["Address?"]);
    ann
}

async fn assert_other_data_kept(user: &TestUser) {
    let st = user.state().await;
    assert_eq!(st.user::<Profile>().name, "ann");
    assert_eq!(st.conversation::<Notes>().note, "conv");
    assert_eq!(st.private_data["note"], "private");
}

#[tokio::test]
async fn a_migrated_user_continues_at_the_right_step_with_state_intact() {
    let t = TestBot::new(v1());
    at_address(&t).await;
    let deployed = t.sharing(v2().migrate(1, shift_past_drink));
    let ann = deployed.user("ann");
    ann.say("Main St")
        .await
        .expect(&["Order: large ham water to Main St", "Bye"]);
    assert_other_data_kept(&ann).await;
}

#[tokio::test]
async fn the_migrated_frame_is_stored_at_the_new_version() {
    let t = TestBot::new(v1());
    let ann = at_address(&t).await;
    let st = ann.state().await;
    assert_eq!(st.stack[1].state["botcore.Version"], 1);
    assert!(
        !st.stack[0].state.contains_key("botcore.Version"),
        "version 0 is not stored: the v3 shape is unchanged"
    );
    let deployed = t.sharing(v2().migrate(1, shift_past_drink));
    // A custom flow loads (and migrates) the stack without a message.
    deployed
        .bot
        .proactive(&ann.address)
        .with_session(|_| Ok(()))
        .await
        .unwrap();
    let st = ann.state().await;
    assert_eq!(st.stack[1].state["botcore.Version"], 2);
    assert_eq!(st.stack[1].state["BotBuilder.Data.WaterfallStep"], 3);
}

#[tokio::test]
async fn without_a_migration_the_dialog_restarts_with_the_localized_message() {
    let t = TestBot::new(v1());
    at_address(&t).await;
    let localizer = Localizer::new("en").add("es", [("order-changed", "El pedido cambió.")]);
    let deployed = t.sharing(
        v2().on_version_mismatch(VersionPolicy::RestartDialog {
            message: "order-changed".into(),
        })
        .localizer(localizer),
    );
    let ann = deployed.user("ann");
    let r = ann
        .send(Message::to(&ann.address).text("Main St").locale("es"))
        .await;
    r.expect(&["El pedido cambió.", "Size?"]);
    // The root dialog stayed where it was: the restarted order returns to it.
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "*:order", "BotBuilder:prompt-text"]
    );
    assert_other_data_kept(&ann).await;
    ann.say("small").await.expect(&["Topping?"]);
    ann.say("ham").await.expect(&["Drink?"]);
    ann.say("tea").await.expect(&["Address?"]);
    ann.say("Elm St")
        .await
        .expect(&["Order: small ham tea to Elm St", "Bye"]);
}

#[tokio::test]
async fn without_a_migration_the_bot_policy_resets_the_stack() {
    let t = TestBot::new(v1());
    at_address(&t).await;
    let deployed = t.sharing(v2().version_policy(VersionPolicy::ResetStack {
        message: "We updated the bot: let's start over.".into(),
    }));
    let ann = deployed.user("ann");
    ann.say("Main St")
        .await
        .expect(&["We updated the bot: let's start over.", "Size?"]);
    assert_other_data_kept(&ann).await;
}

#[tokio::test]
async fn without_a_migration_refuse_returns_a_typed_error_and_changes_nothing() {
    let t = TestBot::new(v1());
    let ann = at_address(&t).await;
    let before = ann.state().await;
    let deployed = t.sharing(v2().on_version_mismatch(VersionPolicy::Refuse));
    let r = deployed.user("ann").say("Main St").await;
    assert!(r.texts().is_empty(), "{:?}", r.texts());
    match r.error() {
        Some(BotError::DialogVersion {
            dialog,
            stored,
            current,
            ..
        }) => assert_eq!((dialog.as_str(), *stored, *current), ("*:order", 1, 2)),
        other => panic!("expected DialogVersion, got {other:?}"),
    }
    assert_eq!(ann.state().await, before);
}

#[tokio::test]
async fn a_failing_migration_goes_through_the_policy() {
    #[derive(Serialize, Deserialize, Default)]
    struct Strict {
        size: u32,
    }
    let t = TestBot::new(v1());
    at_address(&t).await;
    let deployed = t.sharing(
        v2().migrate(1, |frame| {
            // The stored size is a string: this fails with a typed error.
            let old: Strict = frame.data().get()?;
            frame.data_mut().set(&old)?;
            Ok(())
        })
        .on_version_mismatch(VersionPolicy::RestartDialog {
            message: "Let's redo your order.".into(),
        }),
    );
    deployed
        .user("ann")
        .say("Main St")
        .await
        .expect(&["Let's redo your order.", "Size?"]);
}

#[tokio::test]
async fn state_that_no_longer_fits_its_declared_type_goes_through_the_policy() {
    #[derive(Serialize, Deserialize, Default)]
    struct Renumbered {
        size: u32,
    }
    let t = TestBot::new(v1());
    at_address(&t).await;
    // Same version, but the state type changed incompatibly.
    let deployed = t.sharing(
        Bot::builder()
            .dialog("/", root())
            .dialog("order", order_v1())
            .version(1)
            .state_type::<Renumbered>()
            .on_version_mismatch(VersionPolicy::RestartDialog {
                message: "Let's redo your order.".into(),
            }),
    );
    let r = deployed.user("ann").say("Main St").await;
    assert!(
        r.error().is_none(),
        "no generic error reset: {:?}",
        r.error()
    );
    r.expect(&["Let's redo your order.", "Size?"]);
}

#[tokio::test]
async fn a_state_type_with_a_new_field_loads_old_state_with_the_default() {
    let t = TestBot::new(v1());
    let ann = at_address(&t).await;
    assert!(!ann.state().await.stack[1].state.contains_key("drink"));
    // The deployed code reads `Order` (with `drink`) from state stored as `OrderV1`.
    let deployed = t.sharing(v2().migrate(1, |frame| {
        let order: Order = frame.data().get()?;
        assert_eq!(order.drink, "water");
        shift_past_drink(frame)
    }));
    deployed
        .user("ann")
        .say("Main St")
        .await
        .expect(&["Order: large ham water to Main St", "Bye"]);
}

#[tokio::test]
async fn a_scheduled_job_over_a_refused_frame_is_dropped_with_the_typed_error() {
    use botcore::proactive::scheduler::JobOutcome;
    use botcore::{JobAction, ProactiveMode};
    let t = TestBot::new(v1().dialog_fn("nudge", async |s, _| s.end_dialog()));
    let ann = at_address(&t).await;
    let before = ann.state().await;
    t.bot
        .scheduler()
        .after(
            std::time::Duration::from_secs(60),
            &ann.address,
            JobAction::dialog("nudge", ProactiveMode::Interrupt),
        )
        .await
        .unwrap();
    let deployed = t.sharing(
        v2().on_version_mismatch(VersionPolicy::Refuse)
            .dialog_fn("nudge", async |s, _| s.end_dialog()),
    );
    deployed.clock.advance(std::time::Duration::from_secs(61));
    let reports = deployed.bot.scheduler().tick().await.unwrap();
    assert!(
        matches!(&reports[..], [r] if matches!(r.outcome, JobOutcome::Dropped(BotError::DialogVersion { .. }))),
        "{reports:?}"
    );
    assert_eq!(ann.state().await.stack, before.stack, "nothing changed");
}
