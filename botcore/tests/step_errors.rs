//! Errors in a step, through the public API and the mock channel: the turn resets the
//! conversation like v3, keeps user data, and the error reaches the hook typed.

mod common;

use botcore::{Bot, BotError, Waterfall, prompts};
use common::{Log, assert_v3_reset};
use serde::{Deserialize, Serialize};
use transport_mock::TestBot;

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Profile {
    name: String,
}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Topic {
    topic: String,
}

#[derive(Serialize, Deserialize, Default)]
struct HalfDone {
    #[serde(rename = "half-done")]
    half_done: bool,
}

#[tokio::test]
async fn an_error_in_a_step_resets_the_conversation_like_v3() {
    let errors = Log::default();
    let hook = errors.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    s.user_data_mut().set(&Profile { name: "Ann".into() })?;
                    s.conversation_data_mut().set(&Topic {
                        topic: "coffee".into(),
                    })?;
                    prompts::text(s, "Ready?");
                    Ok(())
                })
                .step(async |s, _| {
                    s.user_data_mut().set(&HalfDone { half_done: true })?;
                    s.send("this is never delivered");
                    Err(BotError::dialog("the coffee machine broke"))?;
                    Ok(())
                }),
        )
        .on_error(move |e, _| hook.push(e.to_string()));
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Ready?"]);
    let r = ann.say("yes").await;
    assert!(
        matches!(r.error(), Some(BotError::Dialog(_))),
        "a BotError passed through `?` stays itself: {:?}",
        r.error()
    );
    assert_v3_reset(&r);
    let errors = errors.lines();
    assert_eq!(errors.len(), 1, "the error hook ran once");
    assert!(errors[0].contains("coffee machine"), "{errors:?}");
    let st = ann.state().await;
    assert!(st.stack.is_empty());
    assert!(st.conversation_data.is_empty(), "conversation data cleared");
    assert_eq!(
        st.user::<Profile>(),
        Profile { name: "Ann".into() },
        "user data kept"
    );
    assert_eq!(
        st.user_data.get("half-done"),
        None,
        "nothing else from the failed turn saved"
    );
}

/// A bot author's own error type.
#[derive(Debug, thiserror::Error)]
#[error("the kitchen is closed")]
struct KitchenClosed;

fn brew(_order: &str) -> Result<String, KitchenClosed> {
    Err(KitchenClosed)
}

#[tokio::test]
async fn an_authors_own_error_through_question_mark_resets_like_v3_and_reaches_the_hook() {
    let errors = Log::default();
    let hook = errors.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    s.user_data_mut().set(&Profile { name: "Ann".into() })?;
                    s.conversation_data_mut().set(&Topic {
                        topic: "coffee".into(),
                    })?;
                    prompts::text(s, "What would you like?");
                    Ok(())
                })
                .step(async |s, r| {
                    s.send("this is never delivered");
                    let coffee = brew(r.text()?)?;
                    s.send(coffee);
                    s.end_dialog();
                    Ok(())
                }),
        )
        .on_error(move |e, _| match e {
            BotError::Step {
                dialog,
                step,
                source,
            } => hook.push(format!(
                "{dialog} step {step}: {source} (ours: {})",
                source.downcast_ref::<KitchenClosed>().is_some()
            )),
            other => hook.push(format!("not a step error: {other:?}")),
        });
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["What would you like?"]);
    let r = ann.say("an espresso").await;
    match r.error() {
        Some(BotError::Step {
            dialog,
            step,
            source,
        }) => {
            assert_eq!((dialog.as_str(), *step), ("*:/", 1));
            assert!(source.downcast_ref::<KitchenClosed>().is_some(), "{source}");
        }
        other => panic!("expected a step error, got {other:?}"),
    }
    assert_v3_reset(&r);
    assert_eq!(
        errors.lines(),
        ["*:/ step 1: the kitchen is closed (ours: true)"]
    );
    let st = ann.state().await;
    assert!(st.stack.is_empty());
    assert!(st.conversation_data.is_empty(), "conversation data cleared");
    assert_eq!(st.user::<Profile>().name, "Ann", "user data kept");
    ann.say("hi again").await.expect(&["What would you like?"]);
}

#[tokio::test]
async fn reading_a_result_as_the_wrong_kind_is_a_typed_error_and_resets_like_v3() {
    let errors = Log::default();
    let hook = errors.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "How many?"))
                .step(async |s, r| {
                    let n = r.number()?;
                    s.send(format!("{n} it is"));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .on_error(move |e, _| hook.push(e.to_string()));
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["How many?"]);
    let r = ann.say("3").await;
    assert!(
        matches!(
            r.error(),
            Some(BotError::ResultKind { expected: "number", found }) if found == "text"
        ),
        "{:?}",
        r.error()
    );
    assert_v3_reset(&r);
    assert_eq!(errors.lines(), ["expected a number result, found text"]);
    assert!(ann.state().await.stack.is_empty());
}
