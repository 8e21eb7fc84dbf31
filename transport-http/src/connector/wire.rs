//! The URLs the connector calls and what it reads from the channel's answers.

use botcore::DeliveryError;
use reqwest::header;
use serde_json::Value;
use std::time::Duration;
use url::Url;

fn not_allowed(service_url: &str) -> DeliveryError {
    DeliveryError::ServiceUrlNotAllowed(service_url.to_owned())
}

/// A refusal made before any request: the address cannot be put in a URL.
pub(super) fn invalid(code: &str) -> DeliveryError {
    DeliveryError::Permanent {
        status: 400,
        code: Some(code.to_owned()),
    }
}

/// `id` as one path segment of an outbound URL, or `InvalidConversationId` /
/// `InvalidActivityId` (`code`) when it cannot be one: empty, `.` or `..`. URL parsers and
/// servers resolve those as "this folder" and "the folder above" even percent-encoded
/// (`%2E`, `.%2e`, ...), so no escaping carries them: a conversation `..` would post to
/// `/v3/activities/{id}`.
pub(super) fn path_id<'a>(id: &'a str, code: &str) -> Result<&'a str, DeliveryError> {
    match id {
        "" | "." | ".." => Err(invalid(code)),
        _ => Ok(id),
    }
}

/// Percent-encodes a path segment as the Bot Framework SDKs do (`encodeURIComponent`):
/// conversation ids such as Teams' `19:...;messageid=...` arrive at the channel intact, and
/// `/`, `?`, `#` and `%` cannot change the path.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{service_url}/v3/conversations/...`, each segment percent-encoded. Segments must have
/// passed [`path_id`]; a dot segment slipping through is refused here all the same.
pub(super) fn endpoint(service_url: &str, segments: &[&str]) -> Result<Url, DeliveryError> {
    let mut url = Url::parse(service_url.trim()).map_err(|_| not_allowed(service_url))?;
    if url.cannot_be_a_base() {
        return Err(not_allowed(service_url));
    }
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().trim_end_matches('/').to_owned();
    path.push_str("/v3/conversations");
    for s in segments {
        path.push('/');
        path.push_str(&encode_segment(path_id(s, "InvalidConversationId")?));
    }
    url.set_path(&path);
    Ok(url)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the channels).
pub(super) fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    })
}

/// The channel's error code: Teams' `subCode` when it gives one — at the top, under
/// `error`, or inside a `message` that is itself JSON, as in
/// `{"errorCode":209,"message":"{\"subCode\":\"MessageWritesBlocked\",...}"}` — else the
/// Bot Framework's `{"error":{"code":"..."}}`.
pub(super) fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error");
    sub_code(&v)
        .or_else(|| error.and_then(sub_code))
        .or_else(|| error?.get("code").and_then(text))
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 100)
        .map(str::to_owned)
}

fn sub_code(v: &Value) -> Option<String> {
    v.get("subCode").and_then(text).or_else(|| {
        let inner: Value = serde_json::from_str(v.get("message")?.as_str()?).ok()?;
        inner.get("subCode").and_then(text)
    })
}

/// The `id` of a channel's answer (`{"id":"..."}`).
pub(super) fn id_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_encode_segments_and_keep_the_base_path() {
        let u = endpoint(
            "https://smba.trafficmanager.net/emea/",
            &["a:1;messageid=2", "activities", "x/y?#%"],
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/a%3A1%3Bmessageid%3D2/activities/x%2Fy%3F%23%25"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:3000", &[]).unwrap().as_str(),
            "http://127.0.0.1:3000/v3/conversations"
        );
        assert!(matches!(
            endpoint("nope", &[]),
            Err(DeliveryError::ServiceUrlNotAllowed(_))
        ));
    }

    #[test]
    fn dot_segments_are_refused_because_no_escape_survives_url_parsing() {
        // Why refusing is the only safe answer: percent-encoded dots are dot segments too.
        let mut u = Url::parse("http://h/").unwrap();
        u.set_path("/v3/conversations/%2E%2E/activities/x");
        assert_eq!(u.path(), "/v3/activities/x");
        for id in ["", ".", ".."] {
            assert_eq!(
                path_id(id, "InvalidActivityId"),
                Err(invalid("InvalidActivityId"))
            );
            assert_eq!(
                endpoint("http://h", &["c", "activities", id]),
                Err(invalid("InvalidConversationId"))
            );
        }
        // Dots inside an id, and encoded dots, are ordinary characters.
        let u = endpoint("http://h", &["...", "activities", "%2E%2E", "a.b"]).unwrap();
        assert_eq!(u.path(), "/v3/conversations/.../activities/%252E%252E/a.b");
    }

    #[test]
    fn error_codes_and_retry_after_are_read() {
        let code = |b: &str| error_code(b.as_bytes());
        assert_eq!(
            code(r#"{"error":{"code":"BotBlocked","message":"no"}}"#).as_deref(),
            Some("BotBlocked")
        );
        let blocked = r#"{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}"#;
        assert_eq!(code(blocked).as_deref(), Some("MessageWritesBlocked"));
        assert_eq!(
            code(r#"{"error":{"code":"Forbidden","subCode":"MessageWritesBlocked"}}"#).as_deref(),
            Some("MessageWritesBlocked")
        );
        assert_eq!(code(r#"{"error":{"code":"","message":"x"}}"#), None);
        assert_eq!(code("<html>"), None);
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
