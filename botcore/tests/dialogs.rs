//! The core acceptance behaviours, through the public API and the mock channel.

use botcore::{
    Bot, BotBuilder, BotError, DialogResult, Library, MessageKind, Prompt, UnknownDialogPolicy,
    Waterfall, json, prompts,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use transport_mock::TestBot;

fn order_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(|s, _| prompts::text(s, "What is your name?"))
            .step(|s, r| {
                let name = r.as_str().unwrap_or_default().to_owned();
                s.dialog_data_mut().insert("name".into(), json!(name));
                prompts::number(s, &format!("Hi {name}, how many coffees?"))
            })
            .step(|s, r| {
                s.dialog_data_mut()
                    .insert("cups".into(), r.value.clone().unwrap_or_default());
                prompts::confirm(s, "Confirm order?")
            })
            .step(|s, r| {
                let d = s.dialog_data();
                let text = format!(
                    "Order for {}: {} cups, confirmed={}",
                    d["name"].as_str().unwrap_or(""),
                    d["cups"],
                    r.as_bool().unwrap_or(false)
                );
                s.send(text);
                s.end_dialog();
                Ok(())
            }),
    )
}

#[tokio::test]
async fn prompt_waterfall_runs_with_v3_retry_texts() {
    let t = TestBot::new(order_bot());
    t.transcript(
        "ann",
        r#"
        > hello
        < What is your name?
        > Ann
        < Hi Ann, how many coffees?
        > lots
        < I didn't recognize that as a number. Please enter a number.
        > 3
        < Confirm order?
        > maybe
        < I didn't understand. Please answer 'yes' or 'no'.
        > yes
        < Order for Ann: 3 cups, confirmed=true
        "#,
    )
    .await;
    assert!(
        t.user("ann").state().await.stack.is_empty(),
        "the stack is empty after the order"
    );
    t.user("ann")
        .say("hello again")
        .await
        .expect(&["What is your name?"]);
}

#[tokio::test]
async fn text_and_choice_prompts_retry_with_the_v3_texts_and_give_up_after_max_retries() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(|s, _| {
                Prompt::choice("Pick a color", ["red", "green", "blue"])
                    .max_retries(1)
                    .begin(s)
            })
            .step(|s, r| {
                s.send(format!(
                    "reason={:?} value={}",
                    r.reason,
                    r.value.clone().unwrap_or_default()
                ));
                prompts::text(s, "Say something")
            })
            .step(|s, r| {
                s.send(format!("you said {}", r.as_str().unwrap_or("")));
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    t.transcript(
        "bo",
        r#"
        > hi
        < Pick a color (1. red, 2. green, or 3. blue)
        > purple
        < I didn't understand. Please choose an option from the list. (1. red, 2. green, or 3. blue)
        > purple
        < reason=NotCompleted value=null
        < Say something
        > 
        < I didn't understand. Please try again.
        > hello
        < you said hello
        "#,
    )
    .await;
}

fn child_bot(log: Arc<std::sync::Mutex<Vec<String>>>) -> BotBuilder {
    let l1 = log.clone();
    let l2 = log.clone();
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| {
                    s.dialog_data_mut().insert("mine".into(), json!("kept"));
                    s.begin_dialog("child", Some(json!({"n": 1})))
                })
                .step(move |s, r| {
                    l1.lock().unwrap().push(format!(
                        "parent got {} from {} with data {}",
                        r.value.clone().unwrap_or_default(),
                        r.child_id.clone().unwrap_or_default(),
                        s.dialog_data()["mine"]
                    ));
                    s.begin_dialog("bubbler", None)
                })
                .step(move |s, r| {
                    l2.lock()
                        .unwrap()
                        .push(format!("bubbled {}", r.value.clone().unwrap_or_default()));
                    s.begin_dialog("replacer", None)
                })
                .step(|s, _| {
                    s.send("parent resumed after replace");
                    Ok(())
                }),
        )
        .dialog(
            "child",
            Waterfall::new()
                .step(|s, _| prompts::text(s, "child asks"))
                .step(|s, r| {
                    s.dialog_data_mut().insert("child-only".into(), json!(true));
                    s.end_dialog_with_result(DialogResult::completed(json!(format!(
                        "answer:{}",
                        r.as_str().unwrap_or("")
                    ))));
                    Ok(())
                }),
        )
        .dialog(
            "bubbler",
            Waterfall::new().step(|s, _| prompts::number(s, "bubbler asks")),
        )
        .dialog(
            "replacer",
            Waterfall::new().step(|s, _| s.replace_dialog("final", None)),
        )
        .dialog(
            "final",
            Waterfall::new()
                .step(|s, _| prompts::text(s, "final asks"))
                .step(|s, r| {
                    s.send(format!("final got {}", r.as_str().unwrap_or("")));
                    s.end_dialog();
                    Ok(())
                }),
        )
}

