//! A model-based property test of the dialog stack: random user commands and proactive
//! interruptions run against a real bot (mock channel, memory storage) and against a small
//! reference model of Bot Builder v3's rules, written independently of botcore's driver.
//! After every action the stored stack and the replies must agree with the model.
//!
//! The bot: dialogs `/`, `a`, `b` and `c`, all the same two-step waterfall.
//! - Step 0, when the dialog is begun, says `<me>: begun` and waits.
//! - Step 0, when the user writes while the dialog is on top (v3: a waterfall restarts at
//!   step 0), obeys the text: `begin x`, `replace x`, `end`, `cancel`, `cancel x`, `next`,
//!   `finish`, `reset`, `quit`; anything else is echoed as `<me>: got <text>`.
//! - Step 1 (the dialog was resumed: a child ended or was canceled, or `next`) says
//!   `<me>: resumed <reason> from <child> with <value>`; after `finish` it moves on once more,
//!   running past its last step, which ends it (v3: the result goes to the parent).

mod support;

use botcore::{Bot, BotError, DialogResult, ResumeReason, Session, Value, Waterfall};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::fmt::Write as _;
use support::stack_model::Model;
use transport_mock::TestBot;

// ----------------------------------------------------------------------------------------
// The bot under test.
// ----------------------------------------------------------------------------------------

/// The running dialog's name without the `*:` library prefix.
fn me(s: &Session) -> String {
    unqualified(s.current_dialog().unwrap_or("?")).to_owned()
}

fn unqualified(id: &str) -> &str {
    id.strip_prefix("*:").unwrap_or(id)
}

fn reason_name(reason: ResumeReason) -> &'static str {
    match reason {
        ResumeReason::Completed => "completed",
        ResumeReason::NotCompleted => "notCompleted",
        ResumeReason::Canceled => "canceled",
        ResumeReason::Back => "back",
        ResumeReason::Forward => "forward",
        ResumeReason::Reprompt => "reprompt",
    }
}

fn value_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "nothing".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Step 0: begun (no value), or the user's text while on top.
async fn obey(s: &mut Session, r: DialogResult) {
    let me = me(s);
    let Some(text) = r.as_str().map(str::to_owned) else {
        s.send(format!("{me}: begun"));
        return;
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["begin", x] => {
            s.send(format!("{me}: beginning {x}"));
            s.begin_dialog(x);
        }
        ["replace", x] => {
            s.send(format!("{me}: replacing with {x}"));
            s.replace_dialog(x);
        }
        ["end"] => {
            s.send(format!("{me}: ending"));
            s.end_dialog();
        }
        ["cancel"] => {
            s.send(format!("{me}: canceling"));
            s.cancel_dialog();
        }
        ["cancel", x] => {
            s.send(format!("{me}: canceling {x}"));
            s.cancel_dialog_id(x);
        }
        ["next"] => {
            s.send(format!("{me}: next"));
            s.next_with(&"skipped");
        }
        ["finish"] => {
            s.send(format!("{me}: finishing"));
            s.next_with(&"finish");
        }
        ["reset"] => {
            s.send(format!("{me}: resetting"));
            s.reset();
        }
        ["quit"] => s.end_conversation(Some(&format!("{me}: bye"))),
        _ => s.send(format!("{me}: got {text}")),
    }
}

/// Step 1: resumed.
async fn resumed(s: &mut Session, r: DialogResult) {
    let me = me(s);
    let child = r.child_id.as_deref().map_or("nobody", unqualified);
    s.send(format!(
        "{me}: resumed {} from {child} with {}",
        reason_name(r.reason),
        value_text(r.value.as_ref())
    ));
    if r.as_str() == Some("finish") {
        // Past the last step: the waterfall ends.
        s.next();
    }
}

fn two_steps() -> Waterfall {
    Waterfall::new().step(obey).step(resumed)
}

fn test_bot() -> TestBot {
    TestBot::new(
        Bot::builder()
            .dialog("/", two_steps())
            .dialog("a", two_steps())
            .dialog("b", two_steps())
            .dialog("c", two_steps()),
    )
}

// The reference model (v3's stack rules, independent of botcore's driver) is in
// `support/stack_model.rs`.

// ----------------------------------------------------------------------------------------
// Actions and the property.
// ----------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Action {
    /// The user writes this text.
    Say(String),
    /// `bot.proactive(&addr).begin(x).interrupt()`.
    Interrupt(&'static str),
    /// `bot.proactive(&addr).begin(x).replace()`.
    Replace(&'static str),
}

const DIALOGS: [&str; 4] = ["/", "a", "b", "c"];

fn dialog() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&DIALOGS[..])
}

fn user_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("end".to_owned()),
        4 => dialog().prop_map(|x| format!("begin {x}")),
        2 => dialog().prop_map(|x| format!("replace {x}")),
        2 => Just("cancel".to_owned()),
        1 => dialog().prop_map(|x| format!("cancel {x}")),
        2 => Just("next".to_owned()),
        2 => Just("finish".to_owned()),
        1 => Just("reset".to_owned()),
        1 => Just("quit".to_owned()),
        2 => prop::sample::select(&["hi", "hello there", "42"][..]).prop_map(str::to_owned),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => user_text().prop_map(Action::Say),
        2 => dialog().prop_map(Action::Interrupt),
        1 => dialog().prop_map(Action::Replace),
    ]
}

