//! The time prompt's recognizer: ISO 8601 / RFC 3339 and common English phrases ("tomorrow
//! at 5pm", "in 10 minutes", "next monday at noon"), resolved in the user's time zone, and
//! [`DialogResult::time`] to read the answer.
//!
//! English phrases are parsed by the `interim` crate (US dialect: `03/04/2024` is March 4th,
//! "next monday" the coming Monday) after a light rewording of what it does not take ("at",
//! "in", "noon", "midnight", "an hour", a time before its day). Times are [`jiff`] values.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::model::result::DialogResult;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};
use serde_json::{Value, json};

/// The time zone of the user who sent `message`: its `localTimezone` (IANA) when the channel
/// gave a known one, else the offset of its `localTimestamp`, else UTC.
pub fn user_time_zone(message: &Message) -> TimeZone {
    if let Some(tz) = message
        .local_timezone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
    {
        return tz;
    }
    message
        .local_timestamp
        .as_deref()
        .and_then(offset_of)
        .map(TimeZone::fixed)
        .unwrap_or(TimeZone::UTC)
}

fn offset_of(timestamp: &str) -> Option<Offset> {
    let pieces = jiff::fmt::temporal::Pieces::parse(timestamp).ok()?;
    match pieces.offset()? {
        jiff::fmt::temporal::PiecesOffset::Numeric(n) => Some(n.offset()),
        jiff::fmt::temporal::PiecesOffset::Zulu => Some(Offset::UTC),
        _ => None,
    }
}

/// Reads a time in `text`, relative to `now` and in `now`'s time zone.
///
/// ```
/// use botcore::prompts::parse_time;
/// use botcore::jiff::{Timestamp, tz::TimeZone};
/// let tz = TimeZone::get("Europe/Paris").unwrap();
/// let now = Timestamp::from_second(1_700_000_000).unwrap().to_zoned(tz); // Tue 14 Nov 2023, 23:13
/// let t = parse_time("tomorrow at 5pm", &now).unwrap();
/// assert_eq!(t.to_string(), "2023-11-15T17:00:00+01:00[Europe/Paris]");
/// assert_eq!(parse_time("in 10 minutes", &now).unwrap().to_string(), "2023-11-14T23:23:20+01:00[Europe/Paris]");
/// assert!(parse_time("pizza", &now).is_none());
/// ```
pub fn parse_time(text: &str, now: &Zoned) -> Option<Zoned> {
    let text = text.trim().trim_end_matches(['.', '!', '?']);
    if text.is_empty() || text.chars().all(|c| c.is_ascii_digit()) {
        // A bare number is a year to the English parser, not a time anyone means.
        return None;
    }
    let tz = now.time_zone().clone();
    if let Ok(z) = text.parse::<Zoned>() {
        return Some(z.with_time_zone(tz));
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.to_zoned(tz));
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        // A local date-time without offset: the user's wall clock.
        return tz.to_ambiguous_zoned(dt).compatible().ok();
    }
    let english = reword(text);
    if english.is_empty() {
        return None;
    }
    interim::parse_date_string(&english, now.clone(), interim::Dialect::Us).ok()
}

fn is_time_word(w: &str) -> bool {
    let digits = w.trim_end_matches("am").trim_end_matches("pm");
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit())
        && (digits.len() < w.len() || digits.contains(':'))
}

/// Rewrites the phrases `interim` does not take into ones it does.
fn reword(text: &str) -> String {
    let lower = text
        .to_lowercase()
        .replace("a.m.", "am")
        .replace("p.m.", "pm");
    let mut words: Vec<String> = Vec::new();
    let mut iter = lower.split_whitespace().peekable();
    while let Some(w) = iter.next() {
        match w {
            "at" | "on" | "in" | "this" => {}
            "noon" | "midday" => words.push("12:00".into()),
            "midnight" => words.push("00:00".into()),
            "an" | "a" => words.push("1".into()),
            "half" if iter.peek() == Some(&"an") => {
                iter.next();
                if iter.peek().is_some_and(|n| n.starts_with("hour")) {
                    iter.next();
                }
                words.push("30 minutes".into());
            }
            "am" | "pm"
                if words
                    .last()
                    .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit() || c == ':')) =>
            {
                if let Some(last) = words.last_mut() {
                    last.push_str(w);
                }
            }
            w => words.push(w.trim_end_matches(',').to_owned()),
        }
    }
    for w in &mut words {
        // interim reads a bare "12pm" as midnight, and "12am" as noon.
        match w.as_str() {
            "12pm" => *w = "12:00".into(),
            "12am" => *w = "00:00".into(),
            _ => {}
        }
    }
    // "5pm tomorrow" → "tomorrow 5pm": interim wants the day first.
    if words.len() > 1 && is_time_word(&words[0]) {
        let time = words.remove(0);
        words.push(time);
    }
    words.join(" ")
}

