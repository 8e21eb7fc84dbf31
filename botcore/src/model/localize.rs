//! [`Localizer`]: string tables per locale with fallback `es-MX → es → default → key`.

use crate::model::system_strings;
use std::collections::HashMap;

/// String tables per locale. Keys not found in any table fall back to the system strings
/// (for `BotBuilder:*` keys) and then to the key itself.
///
/// The system strings (prompt retries, the error message, yes/no, list separators) come in
/// English, Spanish, German, French, Portuguese (Brazilian), Japanese and Simplified Chinese;
/// a table the app adds for a locale overrides them for that locale.
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

    /// Looks `key` up: the app's tables of `locale` and of its language, then, for a
    /// `BotBuilder:*` key, the system strings of that language; then the same for the default
    /// locale; then the English system strings. An app table thus overrides a system string
    /// for its own locale only.
    ///
    /// ```
    /// use botcore::Localizer;
    /// let l = Localizer::new("en").add("es", [("BotBuilder:text_retry", "¿Cómo?")]);
    /// assert_eq!(l.get("es-MX", "BotBuilder:text_retry"), "¿Cómo?");
    /// assert_eq!(
    ///     l.get("de-DE", "BotBuilder:text_retry"),
    ///     "Das habe ich nicht verstanden. Bitte versuchen Sie es nochmal"
    /// );
    /// assert_eq!(l.get("ko", "BotBuilder:list_or"), " or ");
    /// ```
    pub fn lookup(&self, locale: &str, key: &str) -> Option<&str> {
        let system = key.starts_with("BotBuilder:");
        if self.tables.is_empty() && !system {
            return None;
        }
        let app = |l: &str| {
            self.tables
                .get(l)
                .and_then(|t| t.get(key))
                .map(String::as_str)
        };
        let builtin = |l: &str| {
            if system {
                system_strings::table_for(l).and_then(|t| system_strings::find(t, key))
            } else {
                None
            }
        };
        let locale = locale.to_lowercase();
        let lang = locale.split(['-', '_']).next().unwrap_or(&locale);
        let default = self.default_locale.as_str();
        app(&locale)
            .or_else(|| app(lang))
            .or_else(|| builtin(&locale))
            .or_else(|| app(default))
            .or_else(|| builtin(default))
            .or_else(|| {
                if system {
                    system_strings::find(system_strings::EN, key)
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