#[tokio::test]
async fn children_hand_results_to_parents_and_replace_does_not_resume_in_between() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = TestBot::new(child_bot(log.clone()));
    let ann = t.user("ann");
    ann.say("go").await.expect(&["child asks"]);
    let st = ann.state().await;
    assert_eq!(st.stack_ids(), ["*:/", "*:child", "BotBuilder:prompt-text"]);
    assert_eq!(
        st.stack[0].state["mine"],
        json!("kept"),
        "the parent keeps its data while the child runs"
    );
    ann.say("x").await.expect(&["bubbler asks"]);
    assert_eq!(
        log.lock().unwrap()[0],
        r#"parent got "answer:x" from *:child with data "kept""#
    );
    // The bubbler runs past its last step: its last result (the prompt's 7) bubbles up.
    ann.say("7").await.expect(&["final asks"]);
    assert_eq!(log.lock().unwrap()[1], "bubbled 7");
    // `replace_dialog` swapped replacer for final without resuming the parent in between.
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "*:final", "BotBuilder:prompt-text"]
    );
    ann.say("done")
        .await
        .expect(&["final got done", "parent resumed after replace"]);
}

#[tokio::test]
async fn an_error_in_a_step_resets_the_conversation_like_v3() {
    let errors = Arc::new(AtomicUsize::new(0));
    let e2 = errors.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| {
                    s.user_data_mut().insert("name".into(), json!("Ann"));
                    s.conversation_data_mut()
                        .insert("topic".into(), json!("coffee"));
                    prompts::text(s, "Ready?")
                })
                .step(|s, _| {
                    s.user_data_mut().insert("half-done".into(), json!(true));
                    s.send("this is never delivered");
                    Err(BotError::dialog("the coffee machine broke"))
                }),
        )
        .on_error(move |e, _| {
            assert!(e.to_string().contains("coffee machine"));
            e2.fetch_add(1, Ordering::SeqCst);
        });
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Ready?"]);
    let r = ann.say("yes").await;
    assert!(matches!(r.error(), Some(BotError::Dialog(_))));
    r.expect(&["Oops. Something went wrong and we need to start over."]);
    let eoc = r.messages.last().unwrap();
    assert_eq!(
        (eoc.kind.clone(), eoc.code.as_deref()),
        (MessageKind::EndOfConversation, Some("unknown"))
    );
    assert_eq!(errors.load(Ordering::SeqCst), 1, "the error hook ran once");
    let st = ann.state().await;
    assert!(st.stack.is_empty());
    assert!(st.conversation_data.is_empty(), "conversation data cleared");
    assert_eq!(
        st.user_data.get("name"),
        Some(&json!("Ann")),
        "user data kept"
    );
    assert_eq!(
        st.user_data.get("half-done"),
        None,
        "nothing else from the failed turn saved"
    );
}

#[tokio::test]
async fn end_conversation_says_goodbye_and_clears_conversation_state() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(|s, _| {
                s.user_data_mut().insert("visits".into(), json!(1));
                s.conversation_data_mut().insert("c".into(), json!(1));
                s.private_conversation_data_mut()
                    .insert("p".into(), json!(1));
                prompts::text(s, "Anything else?")
            })
            .step(|s, _| {
                s.end_conversation(Some("Goodbye!"));
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await;
    let r = ann.say("no").await;
    r.expect(&["Goodbye!"]);
    assert_eq!(r.messages[1].kind, MessageKind::EndOfConversation);
    assert_eq!(r.messages[1].code.as_deref(), Some("completedSuccessfully"));
    let st = ann.state().await;
    assert!(st.stack.is_empty() && st.conversation_data.is_empty() && st.private_data.is_empty());
    assert_eq!(st.user_data["visits"], json!(1));
}

fn counter_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            let n = s
                .user_data()
                .get("count")
                .and_then(|v| v.as_i64())
                .unwrap_or(0)
                + 1;
            s.user_data_mut().insert("count".into(), json!(n));
            s.send(format!("count {n}"));
            s.end_dialog();
            Ok(())
        }),
    )
}

