//! The outbound connector against a loopback fake Connector service when sends fail:
//! bounded retries after throttling, a fresh token after a 401, connection failures, and
//! typed errors for what must not be retried.

mod common;

use botcore::{Connector, DeliveryError, Message};
use common::fake_connector::{Fake, Scripted, address, reply, settings, setup};
use serde_json::json;
use std::time::{Duration, Instant};
use transport_http::HttpTransport;

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let (fake, addr, c) = setup().await;
    fake.then(Scripted {
        retry_after: Some("1"),
        ..reply(429, json!({}))
    });
    let started = Instant::now();
    let r = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(r.activity_id.as_deref(), Some("act-2"));
    assert_eq!(
        fake.requests().len(),
        2,
        "delivered exactly once after one throttled attempt"
    );
}

#[tokio::test]
async fn throttling_gives_up_after_bounded_attempts_and_waits() {
    let (fake, addr, c) = setup().await;
    for _ in 0..3 {
        fake.then(Scripted {
            retry_after: Some("0"),
            ..reply(429, json!({}))
        });
    }
    let e = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Throttled {
            retry_after: Some(Duration::ZERO)
        }
    );
    assert_eq!(fake.requests().len(), 3, "max_attempts");

    fake.script.lock().unwrap().clear();
    fake.then(Scripted {
        retry_after: Some("60"),
        ..reply(429, json!({}))
    });
    let started = Instant::now();
    let e = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(60))
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a wait over max_wait is not slept"
    );
    assert_eq!(fake.requests().len(), 4);
    assert!(e.is_retry_safe());
}

#[tokio::test]
async fn server_errors_and_timeouts_are_ambiguous_and_never_replayed() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(500, json!({"error": {"code": "ServiceError"}})));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Ambiguous(_)), "{e:?}");
    assert!(!e.is_retry_safe());
    assert_eq!(fake.requests().len(), 1);

    fake.then(Scripted {
        delay: Duration::from_secs(2),
        ..reply(200, json!({"id": "late"}))
    });
    let started = Instant::now();
    let e = c.send(&Message::to(&a).text("slow")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Ambiguous(_)), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the request timeout applies"
    );
    assert_eq!(
        fake.requests().len(),
        2,
        "the timed-out request was not sent again"
    );
}

#[tokio::test]
async fn refusals_are_permanent_with_the_channels_code() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(
        403,
        json!({"error": {"code": "BotBlocked", "message": "blocked"}}),
    ));
    fake.then(reply(
        404,
        json!({"error": {"code": "ConversationNotFound"}}),
    ));
    fake.then(reply(400, json!("not an error object")));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 403,
            code: Some("BotBlocked".into())
        }
    );
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 404,
            code: Some("ConversationNotFound".into())
        }
    );
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 400,
            code: None
        }
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_401_fetches_a_fresh_token_and_retries_once() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(401, json!({})));
    c.send(&Message::to(&a).text("x")).await.unwrap();
    let auths: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| r.auth.unwrap())
        .collect();
    assert_eq!(auths, ["Bearer t1", "Bearer t2"]);
    assert_eq!(fake.tokens_issued(), 2);

    fake.then(reply(401, json!({})));
    fake.then(reply(401, json!({})));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Auth(_)), "{e:?}");
    assert_eq!(fake.requests().len(), 4, "one retry, not more");
    assert_eq!(fake.tokens_issued(), 3);
}

#[tokio::test]
async fn connection_failures_are_retried_then_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let (fake, addr) = Fake::start().await;
    let c = HttpTransport::new(settings(addr)).unwrap().connector();
    let started = Instant::now();
    let e = c
        .send(&Message::to(&address(&format!("http://{closed}"))).text("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Unreachable(_)), "{e:?}");
    assert!(e.is_retry_safe());
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "backed off between attempts (20 + 40 ms)"
    );
    assert_eq!(fake.tokens_issued(), 1);
}
