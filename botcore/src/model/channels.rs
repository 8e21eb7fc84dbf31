//! What each channel can show: the capability table prompts read to render their choices
//! (documented on [`ChannelCapabilities`], the public face of this module).

/// How many buttons a channel shows, as suggested actions and on cards (0: none): what
/// prompts read to render their choices ([`ListStyle::Auto`]).
///
/// | channel id | suggested actions | hero-card buttons | `Auto` renders choices as |
/// | --- | --- | --- | --- |
/// | `webchat`, `directline`, `directlinespeech`, `emulator` | up to 100 | up to 100 | suggested actions |
/// | `telegram` | up to 100 | up to 100 | suggested actions |
/// | `kik` | up to 20 | up to 100 | suggested actions |
/// | `line` | up to 13 | up to 99 | suggested actions |
/// | `facebook`, `skype` | up to 10 | up to 3 | suggested actions |
/// | `msteams` | — | up to 3 | a hero card |
/// | `slack`, `cortana` | — | up to 100 | a hero card |
/// | `email`, `sms`, `groupme`, `console`, `mock`, `test`, any other | — | — | text |
///
/// The numbers are Bot Builder v4's (`Channel.supportsSuggestedActions` /
/// `supportsCardActions`), with v3's card limits for `telegram` and `kik`. A channel that
/// supports suggested actions for the number of choices gets them; else one that supports
/// that many card buttons gets a hero card; else the prompt falls back to text: inline
/// (`(1. a, 2. b, or 3. c)`) for up to three choices, a numbered list for more, as v3's
/// `ListStyle.auto` does. `mock` (the test channel of `transport-mock`) and `console` are
/// text-only, so transcripts read as text; a test opts in to buttons by sending from another
/// channel id or asking for [`ListStyle::Button`].
///
/// [`ListStyle::Auto`]: crate::ListStyle::Auto
/// [`ListStyle::Button`]: crate::ListStyle::Button
///
/// ```
/// use botcore::ChannelCapabilities;
/// let teams = ChannelCapabilities::of("msteams");
/// assert!(!teams.supports_suggested_actions(2));
/// assert!(teams.supports_card_actions(3));
/// assert!(!teams.supports_card_actions(4));
/// assert!(!ChannelCapabilities::of("mock").supports_buttons(1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelCapabilities {
    /// The most suggested actions (quick replies) the channel shows; 0 if it has none.
    pub suggested_actions: usize,
    /// The most buttons the channel shows on a hero card; 0 if it shows none.
    pub card_actions: usize,
}

impl ChannelCapabilities {
    /// A text-only channel.
    pub const TEXT: Self = Self::new(0, 0);

    /// Capabilities with these limits.
    pub const fn new(suggested_actions: usize, card_actions: usize) -> Self {
        Self {
            suggested_actions,
            card_actions,
        }
    }

    /// The capabilities of `channel_id` (case-insensitive); unknown channels are text-only.
    pub fn of(channel_id: &str) -> Self {
        CHANNELS
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(channel_id))
            .map(|(_, c)| *c)
            .unwrap_or(Self::TEXT)
    }

    /// Whether `n` suggested actions can be shown.
    pub fn supports_suggested_actions(&self, n: usize) -> bool {
        n > 0 && n <= self.suggested_actions
    }

    /// Whether a hero card with `n` buttons can be shown.
    pub fn supports_card_actions(&self, n: usize) -> bool {
        n > 0 && n <= self.card_actions
    }

    /// Whether `n` buttons can be shown one way or the other.
    pub fn supports_buttons(&self, n: usize) -> bool {
        self.supports_suggested_actions(n) || self.supports_card_actions(n)
    }
}

/// The capability table, by channel id (the channels not listed are text-only).
pub const CHANNELS: &[(&str, ChannelCapabilities)] = &[
    ("webchat", ChannelCapabilities::new(100, 100)),
    ("directline", ChannelCapabilities::new(100, 100)),
    ("directlinespeech", ChannelCapabilities::new(100, 100)),
    ("emulator", ChannelCapabilities::new(100, 100)),
    ("telegram", ChannelCapabilities::new(100, 100)),
    ("kik", ChannelCapabilities::new(20, 100)),
    ("line", ChannelCapabilities::new(13, 99)),
    ("facebook", ChannelCapabilities::new(10, 3)),
    ("skype", ChannelCapabilities::new(10, 3)),
    ("msteams", ChannelCapabilities::new(0, 3)),
    ("slack", ChannelCapabilities::new(0, 100)),
    ("cortana", ChannelCapabilities::new(0, 100)),
    ("email", ChannelCapabilities::TEXT),
    ("sms", ChannelCapabilities::TEXT),
    ("groupme", ChannelCapabilities::TEXT),
    ("console", ChannelCapabilities::TEXT),
    ("mock", ChannelCapabilities::TEXT),
    ("test", ChannelCapabilities::TEXT),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_test_channels_are_text_only() {
        for id in [
            "mock",
            "test",
            "console",
            "sms",
            "email",
            "no-such-channel",
            "",
        ] {
            assert_eq!(
                ChannelCapabilities::of(id),
                ChannelCapabilities::TEXT,
                "{id}"
            );
        }
    }

    #[test]
    fn limits_are_inclusive_and_case_insensitive() {
        let fb = ChannelCapabilities::of("Facebook");
        assert!(fb.supports_suggested_actions(10));
        assert!(!fb.supports_suggested_actions(11));
        assert!(!fb.supports_buttons(0));
    }
}
