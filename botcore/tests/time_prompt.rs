//! The time prompt: English phrases and ISO 8601 resolved in the user's time zone (from
//! `localTimezone`, else `localTimestamp`'s offset, else UTC), against the bot's clock.

use botcore::{Bot, BotBuilder, Localizer, Message, Prompt, Waterfall, prompts};
use std::time::Duration;
use transport_mock::{TestBot, TestUser};

const TIME_RETRY: &str = "I didn't recognize the time you entered. Please try again using a format of (MM/DD/YYYY HH:MM:SS).";

/// Asks "When?" and echoes the answer as RFC 9557 text.
fn when_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::time(s, "When?"))
            .step(async |s, r| {
                let when = r.time()?;
                s.send(when.to_string());
                s.end_dialog();
                Ok(())
            }),
    )
}

/// Sends `text` as a user of the given time zone (IANA name and/or local timestamp).
async fn say_in(user: &TestUser, text: &str, tz: Option<&str>, local: Option<&str>) -> Vec<String> {
    let mut m = Message::to(&user.address).text(text);
    m.local_timezone = tz.map(str::to_owned);
    m.local_timestamp = local.map(str::to_owned);
    let replies = user.send(m).await;
    replies.texts().into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn english_phrases_resolve_in_the_users_iana_time_zone() {
    // The test clock starts at 2023-11-14T22:13:20Z: a Tuesday, 17:13:20 in New York.
    let t = TestBot::new(when_bot());
    let ann = t.user("ann");
    let ny = Some("America/New_York");
    for (said, expected) in [
        (
            "tomorrow at 5pm",
            "2023-11-15T17:00:00-05:00[America/New_York]",
        ),
        (
            "in 10 minutes",
            "2023-11-14T17:23:20-05:00[America/New_York]",
        ),
        (
            "next monday at noon",
            "2023-11-20T12:00:00-05:00[America/New_York]",
        ),
        (
            "2024-03-01T10:00:00Z",
            "2024-03-01T05:00:00-05:00[America/New_York]",
        ),
        (
            "2024-07-04 09:30",
            "2024-07-04T09:30:00-04:00[America/New_York]",
        ),
    ] {
        assert_eq!(say_in(&ann, "hi", ny, None).await, ["When?"]);
        assert_eq!(say_in(&ann, said, ny, None).await, [expected], "{said}");
    }
}

#[tokio::test]
async fn now_is_the_bots_clock() {
    let t = TestBot::new(when_bot());
    let ann = t.user("ann");
    t.clock.advance(Duration::from_secs(24 * 3600));
    ann.say("hi").await;
    ann.say("in 10 minutes")
        .await
        .expect(&["2023-11-15T22:23:20+00:00[UTC]"]);
}

#[tokio::test]
async fn without_a_time_zone_the_offset_of_local_timestamp_is_used_then_utc() {
    let t = TestBot::new(when_bot());
    let ann = t.user("ann");
    let local = Some("2023-11-14T23:13:20.000+01:00");
    say_in(&ann, "hi", None, local).await;
    assert_eq!(
        say_in(&ann, "tomorrow at 9am", None, local).await,
        ["2023-11-15T09:00:00+01:00[+01:00]"]
    );
    ann.say("hi").await;
    ann.say("tomorrow at 9am")
        .await
        .expect(&["2023-11-15T09:00:00+00:00[UTC]"]);
}

#[tokio::test]
async fn a_bad_time_gets_v3s_retry_text_then_a_good_one_answers() {
    let t = TestBot::new(when_bot());
    t.transcript(
        "ann",
        &format!(
            "
            > hi
            < When?
            > whenever
            < {TIME_RETRY}
            > 12
            < {TIME_RETRY}
            > 11/20/2023 08:15:00
            < 2023-11-20T08:15:00+00:00[UTC]
            "
        ),
    )
    .await;
}

#[tokio::test]
async fn the_time_retry_text_is_localized_and_a_custom_one_wins() {
    let l = Localizer::new("en").add("de", [("BotBuilder:time_retry", "Wann genau?")]);
    let bot = Bot::builder().localizer(l).dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| match s.text() {
                "custom" => Prompt::time("When?")
                    .retry_prompt("A time, please.")
                    .begin(s),
                _ => prompts::time(s, "When?"),
            })
            .step(async |s, r| {
                s.send(r.time()?.to_string());
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.send(Message::to(&ann.address).text("hi").locale("de"))
        .await;
    ann.send(Message::to(&ann.address).text("bald").locale("de"))
        .await
        .expect(&["Wann genau?"]);
    let bo = t.user("bo");
    bo.say("custom").await;
    bo.say("soon").await.expect(&["A time, please."]);
}

#[tokio::test]
async fn reading_a_text_answer_as_a_time_is_a_result_kind_error() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, "Name?"))
            .step(async |s, r| {
                match r.time() {
                    Ok(t) => s.send(format!("time {t}")),
                    Err(e) => s.send(format!("not a time: {e}")),
                }
                s.end_dialog();
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await;
    let replies = ann.say("tomorrow").await;
    assert!(
        replies.texts()[0].starts_with("not a time"),
        "{:?}",
        replies.texts()
    );
}
