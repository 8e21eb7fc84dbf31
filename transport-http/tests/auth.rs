//! Inbound JWT validation against a loopback OpenID metadata + key set server.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use storage_memory::MemoryStorage;
use transport_http::{HttpSettings, HttpTransport};

const SERVICE_URL: &str = "https://smba.example.net/emea/";

struct Harness {
    url: String,
    keys: KeyServer,
    seen: Seen,
    connector: RecordingConnector,
    client: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let keys = KeyServer::start(vec![jwk(KEY1_PEM, "k1", &["directline", "msteams"])]).await;
        let mut settings = HttpSettings::new(APP_ID, "");
        settings.openid_metadata_url = keys.metadata_url();
        settings.key_refresh_min_interval = Duration::from_millis(300);
        let transport = HttpTransport::new(settings).unwrap();
        let connector = RecordingConnector::default();
        let (bot, seen) = test_bot(connector.clone(), MemoryStorage::new());
        let addr = serve(transport.router(bot)).await;
        Self {
            url: format!("http://{addr}/api/messages"),
            keys,
            seen,
            connector,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut req = self.client.post(&self.url).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts a message with `token` and expects `status`, with the bot never involved.
    async fn refused(&self, token: Option<&str>, body: &Value, status: StatusCode, reason: &str) {
        let (got, answer) = self.post(token, body).await;
        assert_eq!(got, status, "{reason}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "a short reason is given: {answer}"
        );
        assert_eq!(self.seen.turns(), 0, "{reason}: no dialog ran");
        assert!(
            self.connector.texts().is_empty(),
            "{reason}: nothing was sent"
        );
    }
}

fn msg() -> Value {
    activity(SERVICE_URL, "msteams", "c1", "hi")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn a_valid_token_reaches_the_bot() {
    let h = Harness::start().await;
    let token = sign(KEY1_PEM, "k1", &claims(SERVICE_URL));
    let (status, _) = h.post(Some(&token), &msg()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.seen.turns(), 1);
    assert_eq!(h.connector.texts(), ["echo: hi"]);
    // Within the clock leeway an expired token is still accepted.
    let late = with(claims(SERVICE_URL), "exp", json!(now() - 60));
    let (status, _) = h.post(Some(&sign(KEY1_PEM, "k1", &late)), &msg()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.keys.jwks_fetches(), 1, "keys are cached");
}

#[tokio::test]
async fn missing_and_malformed_tokens_are_401() {
    let h = Harness::start().await;
    h.refused(None, &msg(), StatusCode::UNAUTHORIZED, "no header")
        .await;
    h.refused(
        Some("not-a-jwt"),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "garbage",
    )
    .await;
    let resp = h
        .client
        .post(&h.url)
        .header("authorization", "Basic dXNlcjpwdw==")
        .json(&msg())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(h.seen.turns(), 0);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_401() {
    let h = Harness::start().await;
    let expired = with(claims(SERVICE_URL), "exp", json!(now() - 3600));
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &expired)),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "expired",
    )
    .await;
    let early = with(claims(SERVICE_URL), "nbf", json!(now() + 3600));
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &early)),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "nbf in the future",
    )
    .await;
}

#[tokio::test]
async fn wrong_audience_and_issuer_are_403() {
    let h = Harness::start().await;
    let aud = with(claims(SERVICE_URL), "aud", json!("another-bot"));
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &aud)),
        &msg(),
        StatusCode::FORBIDDEN,
        "audience",
    )
    .await;
    let iss = with(
        claims(SERVICE_URL),
        "iss",
        json!("https://evil.example.com"),
    );
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &iss)),
        &msg(),
        StatusCode::FORBIDDEN,
        "issuer",
    )
    .await;
}