/// Runs `actions` against a fresh bot and the model, checking after every action.
async fn check(actions: &[Action]) -> Result<(), TestCaseError> {
    let t = test_bot();
    let user = t.user("ann");
    let mut model = Model::default();
    let mut log = String::new();
    for (i, action) in actions.iter().enumerate() {
        let (got, want) = match action {
            Action::Say(text) => {
                let replies = user.say(text).await;
                prop_assert!(
                    replies.error().is_none(),
                    "action {i} ({action:?}) failed the turn: {:?}\n{log}",
                    replies.error()
                );
                let got: Vec<String> = replies.texts().into_iter().map(str::to_owned).collect();
                (got, model.user_says(text))
            }
            Action::Interrupt(id) | Action::Replace(id) => {
                let replace = matches!(action, Action::Replace(_));
                let begin = t.bot.proactive(&user.address).begin(id);
                let outcome = if replace {
                    begin.replace().await
                } else {
                    begin.interrupt().await
                };
                match model.proactive(id, replace) {
                    Some(want) => {
                        prop_assert!(
                            outcome.is_ok(),
                            "action {i} ({action:?}) was refused: {:?}\n{log}",
                            outcome.err()
                        );
                        (user.new_texts(), want)
                    }
                    None => {
                        prop_assert!(
                            matches!(outcome, Err(BotError::NotConsented { .. })),
                            "action {i} ({action:?}) before the user wrote: {outcome:?}\n{log}"
                        );
                        (user.new_texts(), Vec::new())
                    }
                }
            }
        };
        let _ = writeln!(log, "  {i}: {action:?} -> {got:?}");
        prop_assert_eq!(
            &got,
            &want,
            "replies differ at action {} ({:?}); so far:\n{}",
            i,
            action,
            log
        );
        let state = user.state().await;
        let stack: Vec<String> = state.stack_ids().into_iter().map(str::to_owned).collect();
        prop_assert_eq!(
            &stack,
            &model.ids(),
            "stacks differ after action {} ({:?}); so far:\n{}",
            i,
            action,
            log
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        // No regression file next to the tests; a failure prints its minimal sequence.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn random_stack_operations_and_interruptions_match_the_reference_model(
        actions in prop::collection::vec(action(), 1..=30)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(check(&actions))?;
    }
}

/// The model's own sanity: a scripted run with every kind of action, checked by hand.
#[test]
fn the_reference_model_follows_v3_on_a_scripted_run() {
    let mut m = Model::default();
    assert_eq!(m.proactive("a", false), None, "nobody to talk to yet");
    assert_eq!(m.user_says("begin a"), ["/: begun"]);
    assert_eq!(m.user_says("begin a"), ["/: beginning a", "a: begun"]);
    assert_eq!(m.proactive("b", false).unwrap(), ["b: begun"]);
    assert_eq!(
        m.user_says("end"),
        ["b: ending", "a: resumed completed from b with true"]
    );
    assert_eq!(m.ids(), ["*:/", "*:a"]);
    assert_eq!(m.user_says("hi"), ["a: got hi"]);
    assert_eq!(
        m.user_says("cancel"),
        ["a: canceling", "/: resumed canceled from a with nothing"]
    );
    assert_eq!(m.ids(), ["*:/"]);
    assert_eq!(m.proactive("c", true).unwrap(), ["c: begun"]);
    assert_eq!(m.ids(), ["*:c"]);
    assert_eq!(
        m.user_says("finish"),
        ["c: finishing", "c: resumed forward from nobody with finish"]
    );
    assert!(m.ids().is_empty());
}

fn run_script(actions: &[Action]) -> Result<(), TestCaseError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(check(actions))
}

fn say(text: &str) -> Action {
    Action::Say(text.to_owned())
}

/// v3's `next()` (a step's `skip`) resumes the waterfall with `ResumeReason.forward`.
#[test]
fn next_resumes_the_waterfall_with_forward_as_in_v3() {
    let mut m = Model::default();
    m.user_says("hi");
    assert_eq!(
        m.user_says("next"),
        ["/: next", "/: resumed forward from nobody with skipped"]
    );
    run_script(&[say("hi"), say("next")]).unwrap();
}

/// v3's `endDialogWithResult` sets `childId` to the dialog that ends, also when a waterfall
/// runs past its last step and hands on the result it got from its own child.
#[test]
fn a_waterfall_running_past_its_end_is_the_child_its_parent_sees() {
    let script = [
        say("hi"),
        say("begin a"),
        say("begin b"),
        say("end"),
        Action::Interrupt("c"),
        say("end"),
    ];
    let mut m = Model::default();
    for action in &script[..5] {
        match action {
            Action::Say(t) => drop(m.user_says(t)),
            Action::Interrupt(id) => drop(m.proactive(id, false)),
            Action::Replace(id) => drop(m.proactive(id, true)),
        }
    }
    assert_eq!(m.ids(), ["*:/", "*:a", "*:c"]);
    assert_eq!(
        m.user_says("end"),
        ["c: ending", "/: resumed completed from a with true"],
        "c ends, a (at its last step) runs past it and ends, / sees a as the child"
    );
    run_script(&script).unwrap();
}
