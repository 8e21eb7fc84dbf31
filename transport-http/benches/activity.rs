//! The wire conversions of one activity:
//!
//! - `activity/json_to_message`: a Web Chat-sized inbound activity's JSON bytes →
//!   [`Message`] ([`message_from_body`], as `POST /api/messages` reads it);
//! - `activity/message_to_json`: a reply [`Message`] → the outgoing activity's JSON bytes
//!   ([`Activity::outgoing`] serialized, as the connector sends it).
//!
//! `cargo bench -p transport-http --bench activity`.

use botcore::Message;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use transport_http::activity::{Activity, message_from_body};

/// An inbound message activity with the fields a channel typically sends.
const INBOUND: &str = r#"{
  "type": "message",
  "id": "Jx3bYk2Lq8a-o|0000001",
  "timestamp": "2024-05-14T09:12:31.123Z",
  "localTimestamp": "2024-05-14T11:12:31.000+02:00",
  "localTimezone": "Europe/Paris",
  "serviceUrl": "https://directline.botframework.com/",
  "channelId": "webchat",
  "from": {"id": "dl_8c3f0e0a6f1b4d1a", "name": "Ann", "role": "user"},
  "conversation": {"id": "Jx3bYk2Lq8a-o"},
  "recipient": {"id": "bench-bot@abc123", "name": "bench-bot"},
  "textFormat": "plain",
  "locale": "fr-FR",
  "text": "I would like a large pizza with mushrooms, please",
  "entities": [{"type": "ClientCapabilities", "requiresBotState": true, "supportsListening": true, "supportsTts": true}],
  "channelData": {"clientActivityID": "1715677951123abcd", "clientTimestamp": "2024-05-14T09:12:31.100Z"}
}"#;

fn json_to_message(c: &mut Criterion) {
    let body = INBOUND.as_bytes();
    let mut g = c.benchmark_group("activity");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("json_to_message", |b| {
        b.iter(|| message_from_body(black_box(body)).expect("activity"))
    });
    g.finish();
}

fn message_to_json(c: &mut Criterion) {
    let inbound = message_from_body(INBOUND.as_bytes()).expect("activity");
    let reply = Message::to(&inbound.address).text("Thanks Ann, a large pizza with mushrooms.");
    let mut g = c.benchmark_group("activity");
    g.bench_function("message_to_json", |b| {
        b.iter(|| {
            let activity = Activity::outgoing(black_box(&reply), "app-id");
            serde_json::to_vec(&activity).expect("json")
        })
    });
    g.finish();
}

criterion_group!(benches, json_to_message, message_to_json);
criterion_main!(benches);