#[tokio::test]
async fn the_serviceurl_claim_must_match_the_activity() {
    let h = Harness::start().await;
    let other = claims("https://attacker.example.com/");
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &other)),
        &msg(),
        StatusCode::FORBIDDEN,
        "serviceurl mismatch",
    )
    .await;
    let mut none = claims(SERVICE_URL);
    none.as_object_mut().unwrap().remove("serviceurl");
    h.refused(
        Some(&sign(KEY1_PEM, "k1", &none)),
        &msg(),
        StatusCode::FORBIDDEN,
        "serviceurl missing",
    )
    .await;
    // The same URL written differently (no trailing slash, default port) is the same URL.
    let same = claims("https://SMBA.example.net:443/emea");
    assert_eq!(
        h.post(Some(&sign(KEY1_PEM, "k1", &same)), &msg()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_signing_key_must_be_endorsed_for_the_channel() {
    let h = Harness::start().await;
    let token = sign(KEY1_PEM, "k1", &claims(SERVICE_URL));
    let slack = activity(SERVICE_URL, "slack", "c1", "hi");
    h.refused(
        Some(&token),
        &slack,
        StatusCode::FORBIDDEN,
        "channel not endorsed",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_key_id_refreshes_the_keys_once_then_is_accepted_when_published() {
    let h = Harness::start().await;
    let good = sign(KEY1_PEM, "k1", &claims(SERVICE_URL));
    assert_eq!(h.post(Some(&good), &msg()).await.0, StatusCode::OK);
    assert_eq!(h.keys.jwks_fetches(), 1);
    h.seen.turns.store(0, std::sync::atomic::Ordering::SeqCst);
    h.connector.sent.lock().unwrap().clear();

    let rotated = sign(KEY2_PEM, "k2", &claims(SERVICE_URL));
    tokio::time::sleep(Duration::from_millis(350)).await;
    h.refused(
        Some(&rotated),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "key not published yet",
    )
    .await;
    assert_eq!(
        h.keys.jwks_fetches(),
        2,
        "an unknown kid refreshes the key set"
    );
    h.refused(
        Some(&rotated),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "still unknown",
    )
    .await;
    assert_eq!(h.keys.jwks_fetches(), 2, "refreshes are rate-limited");

    h.keys
        .keys
        .lock()
        .unwrap()
        .push(jwk(KEY2_PEM, "k2", &["msteams"]));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(h.post(Some(&rotated), &msg()).await.0, StatusCode::OK);
    assert_eq!(h.keys.jwks_fetches(), 3);
    assert_eq!(h.seen.turns(), 1);
}

#[tokio::test]
async fn concurrent_requests_on_a_cold_cache_fetch_the_keys_once() {
    let h = Harness::start().await;
    let token = sign(KEY1_PEM, "k1", &claims(SERVICE_URL));
    let posts = (0..16).map(|i| {
        let (client, url, token) = (h.client.clone(), h.url.clone(), token.clone());
        async move {
            let body = activity(SERVICE_URL, "msteams", &format!("c{i}"), "hi");
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_join_all(posts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(h.keys.jwks_fetches(), 1);
    assert_eq!(
        h.keys
            .metadata_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(h.seen.turns(), 16);
}

async fn futures_join_all<F: std::future::Future<Output = StatusCode> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<StatusCode> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn alg_none_hs256_and_tampered_tokens_are_401() {
    let h = Harness::start().await;
    let body = b64url(claims(SERVICE_URL).to_string().as_bytes());
    let none = format!(
        "{}.{body}.",
        b64url(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#)
    );
    h.refused(Some(&none), &msg(), StatusCode::UNAUTHORIZED, "alg none")
        .await;

    // HS256 keyed with the public key material: the classic algorithm-confusion forgery.
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("k1".into());
    let forged = jsonwebtoken::encode(
        &hs,
        &claims(SERVICE_URL),
        &jsonwebtoken::EncodingKey::from_secret(KEY1_PEM),
    )
    .unwrap();
    h.refused(Some(&forged), &msg(), StatusCode::UNAUTHORIZED, "HS256")
        .await;

    let good = sign(KEY1_PEM, "k1", &claims(SERVICE_URL));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let tampered_claims = with(claims(SERVICE_URL), "exp", json!(now() + 10 * 365 * 86400));
    let swapped_payload = format!(
        "{head}.{}.{sig}",
        b64url(tampered_claims.to_string().as_bytes())
    );
    h.refused(
        Some(&swapped_payload),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "payload changed",
    )
    .await;

    let mut flipped = good.clone().into_bytes();
    let i = flipped.len() - 5;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    h.refused(
        Some(&flipped),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "signature changed",
    )
    .await;

    let other_key = sign(KEY2_PEM, "k1", &claims(SERVICE_URL));
    h.refused(
        Some(&other_key),
        &msg(),
        StatusCode::UNAUTHORIZED,
        "signed by another key",
    )
    .await;
}

#[tokio::test]
async fn auth_on_without_an_app_id_is_a_configuration_error() {
    let err = HttpTransport::new(HttpSettings::default()).unwrap_err();
    assert!(err.to_string().contains("app id"), "{err}");
}
