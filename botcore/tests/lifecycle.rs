//! Members joining and leaving (`conversationUpdate`): `BotBuilder::welcome`,
//! `on_members_added` / `on_members_removed`, and `on_event` still seeing every other
//! activity.

use botcore::{
    Bot, BotBuilder, ChannelAccount, EventAction, Localizer, MembersChanged, Message, MessageKind,
    json,
};
use std::sync::{Arc, Mutex};
use transport_mock::{TestBot, TestUser};

/// A conversationUpdate from `user`'s channel with these members added and removed.
fn update(user: &TestUser, added: &[&str], removed: &[&str]) -> Message {
    let ids = |ids: &[&str]| json!(ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>());
    let mut m = Message::of_kind(MessageKind::ConversationUpdate, &user.address);
    if !added.is_empty() {
        m.extra.insert("membersAdded".into(), ids(added));
    }
    if !removed.is_empty() {
        m.extra.insert("membersRemoved".into(), ids(removed));
    }
    m
}

fn root() -> BotBuilder {
    Bot::builder().dialog_fn("/", async |s, _| s.send("root"))
}

/// Every members event a bot saw, as `added:…` / `removed:…` lines.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, what: &str, event: &MembersChanged) {
        let ids = |m: &[ChannelAccount]| m.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let line = format!(
            "{what}: +{:?} -{:?} bot+{} bot-{}",
            ids(&event.added),
            ids(&event.removed),
            event.bot_added,
            event.bot_removed
        );
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn welcome_greets_the_user_once_not_the_bot() {
    let t = TestBot::new(root().welcome("Hi! I'm the pizza bot."));
    let ann = t.user("ann");
    let r = ann.send(update(&ann, &["ann", "bot"], &[])).await;
    r.expect(&["Hi! I'm the pizza bot."]);
    let greeting = &r.messages[0];
    assert_eq!(greeting.address.user.id, "ann");
    assert_eq!(greeting.address.conversation_id(), Some("conv-ann"));
    assert_eq!(
        greeting.address.id, None,
        "a new message, not a reply to the update"
    );
    let outcome = r.outcome.expect("delivered");
    assert_eq!(outcome.deliveries.len(), 1);
    assert!(!outcome.ran_turn);
    // The bot joining on its own greets nobody.
    ann.send(update(&ann, &["bot"], &[])).await.expect(&[]);
    // Neither does a plain message.
    ann.say("hello").await.expect(&["root"]);
}

#[tokio::test]
async fn welcome_greets_every_member_who_joins_a_group() {
    let t = TestBot::new(root().welcome("Welcome!"));
    let ann = t.user_in("ann", "team");
    let r = ann.send(update(&ann, &["bob", "bot", "cy"], &[])).await;
    r.expect(&["Welcome!", "Welcome!"]);
    let to: Vec<&str> = r
        .messages
        .iter()
        .map(|m| m.address.user.id.as_str())
        .collect();
    assert_eq!(to, ["bob", "cy"]);
}

#[tokio::test]
async fn the_welcome_text_is_localized_in_the_updates_locale() {
    let localizer = Localizer::new("en")
        .add("en", [("welcome", "Welcome!")])
        .add("es", [("welcome", "¡Bienvenido!")]);
    let t = TestBot::new(root().localizer(localizer).welcome("welcome"));
    let ann = t.user("ann");
    let r = ann.send(update(&ann, &["ann"], &[]).locale("es-ES")).await;
    r.expect(&["¡Bienvenido!"]);
    assert_eq!(r.messages[0].locale.as_deref(), Some("es-ES"));
    let bob = t.user("bob");
    bob.send(update(&bob, &["bob"], &[]))
        .await
        .expect(&["Welcome!"]);
}

