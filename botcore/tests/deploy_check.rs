//! The deploy check for CI, and the bot-wide version (v3's `dialogVersion`): what a new
//! release would do to 1,000 stored conversations, counted exactly; a raised bot-wide
//! version resets stale stacks with its message, and the reset command resets on demand.

use botcore::deploy::{CheckReport, check, check_storage};
use botcore::{
    Bot, BotBuilder, BotError, DialogVersion, Precondition, Storage, StorageExt, VersionPolicy,
    Waterfall, WriteOp, json, prompts,
};
use transport_mock::{MOCK_CHANNEL_ID, TestBot};

fn ask() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| prompts::text(s, "Size?"))
        .step(async |s, _| prompts::text(s, "Address?"))
        .step(async |s, _| {
            s.send("Done");
            s.end_dialog();
        })
}

/// The code being deployed.
fn release() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| s.begin_dialog("order"))
        .dialog("order", ask())
        .version(2)
        .migrate(1, |frame| {
            frame.set_step(frame.step() + 1);
            Ok(())
        })
        .formerly("pizza")
        .dialog("survey", ask())
        .version(1)
        .on_version_mismatch(VersionPolicy::RestartDialog {
            message: "Let's start the survey again.".into(),
        })
        .dialog("legacy", ask())
        .version(3)
        .on_version_mismatch(VersionPolicy::Refuse)
        .dialog("gadget", ask())
        .version(1)
}

/// One stored conversation whose stack has `frame` (or nothing) above the root dialog.
fn record(frame: Option<(&str, u32)>, prompt: &botcore::Value) -> botcore::Value {
    let mut callstack = vec![json!({"id": "*:/", "state": {"BotBuilder.Data.WaterfallStep": 0}})];
    if let Some((id, version)) = frame {
        // Waiting at the address: step 1 of version 2, step 0 before it (the migration moves
        // the frame one step on).
        let step = u32::from(version >= 2);
        let mut state = json!({"BotBuilder.Data.WaterfallStep": step, "size": "large"});
        if version > 0 {
            state["botcore.Version"] = json!(version);
        }
        callstack.push(json!({"id": id, "state": state}));
        callstack.push(json!({"id": "BotBuilder:prompt-text", "state": prompt}));
    }
    if frame.is_none() {
        callstack.clear();
    }
    json!({"BotBuilder.Data.SessionState": {"callstack": callstack, "lastAccess": 0, "version": 0}})
}

/// 1,000 conversations, one in ten of each kind.
async fn stored_sample(t: &TestBot) {
    // A text prompt's frame, as a real turn stores it.
    let asker =
        TestBot::new(Bot::builder().dialog_fn("/", async |s, _| prompts::text(s, "Address?")));
    let x = asker.user("x");
    x.say("hi").await.expect(&["Address?"]);
    let prompt = botcore::Value::Object(x.state().await.stack[1].state.clone());
    let mut ops = Vec::new();
    for i in 0..1_000 {
        let frame = match i % 10 {
            0..=2 => Some(("*:order", 2)), // up to date
            3 | 4 => Some(("*:order", 1)), // migrated
            5 => Some(("*:pizza", 1)),     // renamed and migrated
            6 => Some(("*:survey", 0)),    // no migration: restarted
            7 => Some(("*:legacy", 1)),    // no migration: refused
            8 => Some(("*:gadget", 0)),    // no migration, the bot's default: reset
            _ => None,                     // nothing on the stack
        };
        let key = format!("private/{MOCK_CHANNEL_ID}/conv-u{i}/u{i}");
        ops.push(WriteOp::put(
            &key,
            record(frame, &prompt),
            Precondition::Any,
        ));
    }
    t.storage.write_many(ops).await.unwrap();
}

#[tokio::test]
async fn the_check_reports_exact_counts_on_1000_stored_conversations() {
    let old = TestBot::new(Bot::builder());
    stored_sample(&old).await;
    let deployed = old.sharing(release());
    let (sample, next) = old
        .storage
        .read_page("private/", None, 1_000)
        .await
        .unwrap();
    assert_eq!(sample.len(), 1_000);
    let _ = next;
    let report = check(&deployed.bot, &sample);
    let counts = |r: &CheckReport| (r.migrated, r.restarted, r.reset, r.refused, r.unchanged);
    assert_eq!(counts(&report), (300, 100, 100, 100, 400));
    assert_eq!(report.refused_keys.len(), 100);
    assert!(report.refused_keys.iter().all(|k| k.ends_with('7')));
    // Page by page over the whole storage, the same.
    let paged = check_storage(&deployed.bot, &old.storage, 64)
        .await
        .unwrap();
    assert_eq!(paged, report);
    // The check wrote nothing.
    let (again, _) = old
        .storage
        .read_page("private/", None, 1_000)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|(k, s)| (k, &s.value)).collect::<Vec<_>>(),
        sample
            .iter()
            .map(|(k, s)| (k, &s.value))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_check_agrees_with_what_the_next_turns_do() {
    let old = TestBot::new(Bot::builder());
    stored_sample(&old).await;
    let deployed = old.sharing(release());
    let say = async |i: usize| deployed.user(&format!("u{i}")).say("Main St").await;
    say(0).await.expect(&["Done"]); // unchanged
    say(3).await.expect(&["Done"]); // migrated past the address
    say(5).await.expect(&["Done"]); // renamed
    say(6)
        .await
        .expect(&["Let's start the survey again.", "Size?"]);
    say(8).await.expect(&[
        "Oops. Something went wrong and we need to start over.",
        "Size?",
    ]);
    let r = say(7).await;
    assert!(matches!(
        r.error(),
        Some(BotError::DialogVersion {
            stored: 1,
            current: 3,
            ..
        })
    ));
    say(9).await.expect(&["Size?"]);
}

fn bot_wide(version: u32) -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| s.begin_dialog("order"))
        .dialog("order", ask())
        .dialog_version(DialogVersion {
            version,
            message: "I've been updated: let's start over.".into(),
            reset_command: Some("/reset".into()),
        })
}

#[tokio::test]
async fn a_raised_bot_wide_version_resets_stale_stacks_with_its_message() {
    let t = TestBot::new(bot_wide(1));
    let ann = t.user("ann");
    // A new conversation is not told anything.
    ann.say("hi").await.expect(&["Size?"]);
    ann.say("large").await.expect(&["Address?"]);
    let deployed = t.sharing(bot_wide(2));
    let sample = t.storage.read_page("private/", None, 10).await.unwrap().0;
    assert_eq!(check(&deployed.bot, &sample).reset, 1);
    let ann = deployed.user("ann");
    ann.say("Main St")
        .await
        .expect(&["I've been updated: let's start over.", "Size?"]);
    // Stored at the new version: the next turn goes on.
    ann.say("small").await.expect(&["Address?"]);
    assert_eq!(
        check(
            &deployed.bot,
            &t.storage.read_page("private/", None, 10).await.unwrap().0
        )
        .reset,
        0
    );
}

#[tokio::test]
async fn the_reset_command_resets_on_demand() {
    let t = TestBot::new(bot_wide(1));
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Size?"]);
    ann.say(" /RESET ")
        .await
        .expect(&["I've been updated: let's start over."]);
    assert!(ann.state().await.stack.is_empty());
    ann.say("hi").await.expect(&["Size?"]);
}
