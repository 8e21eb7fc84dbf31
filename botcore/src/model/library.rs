//! Dialog libraries and namespaced ids.
//!
//! Every dialog has a qualified id `library:dialog`. The bot's own library is `*` (so the
//! survey of the proactive samples is `*:survey`), the built-in prompts live in `BotBuilder`.
//! An unqualified id resolves against the library of the dialog on top of the stack, then `*`.

use crate::contracts::error::BotError;
use crate::model::dialog::Dialog;
use crate::model::dialog::prompts::{PromptDialog, PromptKind};
use crate::model::dialog::waterfall::{StepFn, Waterfall};
use crate::model::result::DialogResult;
use crate::model::session::{ResolveId, Session};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A named group of dialogs, possibly with child libraries.
///
/// ```
/// use botcore::{Library, Waterfall};
/// let survey = Library::new("survey").dialog("main", Waterfall::new().step(async |s, _| s.end_dialog()));
/// assert_eq!(survey.name(), "survey");
/// ```
#[derive(Clone)]
pub struct Library {
    name: String,
    dialogs: Vec<(String, Arc<dyn Dialog>)>,
    children: Vec<Library>,
}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("name", &self.name)
            .field(
                "dialogs",
                &self
                    .dialogs
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("children", &self.children)
            .finish()
    }
}

impl Library {
    /// An empty library.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dialogs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// The library's name (the part before `:` in its dialogs' ids).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a dialog under `id` (unqualified).
    pub fn dialog(mut self, id: impl Into<String>, dialog: impl Dialog) -> Self {
        self.dialogs.push((id.into(), Arc::new(dialog)));
        self
    }

    /// Adds a dialog that is one function (see [`BotBuilder::dialog_fn`](crate::BotBuilder::dialog_fn)).
    pub fn dialog_fn<F, O>(self, id: impl Into<String>, step: F) -> Self
    where
        F: AsyncFn(&mut Session, DialogResult) -> O + for<'a> StepFn<'a> + 'static,
    {
        self.dialog(id, Waterfall::new().step(step))
    }

    /// Adds a child library.
    pub fn library(mut self, child: Library) -> Self {
        self.children.push(child);
        self
    }
}

/// The flattened table of every dialog by qualified id.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    dialogs: HashMap<String, Arc<dyn Dialog>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.dialogs.keys().collect();
        ids.sort();
        f.debug_struct("Registry").field("dialogs", &ids).finish()
    }
}

fn library_of(id: &str) -> &str {
    id.split_once(':').map(|(lib, _)| lib).unwrap_or("*")
}

impl Registry {
    pub(crate) fn build(root: Library) -> Result<Self, BotError> {
        let mut reg = Self::default();
        let builtins = Library::new(crate::model::dialog::prompts::LIBRARY)
            .dialog("prompt-text", PromptDialog(PromptKind::Text))
            .dialog("prompt-number", PromptDialog(PromptKind::Number))
            .dialog("prompt-confirm", PromptDialog(PromptKind::Confirm))
            .dialog("prompt-choice", PromptDialog(PromptKind::Choice))
            .dialog("prompt-time", PromptDialog(PromptKind::Time))
            .dialog("prompt-attachment", PromptDialog(PromptKind::Attachment));
        let mut seen_libs = std::collections::HashSet::new();
        let mut pending = vec![builtins, root];
        while let Some(lib) = pending.pop() {
            if !seen_libs.insert(lib.name.clone()) {
                return Err(BotError::DuplicateId(lib.name));
            }
            for (id, d) in lib.dialogs {
                let q = format!("{}:{id}", lib.name);
                if reg.dialogs.insert(q.clone(), d).is_some() {
                    return Err(BotError::DuplicateId(q));
                }
            }
            pending.extend(lib.children);
        }
        Ok(reg)
    }

    pub(crate) fn get(&self, qualified: &str) -> Option<&Arc<dyn Dialog>> {
        self.dialogs.get(qualified)
    }

    /// Resolves `id` to the qualified id of a registered dialog.
    pub(crate) fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError> {
        ResolveId::resolve(self, id, top)
    }
}

impl ResolveId for Registry {
    fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError> {
        let found = if id.contains(':') {
            self.dialogs.get_key_value(id)
        } else {
            let lib = top.map(library_of).unwrap_or("*");
            self.dialogs
                .get_key_value(format!("{lib}:{id}").as_str())
                .or_else(|| self.dialogs.get_key_value(format!("*:{id}").as_str()))
        };
        found
            .map(|(k, _)| k.as_str())
            .ok_or_else(|| BotError::DialogNotFound(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registry {
        let root = Library::new("*")
            .dialog("/", Waterfall::new())
            .dialog("survey", Waterfall::new())
            .library(
                Library::new("orders")
                    .dialog("main", Waterfall::new())
                    .dialog("survey", Waterfall::new()),
            );
        Registry::build(root).unwrap()
    }

    #[test]
    fn unqualified_ids_resolve_against_the_top_library_then_star() {
        let r = reg();
        assert_eq!(r.resolve("survey", None).unwrap(), "*:survey");
        assert_eq!(
            r.resolve("survey", Some("orders:main")).unwrap(),
            "orders:survey"
        );
        assert_eq!(r.resolve("/", Some("orders:main")).unwrap(), "*:/");
        assert_eq!(
            r.resolve("*:survey", Some("orders:main")).unwrap(),
            "*:survey"
        );
        assert!(matches!(
            r.resolve("nope", None),
            Err(BotError::DialogNotFound(_))
        ));
        assert!(matches!(
            r.resolve("orders:nope", None),
            Err(BotError::DialogNotFound(_))
        ));
    }

    #[test]
    fn duplicates_are_an_error() {
        let root = Library::new("*")
            .dialog("a", Waterfall::new())
            .dialog("a", Waterfall::new());
        assert!(matches!(Registry::build(root), Err(BotError::DuplicateId(id)) if id == "*:a"));
        let root = Library::new("*")
            .library(Library::new("x"))
            .library(Library::new("x"));
        assert!(matches!(
            Registry::build(root),
            Err(BotError::DuplicateId(_))
        ));
    }
}