#[tokio::test]
async fn members_removed_raises_the_removed_event() {
    let seen = Seen::default();
    let (on_added, on_removed) = (seen.clone(), seen.clone());
    let t = TestBot::new(
        root()
            .on_members_added(move |e| {
                on_added.push("added", e);
                Vec::new()
            })
            .on_members_removed(move |e| {
                on_removed.push("removed", e);
                e.removed
                    .iter()
                    .map(|m| Message::from(format!("Bye {}!", m.id)))
                    .collect()
            }),
    );
    let ann = t.user_in("ann", "team");
    let r = ann.send(update(&ann, &[], &["bob"])).await;
    r.expect(&["Bye bob!"]);
    assert_eq!(r.messages[0].address.conversation_id(), Some("team"));
    assert_eq!(
        seen.lines(),
        [r#"removed: +[] -["bob"] bot+false bot-false"#]
    );

    ann.send(update(&ann, &["bot"], &[])).await.expect(&[]);
    ann.send(update(&ann, &[], &["bot"])).await;
    assert_eq!(
        seen.lines()[1..],
        [
            r#"added: +[] -[] bot+true bot-false"#,
            r#"removed: +[] -[] bot+false bot-true"#
        ]
    );
    // An update naming no members raises nothing.
    ann.send(update(&ann, &[], &[])).await.expect(&[]);
    assert_eq!(seen.lines().len(), 3);
}

#[tokio::test]
async fn the_bot_is_known_by_its_role_when_the_update_named_no_recipient() {
    let t = TestBot::new(root().welcome("Hello"));
    let ann = t.user("ann");
    let mut m = update(&ann, &[], &[]);
    m.address.bot = ChannelAccount::default();
    m.extra.insert(
        "membersAdded".into(),
        json!([{"id": "ann", "role": "user"}, {"id": "b-1", "role": "bot"}]),
    );
    let r = ann.send(m).await;
    r.expect(&["Hello"]);
    assert_eq!(r.messages[0].address.user.id, "ann");
}

#[tokio::test]
async fn other_events_still_reach_on_event() {
    let t = TestBot::new(root().welcome("Welcome!").on_event(|m| {
        match (m.kind.clone(), m.name.as_deref()) {
            (MessageKind::Event, Some("ping")) => {
                EventAction::Reply(vec![Message::to(&m.address).text("pong")])
            }
            (MessageKind::ConversationUpdate, _) => {
                EventAction::Reply(vec![Message::to(&m.address).text("update seen")])
            }
            _ => EventAction::Ignore,
        }
    }));
    let ann = t.user("ann");
    let ping = Message::of_kind(MessageKind::Event, &ann.address).name("ping");
    ann.send(ping).await.expect(&["pong"]);
    // The update is greeted first, then on_event sees it too.
    let r = ann.send(update(&ann, &["ann"], &[])).await;
    r.expect(&["Welcome!", "update seen"]);
    assert_eq!(r.outcome.expect("delivered").deliveries.len(), 2);
    let typing = Message::of_kind(MessageKind::Typing, &ann.address);
    ann.send(typing).await.expect(&[]);
}

#[tokio::test]
async fn an_update_run_as_a_turn_is_greeted_before_the_turns_replies() {
    let t = TestBot::new(
        root()
            .welcome("Welcome!")
            .on_event(|_| EventAction::RunTurn),
    );
    let ann = t.user("ann");
    let r = ann.send(update(&ann, &["ann", "bot"], &[])).await;
    r.expect(&["Welcome!", "root"]);
    let outcome = r.outcome.expect("ran");
    assert!(outcome.ran_turn);
    assert_eq!(outcome.deliveries.len(), 2);
}

#[tokio::test]
async fn without_members_hooks_updates_are_ignored_as_before() {
    let t = TestBot::new(root());
    let ann = t.user("ann");
    let r = ann.send(update(&ann, &["ann", "bot"], &[])).await;
    r.expect(&[]);
    let outcome = r.outcome.expect("ignored");
    assert!(outcome.deliveries.is_empty() && !outcome.ran_turn);
}
