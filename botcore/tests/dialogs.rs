//! Waterfalls and stack operations through the public API and the mock channel: children
//! handing results to parents, replace, guards against runaway stacks, unknown dialogs and
//! library namespaces.

mod common;

use botcore::{Bot, BotBuilder, BotError, Library, UnknownDialogPolicy, Waterfall, prompts};
use common::{Log, V3_ERROR, assert_v3_reset};
use serde::{Deserialize, Serialize};
use transport_mock::TestBot;

#[derive(Serialize, Deserialize, Default)]
struct ParentData {
    mine: String,
}

#[derive(Serialize, Deserialize, Default)]
struct ChildArgs {
    n: u32,
}

#[derive(Serialize, Deserialize, Default)]
struct ChildData {
    #[serde(rename = "child-only")]
    child_only: bool,
}

fn child_bot(log: Log) -> BotBuilder {
    Bot::builder()
        .app_data(log)
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    s.dialog_data_mut().set(&ParentData {
                        mine: "kept".into(),
                    })?;
                    s.begin_dialog_with("child", &ChildArgs { n: 1 });
                    Ok(())
                })
                .step(async |s, r| {
                    let data: ParentData = s.dialog_data().get()?;
                    s.app_data::<Log>()?.push(format!(
                        "parent got {:?} from {} with data {:?}",
                        r.text()?,
                        r.child_id.as_deref().unwrap_or_default(),
                        data.mine
                    ));
                    s.begin_dialog("bubbler");
                    Ok(())
                })
                .step(async |s, r| {
                    s.app_data::<Log>()?
                        .push(format!("bubbled {}", r.number()?));
                    s.begin_dialog("replacer");
                    Ok(())
                })
                .step(async |s, r| {
                    // `end_dialog()` hands the parent `true`, as v3's `endDialog()` does.
                    s.app_data::<Log>()?.push(format!(
                        "after replace got {:?}",
                        r.value::<Option<bool>>()?
                    ));
                    s.send("parent resumed after replace");
                    Ok(())
                }),
        )
        .dialog(
            "child",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "child asks"))
                .step(async |s, r| {
                    s.dialog_data_mut().set(&ChildData { child_only: true })?;
                    s.end_dialog_with(&format!("answer:{}", r.text()?));
                    Ok(())
                }),
        )
        .dialog(
            "bubbler",
            Waterfall::new().step(async |s, _| prompts::number(s, "bubbler asks")),
        )
        .dialog(
            "replacer",
            Waterfall::new().step(async |s, _| s.replace_dialog("final")),
        )
        .dialog(
            "final",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "final asks"))
                .step(async |s, r| {
                    s.send(format!("final got {}", r.text()?));
                    s.end_dialog();
                    Ok(())
                }),
        )
}

#[tokio::test]
async fn children_hand_results_to_parents_and_replace_does_not_resume_in_between() {
    let log = Log::default();
    let t = TestBot::new(child_bot(log.clone()));
    let ann = t.user("ann");
    ann.say("go").await.expect(&["child asks"]);
    let st = ann.state().await;
    assert_eq!(st.stack_ids(), ["*:/", "*:child", "BotBuilder:prompt-text"]);
    // The stored shape of the parent's frame: its data is a plain field of the frame's state.
    assert_eq!(
        st.stack[0].state["mine"],
        botcore::json!("kept"),
        "the parent keeps its data while the child runs"
    );
    ann.say("x").await.expect(&["bubbler asks"]);
    assert_eq!(
        log.lines()[0],
        r#"parent got "answer:x" from *:child with data "kept""#
    );
    assert!(
        !ann.state().await.stack[0].state.contains_key("child-only"),
        "the child's data went with the child"
    );
    // The bubbler runs past its last step: its last result (the prompt's 7) bubbles up.
    ann.say("7").await.expect(&["final asks"]);
    assert_eq!(log.lines()[1], "bubbled 7");
    // `replace_dialog` swapped replacer for final without resuming the parent in between.
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "*:final", "BotBuilder:prompt-text"]
    );
    ann.say("done")
        .await
        .expect(&["final got done", "parent resumed after replace"]);
    assert_eq!(log.lines()[2], "after replace got Some(true)");
    assert_eq!(log.lines().len(), 3);
}

#[tokio::test]
async fn a_dialog_that_begins_itself_forever_gets_a_typed_error() {
    let bot = Bot::builder()
        .step_budget(200)
        .max_stack_depth(1_000)
        .dialog("/", Waterfall::new().step(async |s, _| s.begin_dialog("/")));
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
    assert_v3_reset(&r);
    assert!(t.user("ann").state().await.stack.is_empty());
    // The same loop hits the depth guard first when the stack limit is lower.
    let bot = Bot::builder()
        .max_stack_depth(50)
        .dialog("/", Waterfall::new().step(async |s, _| s.begin_dialog("/")));
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
        Waterfall::new().step(async |s, _| {
            let err = s
                .try_begin_dialog("nope")
                .expect_err("there is no dialog nope");
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
        .proactive(&t.user("ann").address)
        .begin("*:nope")
        .interrupt()
        .await;
    assert!(matches!(err, Err(BotError::DialogNotFound(_))));
}

#[tokio::test]
async fn beginning_an_unknown_dialog_from_a_step_fails_the_turn_like_v3() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, "Ready?"))
            .step(async |s, _| {
                s.send("this is never delivered");
                s.begin_dialog("nope");
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Ready?"]);
    let r = ann.say("yes").await;
    assert!(
        matches!(r.error(), Some(BotError::DialogNotFound(id)) if id == "nope"),
        "{:?}",
        r.error()
    );
    assert_v3_reset(&r);
    assert!(ann.state().await.stack.is_empty());
    ann.say("hi").await.expect(&["Ready?"]);
}

#[tokio::test]
async fn a_stored_stack_naming_an_unknown_dialog_is_reset() {
    // The old deployment leaves users waiting in `legacy` (a step that waits for any reply).
    let old = || {
        Bot::builder()
            .dialog(
                "/",
                Waterfall::new().step(async |s, _| s.begin_dialog("legacy")),
            )
            .dialog_fn("legacy", async |s, _| s.send("legacy waits"))
    };
    let new = || {
        Bot::builder().dialog(
            "/",
            Waterfall::new().step(async |s, _| prompts::text(s, "new root")),
        )
    };
    let t = TestBot::new(old());
    t.user("ann").say("hi").await.expect(&["legacy waits"]);
    t.user("bo").say("hi").await.expect(&["legacy waits"]);
    // Default (v3): the error message and a reset; the next message starts the root dialog.
    let v3 = t.sharing(new());
    let r = v3.user("ann").say("hello").await;
    assert!(matches!(r.error(), Some(BotError::DialogNotFound(id)) if id == "*:legacy"));
    r.expect(&[V3_ERROR]);
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
            Waterfall::new().step(async |s, _| s.begin_dialog("question")),
        )
        .dialog(
            "question",
            Waterfall::new().step(async |s, _| prompts::text(s, "survey question")),
        );
    let bot = Bot::builder()
        .library(survey)
        .dialog(
            "question",
            Waterfall::new().step(async |s, _| prompts::text(s, "root question")),
        )
        .dialog(
            "/",
            Waterfall::new().step(async |s, _| s.begin_dialog("survey:main")),
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
