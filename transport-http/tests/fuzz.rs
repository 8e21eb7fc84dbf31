//! Thousands of random and mutated activities into `POST /api/messages`: no panic, no 5xx.

mod common;

use common::*;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use storage_memory::MemoryStorage;
use transport_http::{HttpSettings, HttpTransport};

const CASES: usize = 3000;
const BODY_LIMIT: usize = 16 * 1024;

/// xorshift64*: small, deterministic, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn string(&mut self) -> String {
        let pieces = [
            "",
            "hi",
            "profile",
            "fail",
            "42",
            "Ann",
            " ",
            "\u{0}",
            "\n",
            "é",
            "🤖",
            "\"",
            "\\",
            "<b>",
            "%2F",
            "a:b;c=d",
            "9999999999999999999999",
        ];
        let n = self.below(4);
        (0..n)
            .map(|_| *self.pick(&pieces))
            .collect::<Vec<_>>()
            .concat()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(self.chance(50)),
            2 => json!(self.next() as i64),
            3 => json!((self.next() as f64) / 7.0),
            4 | 5 => Value::String(self.string()),
            6 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(4) {
                    let k = self.pick(&FIELDS).to_string();
                    m.insert(k, self.value(depth - 1));
                }
                Value::Object(m)
            }
        }
    }
}

const FIELDS: [&str; 14] = [
    "type",
    "id",
    "channelId",
    "serviceUrl",
    "from",
    "recipient",
    "conversation",
    "text",
    "locale",
    "attachments",
    "entities",
    "channelData",
    "value",
    "name",
];
const KINDS: [&str; 9] = [
    "message",
    "conversationUpdate",
    "typing",
    "event",
    "invoke",
    "endOfConversation",
    "contactRelationUpdate",
    "",
    "Message",
];

fn template(rng: &mut Rng) -> Value {
    let conv = format!("c{}", rng.below(20));
    let mut a = activity("http://127.0.0.1:9/", "directline", &conv, &rng.string());
    a["type"] = json!(rng.pick(&KINDS));
    a
}

fn mutate(rng: &mut Rng, v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    let field = rng.pick(&FIELDS).to_string();
    match rng.below(6) {
        0 => {
            obj.remove(&field);
        }
        1 => {
            obj.insert(field, rng.value(3));
        }
        2 => {
            let sub = rng.pick(&["from", "recipient", "conversation"]).to_string();
            let inner = rng
                .pick(&["id", "name", "isGroup", "tenantId", "role"])
                .to_string();
            let value = rng.value(2);
            match obj.get_mut(&sub) {
                Some(Value::Object(m)) => {
                    m.insert(inner, value);
                }
                _ => {
                    obj.insert(sub, value);
                }
            }
        }
        3 => {
            obj.insert(format!("x{}", rng.below(1000)), rng.value(3));
        }
        4 => {
            let url = rng.pick(&[
                "",
                "ftp://x",
                "http://",
                "not a url",
                "https://ok.example.com/a/",
                "http://[::1]:1/",
            ]);
            obj.insert("serviceUrl".into(), json!(url));
        }
        _ => {
            obj.insert(
                "text".into(),
                json!("é".repeat(rng.below(3 * BODY_LIMIT / 2))),
            );
        }
    }
}

/// One request body: mutated activities mostly, raw garbage and pathological JSON sometimes.
fn body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        1 => rng.value(4).to_string().into_bytes(),
        2 => format!(
            "{}{}",
            "[".repeat(100 + rng.below(400)),
            "]".repeat(rng.below(500))
        )
        .into_bytes(),
        _ => {
            let mut v = template(rng);
            for _ in 0..1 + rng.below(4) {
                mutate(rng, &mut v);
            }
            let mut bytes = v.to_string().into_bytes();
            if rng.chance(10) && !bytes.is_empty() {
                bytes.truncate(rng.below(bytes.len()));
            }
            if rng.chance(10) && !bytes.is_empty() {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            bytes
        }
    }
}

#[tokio::test]
async fn random_and_mutated_activities_never_cause_a_5xx_or_a_dropped_connection() {
    let connector = RecordingConnector::default();
    let (bot, seen) = test_bot(connector.clone(), MemoryStorage::new());
    let mut settings = HttpSettings::without_auth();
    settings.body_limit = BODY_LIMIT;
    let addr = serve(HttpTransport::new(settings).unwrap().router(bot)).await;
    let url = format!("http://{addr}/api/messages");

    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1));
                let mut statuses = BTreeMap::<u16, usize>::new();
                for i in 0..CASES / 4 {
                    let b = body(&mut rng);
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b.clone())
                        .send()
                        .await;
                    let status = match resp {
                        Ok(r) => r.status().as_u16(),
                        Err(e) => panic!(
                            "worker {w} case {i}: no answer ({e}) to {}",
                            String::from_utf8_lossy(&b)
                        ),
                    };
                    assert!(
                        status < 500,
                        "worker {w} case {i}: {status} for {}",
                        String::from_utf8_lossy(&b)
                    );
                    *statuses.entry(status).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut all = BTreeMap::<u16, usize>::new();
    for w in workers {
        for (s, n) in w.await.unwrap() {
            *all.entry(s).or_default() += n;
        }
    }
    assert_eq!(all.values().sum::<usize>(), CASES);
    assert!(all.keys().all(|s| [200, 400, 413].contains(s)), "{all:?}");
    // The mix really exercised all three paths.
    assert!(
        all[&200] > CASES / 10 && all[&400] > CASES / 10 && all[&413] > 10,
        "{all:?}"
    );
    assert!(seen.turns() > 0);

    // Still healthy afterwards.
    let before = connector.texts().len();
    let ok = reqwest::Client::new()
        .post(&url)
        .json(&activity(
            "http://127.0.0.1:9/",
            "directline",
            "after",
            "hi",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(connector.texts()[before..], ["echo: hi"]);
}
