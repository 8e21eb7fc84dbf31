//! Cards and attachments in the Bot Framework's wire shape: [`HeroCard`], [`ThumbnailCard`],
//! [`AdaptiveCard`], their [`CardAction`] buttons and [`CardImage`]s, the [`Attachment`] that
//! carries any of them, [`AttachmentLayout`] and [`SuggestedActions`].
//!
//! The builders serialize exactly as the Bot Framework schema names things (`contentType`,
//! `imBack`, `suggestedActions`, ...); a [`Message`](crate::Message) keeps them as JSON, so
//! stored jobs and transports see nothing new.
//!
//! ```
//! use botcore::{CardAction, HeroCard, Message, json};
//! let card = HeroCard::new()
//!     .title("Pizza")
//!     .image("https://example.invalid/pizza.png")
//!     .button(CardAction::im_back("Order", "order pizza"));
//! let m = Message::default().text("Today's special").card(card);
//! assert_eq!(m.attachments[0]["contentType"], "application/vnd.microsoft.card.hero");
//! assert_eq!(
//!     m.attachments[0]["content"]["buttons"][0],
//!     json!({"type": "imBack", "title": "Order", "value": "order pizza"})
//! );
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The content type of a hero card.
pub const HERO_CARD: &str = "application/vnd.microsoft.card.hero";
/// The content type of a thumbnail card.
pub const THUMBNAIL_CARD: &str = "application/vnd.microsoft.card.thumbnail";
/// The content type of an Adaptive Card.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// A button or tap action (the Bot Framework `CardAction`).
///
/// `kind` is the wire `type`: `imBack`, `postBack`, `openUrl`, `messageBack`, or any other the
/// channel knows (`call`, `signin`, ...) through [`CardAction::new`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAction {
    /// The action type (`imBack`, `postBack`, `openUrl`, `messageBack`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The button's caption.
    #[serde(default)]
    pub title: String,
    /// What the action sends or opens (the text for `imBack`, the URL for `openUrl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The text a `messageBack` sends to the bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text a `messageBack` shows in the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_text: Option<String>,
    /// An image URL shown on the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl CardAction {
    /// An action of any type.
    pub fn new(kind: impl Into<String>, title: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            kind: kind.into(),
            title: title.into(),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// A button that sends `value` as the user's message, visibly (it answers a prompt
    /// exactly like typing it).
    pub fn im_back(title: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new("imBack", title, value.into())
    }

    /// A button that sends `value` to the bot without showing it in the chat.
    pub fn post_back(title: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new("postBack", title, value)
    }

    /// A button that opens `url`.
    pub fn open_url(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new("openUrl", title, url.into())
    }

    /// A button that sends `text` (and `value`) to the bot; set what the chat shows with
    /// [`display_text`](Self::display_text).
    pub fn message_back(
        title: impl Into<String>,
        text: impl Into<String>,
        value: impl Into<Value>,
    ) -> Self {
        let mut a = Self::new("messageBack", title, value);
        a.text = Some(text.into());
        a
    }

    /// Sets the text a `messageBack` shows in the chat.
    pub fn display_text(mut self, text: impl Into<String>) -> Self {
        self.display_text = Some(text.into());
        self
    }

    /// Sets the button's image URL.
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.image = Some(url.into());
        self
    }
}

/// An image on a card (the Bot Framework `CardImage`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CardImage {
    /// The image URL.
    pub url: String,
    /// Alternative text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    /// What tapping the image does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<CardAction>,
}

impl CardImage {
    /// An image at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets the alternative text.
    pub fn alt(mut self, alt: impl Into<String>) -> Self {
        self.alt = Some(alt.into());
        self
    }

    /// Sets the tap action.
    pub fn tap(mut self, action: CardAction) -> Self {
        self.tap = Some(action);
        self
    }
}