#[tokio::test]
async fn simultaneous_messages_of_one_conversation_both_count() {
    let t = TestBot::new(counter_bot());
    t.storage.set_read_delay(Duration::from_millis(30));
    let ann = t.user("ann");
    let (a, b) = tokio::join!(ann.say("one"), ann.say("two"));
    assert!(a.outcome.is_ok() && b.outcome.is_ok());
    assert_eq!(ann.state().await.user_data["count"], json!(2));
}

#[tokio::test]
async fn two_bot_processes_racing_on_one_user_lose_no_update() {
    let t1 = TestBot::new(counter_bot());
    let t2 = t1.sharing(counter_bot());
    t1.storage.set_read_delay(Duration::from_millis(30));
    let (u1, u2) = (t1.user("ann"), t2.user("ann"));
    let (a, b) = tokio::join!(u1.say("one"), u2.say("two"));
    let attempts = a.outcome.unwrap().attempts + b.outcome.unwrap().attempts;
    assert!(
        attempts >= 3,
        "one of the turns lost the compare-and-set and ran again ({attempts})"
    );
    assert_eq!(t1.user("ann").state().await.user_data["count"], json!(2));
    let mut texts: Vec<String> = t1.channel.sent().into_iter().map(|m| m.text).collect();
    texts.sort();
    assert_eq!(
        texts,
        ["count 1", "count 2"],
        "no message sent twice, none from the lost attempt"
    );
}

#[tokio::test]
async fn a_dialog_that_begins_itself_forever_gets_a_typed_error() {
    let bot = Bot::builder()
        .step_budget(200)
        .max_stack_depth(1_000)
        .dialog("/", Waterfall::new().step(|s, _| s.begin_dialog("/", None)));
    let t = TestBot::new(bot);
    let r = t.user("ann").say("hi").await;
    assert!(
        matches!(
            r.error(),
            Some(BotError::StepBudgetExceeded { budget: 200, .. })
        ),
        "{:?}",
        r.error()
    );
    r.expect(&["Oops. Something went wrong and we need to start over."]);
    assert!(t.user("ann").state().await.stack.is_empty());
    // The same loop hits the depth guard first when the stack limit is lower.
    let bot = Bot::builder()
        .max_stack_depth(50)
        .dialog("/", Waterfall::new().step(|s, _| s.begin_dialog("/", None)));
    let r = TestBot::new(bot).user("ann").say("hi").await;
    assert!(matches!(
        r.error(),
        Some(BotError::StackTooDeep { max: 50, .. })
    ));
}

#[tokio::test]
async fn beginning_an_unknown_dialog_changes_nothing() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            let err = s.begin_dialog("nope", None).unwrap_err();
            assert!(matches!(err, BotError::DialogNotFound(ref id) if id == "nope"));
            s.send(format!("{err}"));
            prompts::text(s, "still here")
        }),
    );
    let t = TestBot::new(bot);
    t.user("ann")
        .say("hi")
        .await
        .expect(&["dialog not found: nope", "still here"]);
    assert_eq!(
        t.user("ann").state().await.stack_ids(),
        ["*:/", "BotBuilder:prompt-text"]
    );
    let err = t
        .bot
        .begin_dialog(
            &t.user("ann").address,
            "*:nope",
            None,
            botcore::ProactiveMode::Interrupt,
        )
        .await;
    assert!(matches!(err, Err(BotError::DialogNotFound(_))));
}

