//! [`ListStyle`]: how a prompt shows its choices, as v3 names the styles, and the rendering
//! of a prompt's message for the user's channel ([`ChannelCapabilities`]).

use crate::contracts::card::{CardAction, HeroCard, SuggestedActions};
use crate::contracts::message::Message;
use crate::model::channels::ChannelCapabilities;
use crate::model::session::Session;
use serde::{Deserialize, Serialize};

/// How a prompt shows its choices (v3 `ListStyle`). Set with
/// [`Prompt::list_style`](crate::Prompt::list_style).
///
/// ```
/// use botcore::{ListStyle, Prompt};
/// let p = Prompt::choice("Which size?", ["small", "large"]).list_style(ListStyle::Button);
/// assert_eq!(p.list_style, ListStyle::Button);
/// assert_eq!(Prompt::confirm("Sure?").list_style, ListStyle::Auto);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListStyle {
    /// The prompt text alone; the choices are not shown.
    None,
    /// The choices after the text: `Which size? (1. small, 2. medium, or 3. large)`.
    Inline,
    /// The choices one per line, numbered, under the text.
    List,
    /// Buttons: suggested actions where the channel has them, else a hero card (a text
    /// channel's connector shows the card as text).
    Button,
    /// Buttons where the channel shows them (see [`ChannelCapabilities`]), else text: a
    /// choice prompt lists up to three choices inline and more as a list, a confirm prompt
    /// sends its text alone.
    #[default]
    Auto,
}

impl ListStyle {
    /// Whether this is [`ListStyle::Auto`], the default.
    pub fn is_auto(&self) -> bool {
        *self == Self::Auto
    }
}

/// How one prompt message shows its choices, once style and channel are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rendering {
    Plain,
    Inline,
    List,
    SuggestedActions,
    HeroCard,
}

fn resolve(style: ListStyle, caps: ChannelCapabilities, n: usize, text_lists: bool) -> Rendering {
    if n == 0 {
        return Rendering::Plain;
    }
    let buttons = || {
        if caps.supports_suggested_actions(n) {
            Some(Rendering::SuggestedActions)
        } else if caps.supports_card_actions(n) {
            Some(Rendering::HeroCard)
        } else {
            None
        }
    };
    match style {
        ListStyle::None => Rendering::Plain,
        ListStyle::Inline => Rendering::Inline,
        ListStyle::List => Rendering::List,
        ListStyle::Button => buttons().unwrap_or(Rendering::HeroCard),
        ListStyle::Auto => buttons().unwrap_or(match (text_lists, n <= 3) {
            (false, _) => Rendering::Plain,
            (true, true) => Rendering::Inline,
            (true, false) => Rendering::List,
        }),
    }
}

fn inline(session: &Session, text: &str, choices: &[String]) -> String {
    let or = session.localize("BotBuilder:list_or");
    let items: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {c}", i + 1))
        .collect();
    let list = match items.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a}{or}{b}"),
        [init @ .., last] => format!("{},{or}{last}", init.join(", ")),
        [] => String::new(),
    };
    format!("{text} ({list})")
}

fn list(text: &str, choices: &[String]) -> String {
    // v3's list style: a blank line, then one numbered choice per line.
    let mut s = format!("{text}\n");
    for (i, c) in choices.iter().enumerate() {
        s.push_str(&format!("\n   {}. {}", i + 1, c));
    }
    s
}

fn im_backs(choices: &[String]) -> impl Iterator<Item = CardAction> + '_ {
    choices
        .iter()
        .map(|c| CardAction::im_back(c.clone(), c.clone()))
}

/// The prompt message with `choices` shown in `style` for the session's channel.
/// `text_lists`: whether [`ListStyle::Auto`] lists the choices as text where the channel has
/// no buttons (choice prompts) or sends the text alone (confirm prompts).
pub(crate) fn render(
    session: &Session,
    text: &str,
    choices: &[String],
    style: ListStyle,
    text_lists: bool,
) -> Message {
    let caps = ChannelCapabilities::of(&session.address().channel_id);
    let m = Message::to(session.address());
    match resolve(style, caps, choices.len(), text_lists) {
        Rendering::Plain => m.text(text),
        Rendering::Inline => m.text(inline(session, text, choices)),
        Rendering::List => m.text(list(text, choices)),
        Rendering::SuggestedActions => m
            .text(text)
            .suggested(SuggestedActions::new(im_backs(choices))),
        Rendering::HeroCard => m
            .text(text)
            .card(HeroCard::new().buttons(im_backs(choices))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_suggested_actions_then_a_card_then_text() {
        let web = ChannelCapabilities::of("webchat");
        let teams = ChannelCapabilities::of("msteams");
        let fb = ChannelCapabilities::of("facebook");
        let text = ChannelCapabilities::TEXT;
        let auto = ListStyle::Auto;
        assert_eq!(resolve(auto, web, 5, true), Rendering::SuggestedActions);
        assert_eq!(resolve(auto, teams, 3, true), Rendering::HeroCard);
        assert_eq!(resolve(auto, teams, 4, true), Rendering::List);
        assert_eq!(resolve(auto, fb, 11, true), Rendering::List);
        assert_eq!(resolve(auto, text, 3, true), Rendering::Inline);
        assert_eq!(resolve(auto, text, 2, false), Rendering::Plain);
        assert_eq!(
            resolve(ListStyle::Button, text, 2, true),
            Rendering::HeroCard
        );
        assert_eq!(resolve(ListStyle::List, web, 2, true), Rendering::List);
        assert_eq!(resolve(ListStyle::None, web, 2, true), Rendering::Plain);
        assert_eq!(resolve(auto, web, 0, true), Rendering::Plain);
    }
}