impl From<&str> for CardImage {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for CardImage {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

/// Hero and thumbnail cards share their fields and builders.
macro_rules! basic_card {
    ($(#[$doc:meta])* $name:ident, $content_type:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// The title.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub title: Option<String>,
            /// The subtitle.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub subtitle: Option<String>,
            /// The text.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub text: Option<String>,
            /// The images.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub images: Vec<CardImage>,
            /// The buttons.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub buttons: Vec<CardAction>,
            /// What tapping the card does.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tap: Option<CardAction>,
        }

        impl $name {
            /// The card's content type.
            pub const CONTENT_TYPE: &'static str = $content_type;

            /// An empty card.
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets the title.
            pub fn title(mut self, title: impl Into<String>) -> Self {
                self.title = Some(title.into());
                self
            }

            /// Sets the subtitle.
            pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
                self.subtitle = Some(subtitle.into());
                self
            }

            /// Sets the text.
            pub fn text(mut self, text: impl Into<String>) -> Self {
                self.text = Some(text.into());
                self
            }

            /// Adds an image (a URL or a [`CardImage`]).
            pub fn image(mut self, image: impl Into<CardImage>) -> Self {
                self.images.push(image.into());
                self
            }

            /// Adds a button.
            pub fn button(mut self, action: CardAction) -> Self {
                self.buttons.push(action);
                self
            }

            /// Adds buttons.
            pub fn buttons(mut self, actions: impl IntoIterator<Item = CardAction>) -> Self {
                self.buttons.extend(actions);
                self
            }

            /// Sets the tap action.
            pub fn tap(mut self, action: CardAction) -> Self {
                self.tap = Some(action);
                self
            }
        }

        impl From<$name> for Attachment {
            fn from(card: $name) -> Self {
                Attachment::new($name::CONTENT_TYPE, to_value(&card))
            }
        }
    };
}

basic_card!(
    /// A card with a large image, a title, text and buttons
    /// (`application/vnd.microsoft.card.hero`).
    HeroCard,
    HERO_CARD
);

basic_card!(
    /// A card with a small image beside its title, text and buttons
    /// (`application/vnd.microsoft.card.thumbnail`).
    ThumbnailCard,
    THUMBNAIL_CARD
);

fn to_value<T: Serialize>(t: &T) -> Value {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// An Adaptive Card, as its JSON (`application/vnd.microsoft.card.adaptive`).
///
/// An `Action.Submit` on the card comes back as a message whose `value` is the submitted
/// data: it answers a waiting prompt (see [`prompts`](crate::prompts)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdaptiveCard(pub Value);

impl AdaptiveCard {
    /// The card's content type.
    pub const CONTENT_TYPE: &'static str = ADAPTIVE_CARD;

    /// A card from its JSON (`{"type": "AdaptiveCard", "version": ..., "body": [...]}`).
    pub fn new(card: Value) -> Self {
        Self(card)
    }
}

impl From<AdaptiveCard> for Attachment {
    fn from(card: AdaptiveCard) -> Self {
        Attachment::new(ADAPTIVE_CARD, card.0)
    }
}

/// An attachment: a card, or a file by URL (the Bot Framework `Attachment`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The MIME type (`image/png`, or a card's content type).
    #[serde(default)]
    pub content_type: String,
    /// The content (a card's JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Where the file is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A thumbnail's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Fields not modelled here, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Attachment {
    /// An attachment with inline content.
    pub fn new(content_type: impl Into<String>, content: Value) -> Self {
        Self {
            content_type: content_type.into(),
            content: Some(content),
            ..Self::default()
        }
    }

    /// A file at `url`.
    pub fn from_url(content_type: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            content_type: content_type.into(),
            content_url: Some(url.into()),
            ..Self::default()
        }
    }

    /// Sets the file name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The attachment as the JSON a message carries.
    pub fn to_json(&self) -> Value {
        to_value(self)
    }
}

/// How a message's attachments are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttachmentLayout {
    /// One under the other (the default).
    #[default]
    List,
    /// Side by side, scrolled horizontally.
    Carousel,
}

impl AttachmentLayout {
    /// The wire name (`list`, `carousel`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Carousel => "carousel",
        }
    }
}

/// Quick-reply buttons shown under a message until the user answers (the Bot Framework
/// `SuggestedActions`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestedActions {
    /// Ids of the users who see the buttons (empty: everyone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The buttons.
    #[serde(default)]
    pub actions: Vec<CardAction>,
}

impl SuggestedActions {
    /// Buttons for everyone.
    pub fn new(actions: impl IntoIterator<Item = CardAction>) -> Self {
        Self {
            to: Vec::new(),
            actions: actions.into_iter().collect(),
        }
    }

    /// `imBack` buttons that send each text as typed.
    pub fn im_back<I, S>(texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(texts.into_iter().map(|t| {
            let t = t.into();
            CardAction::im_back(t.clone(), t)
        }))
    }

    /// Shows the buttons only to these user ids.
    pub fn to<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.to = ids.into_iter().map(Into::into).collect();
        self
    }

    /// The actions as the JSON a message carries.
    pub fn to_json(&self) -> Value {
        to_value(self)
    }
}