#[tokio::test]
async fn a_stored_stack_naming_an_unknown_dialog_is_reset() {
    // The old deployment leaves users waiting in `legacy` (a step that waits for any reply).
    let old = || {
        Bot::builder()
            .dialog(
                "/",
                Waterfall::new().step(|s, _| s.begin_dialog("legacy", None)),
            )
            .dialog(
                "legacy",
                Waterfall::new().step(|s, _| {
                    s.send("legacy waits");
                    Ok(())
                }),
            )
    };
    let new = || {
        Bot::builder().dialog(
            "/",
            Waterfall::new().step(|s, _| prompts::text(s, "new root")),
        )
    };
    let t = TestBot::new(old());
    t.user("ann").say("hi").await.expect(&["legacy waits"]);
    t.user("bo").say("hi").await.expect(&["legacy waits"]);
    // Default (v3): the error message and a reset; the next message starts the root dialog.
    let v3 = t.sharing(new());
    let r = v3.user("ann").say("hello").await;
    assert!(matches!(r.error(), Some(BotError::DialogNotFound(id)) if id == "*:legacy"));
    r.expect(&["Oops. Something went wrong and we need to start over."]);
    assert!(v3.user("ann").state().await.stack.is_empty());
    v3.user("ann").say("hello").await.expect(&["new root"]);
    // RestartRoot: the message goes to the root dialog at once, silently.
    let restart = t.sharing(new().unknown_dialog_policy(UnknownDialogPolicy::RestartRoot));
    restart.user("bo").say("hello").await.expect(&["new root"]);
    assert_eq!(
        restart.user("bo").state().await.stack_ids(),
        ["*:/", "BotBuilder:prompt-text"]
    );
}

#[tokio::test]
async fn libraries_namespace_dialogs_and_unqualified_ids_resolve_against_the_top() {
    let survey = Library::new("survey")
        .dialog(
            "main",
            Waterfall::new().step(|s, _| s.begin_dialog("question", None)),
        )
        .dialog(
            "question",
            Waterfall::new().step(|s, _| prompts::text(s, "survey question")),
        );
    let bot = Bot::builder()
        .library(survey)
        .dialog(
            "question",
            Waterfall::new().step(|s, _| prompts::text(s, "root question")),
        )
        .dialog(
            "/",
            Waterfall::new().step(|s, _| s.begin_dialog("survey:main", None)),
        );
    let t = TestBot::new(bot);
    t.user("ann").say("hi").await.expect(&["survey question"]);
    assert_eq!(
        t.user("ann").state().await.stack_ids(),
        [
            "*:/",
            "survey:main",
            "survey:question",
            "BotBuilder:prompt-text"
        ]
    );
}

#[tokio::test]
async fn prompts_speak_the_preferred_locale_with_fallback() {
    let l = botcore::Localizer::new("en")
        .add(
            "es",
            [
                ("BotBuilder:number_retry", "No es un número."),
                ("how_many", "¿Cuántos?"),
            ],
        )
        .add("en", [("how_many", "How many?")]);
    let bot = Bot::builder().localizer(l).dialog(
        "/",
        Waterfall::new()
            .step(|s, _| {
                if s.message().text == "es" {
                    s.set_preferred_locale("es-MX");
                }
                prompts::number(s, "how_many")
            })
            .step(|s, _| {
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    t.user("ana").say("es").await.expect(&["¿Cuántos?"]);
    t.user("ana")
        .say("muchos")
        .await
        .expect(&["No es un número."]);
    t.user("bob").say("en").await.expect(&["How many?"]);
    t.user("bob")
        .say("lots")
        .await
        .expect(&["I didn't recognize that as a number. Please enter a number."]);
}

#[tokio::test]
async fn a_turn_that_sends_nothing_still_saves() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            s.user_data_mut().insert("seen".into(), json!(true));
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let r = t.user("ann").say("psst").await;
    assert!(r.messages.is_empty());
    assert_eq!(t.user("ann").state().await.user_data["seen"], json!(true));
    assert!(
        t.bot
            .last_access(&t.user("ann").address)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_storage_outage_is_a_typed_error_and_loses_nothing() {
    let t = TestBot::new(counter_bot());
    t.user("ann").say("one").await.expect(&["count 1"]);
    t.storage.set_down(true);
    let r = t.user("ann").say("two").await;
    assert!(matches!(
        r.error(),
        Some(BotError::Storage(botcore::StorageError::Unavailable(_)))
    ));
    assert!(
        r.messages.is_empty(),
        "nothing is sent for a turn that could not be saved"
    );
    t.storage.set_down(false);
    t.user("ann").say("three").await.expect(&["count 2"]);
}
