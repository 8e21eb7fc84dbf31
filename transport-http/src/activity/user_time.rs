//! Times on outgoing activities: `timestamp` in UTC, and `localTimestamp` in the user's time,
//! known from an inbound activity's `localTimezone` and `localTimestamp`.
//!
//! The address keeps the user's zone as `localTimezone` (only a name the time zone database
//! knows) and offset as `utcOffset` (`+02:00`). The zone wins: it follows daylight saving
//! time, so a proactive message weeks later still shows the user's wall-clock time.

use botcore::Address;
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde_json::Value;

/// The address field with the user's IANA time zone.
const ZONE_KEY: &str = "localTimezone";
/// The address field with the user's UTC offset.
const OFFSET_KEY: &str = "utcOffset";

/// `2024-05-01T10:00:00.000Z`: RFC 3339 in UTC, to the millisecond.
pub(crate) fn utc(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `now` in `zone`, RFC 3339 with its offset: `2024-05-01T12:00:00.000+02:00`.
fn in_zone(now: Timestamp, zone: TimeZone) -> String {
    now.to_zoned(zone)
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// The UTC offset an RFC 3339 timestamp was written in: `Z` is UTC, `+05:30` is 5½ hours
/// east. `None` when the text is not an RFC 3339 timestamp.
pub(crate) fn offset_of(timestamp: &str) -> Option<Offset> {
    let t = timestamp.trim();
    t.parse::<Timestamp>().ok()?;
    if t.ends_with(['Z', 'z']) {
        return Some(Offset::UTC);
    }
    numeric_offset(t.get(t.len().checked_sub(6)?..)?)
}

/// `+05:30` / `-08:00`.
fn numeric_offset(text: &str) -> Option<Offset> {
    let (sign, hm) = match text.as_bytes().first()? {
        b'+' => (1, text.get(1..)?),
        b'-' => (-1, text.get(1..)?),
        _ => return None,
    };
    let (h, m) = hm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let seconds = h.parse::<u8>().ok()? as i32 * 3600 + m.parse::<u8>().ok()? as i32 * 60;
    Offset::from_seconds(sign * seconds).ok()
}

/// `+05:30`, as [`numeric_offset`] reads it.
fn offset_text(offset: Offset) -> String {
    let s = offset.seconds();
    let sign = if s < 0 { '-' } else { '+' };
    let s = s.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// Keeps the user's time zone and offset from an inbound activity in its address.
pub(crate) fn remember(address: &mut Address, local_timestamp: Option<&str>, zone: Option<&str>) {
    if let Some(zone) = zone.map(str::trim).filter(|z| known_zone(z)) {
        address.extra.insert(ZONE_KEY.into(), zone.into());
    }
    if let Some(offset) = local_timestamp.and_then(offset_of) {
        address
            .extra
            .insert(OFFSET_KEY.into(), offset_text(offset).into());
    }
}

fn known_zone(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && TimeZone::get(name).is_ok()
}

/// The user's local time at `now`, when the address knows their zone or offset.
pub(crate) fn local_now(address: &Address, now: Timestamp) -> Option<String> {
    let text = |key: &str| address.extra.get(key).and_then(Value::as_str);
    if let Some(zone) = text(ZONE_KEY).and_then(|z| TimeZone::get(z).ok()) {
        return Some(in_zone(now, zone));
    }
    let offset = numeric_offset(text(OFFSET_KEY)?)?;
    Some(in_zone(now, TimeZone::fixed(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcore::ChannelAccount;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn utc_is_rfc3339_to_the_millisecond() {
        assert_eq!(utc(at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(at(1_714_557_600_123)), "2024-05-01T10:00:00.123Z");
        assert_eq!(utc(at(951_782_400_000)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn offsets_are_read_from_rfc3339_timestamps() {
        let secs = |t: &str| offset_of(t).map(|o| o.seconds());
        assert_eq!(secs("2024-05-01T12:00:00.123+02:00"), Some(7200));
        assert_eq!(secs("2024-05-01T04:30:00-05:30"), Some(-19800));
        assert_eq!(secs("2024-05-01T10:00:00.1234567Z"), Some(0));
        assert_eq!(secs("2024-05-01T10:00:00"), None, "no offset");
        assert_eq!(secs("yesterday+02:00"), None);
        assert_eq!(secs(""), None);
        let text = |s: i32| offset_text(Offset::from_seconds(s).unwrap());
        assert_eq!(
            (text(0), text(-19800), text(20700)),
            ("+00:00".into(), "-05:30".into(), "+05:45".into())
        );
    }

    #[test]
    fn the_zone_beats_the_offset_and_follows_daylight_saving_time() {
        let mut a = Address::new(
            "webchat",
            ChannelAccount::new("u"),
            ChannelAccount::new("b"),
        );
        assert_eq!(local_now(&a, at(0)), None, "nothing known");
        // Written in summer (+02:00) from Berlin; a message in January is at +01:00.
        remember(
            &mut a,
            Some("2024-07-01T12:00:00+02:00"),
            Some("Europe/Berlin"),
        );
        assert_eq!(a.extra["utcOffset"], "+02:00");
        let january = at(1_704_103_200_000); // 2024-01-01T10:00:00Z
        assert_eq!(
            local_now(&a, january).as_deref(),
            Some("2024-01-01T11:00:00.000+01:00")
        );
        a.extra.remove("localTimezone");
        assert_eq!(
            local_now(&a, january).as_deref(),
            Some("2024-01-01T12:00:00.000+02:00")
        );
    }

    #[test]
    fn unknown_zones_and_malformed_times_are_not_kept() {
        let mut a = Address::default();
        remember(&mut a, Some("soon"), Some("Mars/Olympus_Mons"));
        remember(&mut a, None, Some(&"x".repeat(100)));
        assert!(a.extra.is_empty());
    }
}