/// The stored answer of a time prompt (v3's entity shape, with the zoned time as its start).
pub(crate) fn time_value(text: &str, time: &Zoned) -> Value {
    json!({
        "type": "botcore.time",
        "entity": text,
        "resolution": { "start": time.to_string() },
    })
}

impl DialogResult {
    /// The answer of a time prompt, in the user's time zone (see
    /// [`user_time_zone`](crate::prompts::user_time_zone)). Also reads a time as RFC 9557 /
    /// RFC 3339 text (a v3 result's `resolution.start`, a `next_with` value).
    pub fn time(&self) -> Result<Zoned, BotError> {
        let start = match &self.value {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(v) => v
                .get("resolution")
                .and_then(|r| r.get("start"))
                .and_then(Value::as_str),
            None => None,
        };
        start
            .and_then(|s| {
                s.parse::<Zoned>().ok().or_else(|| {
                    s.parse::<Timestamp>()
                        .ok()
                        .map(|t| t.to_zoned(TimeZone::UTC))
                })
            })
            .ok_or_else(|| BotError::ResultKind {
                expected: "time",
                found: match &self.value {
                    None => format!("no value ({:?})", self.reason),
                    Some(v) => format!("the JSON value {v}"),
                },
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        // Tuesday 14 November 2023, 17:13:20 in New York.
        let tz = TimeZone::get("America/New_York").unwrap();
        Timestamp::from_second(1_700_000_000).unwrap().to_zoned(tz)
    }

    fn at(text: &str) -> String {
        parse_time(text, &now())
            .map(|z| z.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn english_phrases_resolve_in_the_zone_of_now() {
        let ny = "-05:00[America/New_York]";
        assert_eq!(at("tomorrow at 5pm"), format!("2023-11-15T17:00:00{ny}"));
        assert_eq!(at("5 p.m. tomorrow"), format!("2023-11-15T17:00:00{ny}"));
        assert_eq!(at("in 10 minutes"), format!("2023-11-14T17:23:20{ny}"));
        assert_eq!(at("in an hour"), format!("2023-11-14T18:13:20{ny}"));
        assert_eq!(at("in half an hour"), format!("2023-11-14T17:43:20{ny}"));
        assert_eq!(
            at("next monday at noon"),
            format!("2023-11-20T12:00:00{ny}")
        );
        assert_eq!(at("friday at midnight"), format!("2023-11-17T00:00:00{ny}"));
        assert_eq!(at("12pm"), format!("2023-11-14T12:00:00{ny}"));
        assert_eq!(
            at("03/15/2024 14:30:00"),
            "2024-03-15T14:30:00-04:00[America/New_York]"
        );
    }

    #[test]
    fn iso_8601_keeps_its_instant_and_takes_the_users_zone() {
        assert_eq!(
            at("2024-03-01T10:00:00Z"),
            "2024-03-01T05:00:00-05:00[America/New_York]"
        );
        assert_eq!(
            at("2024-03-01T10:00"),
            "2024-03-01T10:00:00-05:00[America/New_York]"
        );
    }

    #[test]
    fn words_and_bare_numbers_are_not_times() {
        for text in ["pizza", "", "12", "2024", "at"] {
            assert_eq!(at(text), "", "{text:?}");
        }
    }

    #[test]
    fn the_zone_comes_from_the_timezone_then_the_timestamp_offset() {
        let mut m = Message::default();
        assert_eq!(user_time_zone(&m), TimeZone::UTC);
        m.local_timestamp = Some("2023-11-14T17:13:20.123-05:00".into());
        assert_eq!(user_time_zone(&m), TimeZone::fixed(jiff::tz::offset(-5)));
        m.local_timezone = Some("Asia/Tokyo".into());
        assert_eq!(user_time_zone(&m).iana_name(), Some("Asia/Tokyo"));
        m.local_timezone = Some("Not/AZone".into());
        assert_eq!(user_time_zone(&m), TimeZone::fixed(jiff::tz::offset(-5)));
    }
}
