//! [`Localizer`]: string tables per locale with fallback `es-MX → es → default → key`.

use std::collections::HashMap;

/// String tables per locale. Keys not found in any table fall back to the system strings
/// (for `BotBuilder:*` keys) and then to the key itself.
///
/// ```
/// use botcore::Localizer;
/// let l = Localizer::new("en")
///     .add("es", [("greeting", "¡Hola!")])
///     .add("en", [("greeting", "Hello!")]);
/// assert_eq!(l.get("es-MX", "greeting"), "¡Hola!");
/// assert_eq!(l.get("fr", "greeting"), "Hello!");
/// assert_eq!(l.get("fr", "no such key"), "no such key");
/// ```
#[derive(Clone, Debug)]
pub struct Localizer {
    default_locale: String,
    tables: HashMap<String, HashMap<String, String>>,
}

impl Default for Localizer {
    fn default() -> Self {
        Self::new("en")
    }
}

impl Localizer {
    /// A localizer whose default locale is `default_locale`.
    pub fn new(default_locale: impl Into<String>) -> Self {
        Self {
            default_locale: default_locale.into().to_lowercase(),
            tables: HashMap::new(),
        }
    }

    /// The default locale.
    pub fn default_locale(&self) -> &str {
        &self.default_locale
    }

    /// Adds strings to the table of `locale`.
    pub fn add<I, K, V>(mut self, locale: &str, entries: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let t = self.tables.entry(locale.to_lowercase()).or_default();
        t.extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Adds strings from a JSON object `{ "key": "text", ... }` (the v3 `locale/<lang>/index.json` shape).
    pub fn add_json(self, locale: &str, json: &str) -> Result<Self, serde_json::Error> {
        let map: HashMap<String, String> = serde_json::from_str(json)?;
        Ok(self.add(locale, map))
    }

    /// Looks `key` up: `locale`, its language, the default locale, then the system strings.
    pub fn lookup(&self, locale: &str, key: &str) -> Option<&str> {
        let mut found = None;
        if !self.tables.is_empty() {
            let locale = locale.to_lowercase();
            let lang = locale
                .split(['-', '_'])
                .next()
                .unwrap_or(&locale)
                .to_owned();
            for l in [locale.as_str(), lang.as_str(), self.default_locale.as_str()] {
                if let Some(v) = self.tables.get(l).and_then(|t| t.get(key)) {
                    found = Some(v.as_str());
                    break;
                }
            }
        }
        found.or_else(|| {
            if key.starts_with("BotBuilder:") {
                SYSTEM_STRINGS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| *v)
            } else {
                None
            }
        })
    }

    /// Like [`lookup`](Self::lookup), falling back to the key itself.
    pub fn get<'a>(&'a self, locale: &str, key: &'a str) -> &'a str {
        self.lookup(locale, key).unwrap_or(key)
    }
}

/// Localization keys of the system strings, with their v3 English defaults.
pub(crate) const SYSTEM_STRINGS: &[(&str, &str)] = &[
    (
        "BotBuilder:text_retry",
        "I didn't understand. Please try again.",
    ),
    (
        "BotBuilder:number_retry",
        "I didn't recognize that as a number. Please enter a number.",
    ),
    (
        "BotBuilder:confirm_retry",
        "I didn't understand. Please answer 'yes' or 'no'.",
    ),
    (
        "BotBuilder:choice_retry",
        "I didn't understand. Please choose an option from the list.",
    ),
    (
        "BotBuilder:default_error",
        "Oops. Something went wrong and we need to start over.",
    ),
    ("BotBuilder:confirm_yes", "yes"),
    ("BotBuilder:confirm_no", "no"),
    ("BotBuilder:list_or", " or "),
];
