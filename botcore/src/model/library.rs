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
use crate::model::version::{DialogSpec, FrameMut, MigrationError, VersionPolicy};
use foldhash::fast::RandomState;
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
    dialogs: Vec<(String, Arc<dyn Dialog>, DialogSpec)>,
    children: Vec<Library>,
    /// A version declaration made before any dialog was added (reported by `build`).
    misuse: bool,
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
                    .map(|(id, _, _)| id.as_str())
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
            misuse: false,
        }
    }

    /// The library's name (the part before `:` in its dialogs' ids).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a dialog under `id` (unqualified).
    pub fn dialog(mut self, id: impl Into<String>, dialog: impl Dialog) -> Self {
        self.dialogs
            .push((id.into(), Arc::new(dialog), DialogSpec::default()));
        self
    }

    fn last_spec(&mut self, f: impl FnOnce(&mut DialogSpec)) -> &mut Self {
        match self.dialogs.last_mut() {
            Some((_, _, spec)) => f(spec),
            None => self.misuse = true,
        }
        self
    }

    /// Declares the version of the dialog added last (default 0). Frames stored by an older
    /// version are migrated when their conversation's next turn loads them.
    ///
    /// ```
    /// use botcore::{Library, Waterfall};
    /// let orders = Library::new("orders")
    ///     .dialog("main", Waterfall::new())
    ///     .version(2)
    ///     .migrate(0, |_frame| Ok(()))
    ///     .migrate(1, |frame| {
    ///         // Version 2 inserted a step before step 1.
    ///         if frame.step() >= 1 {
    ///             frame.set_step(frame.step() + 1);
    ///         }
    ///         Ok(())
    ///     })
    ///     .formerly("pizza");
    /// # let _ = orders;
    /// ```
    pub fn version(mut self, version: u32) -> Self {
        self.last_spec(|s| s.version = version);
        self
    }

    /// Registers the migration of the dialog added last from version `from` to `from + 1`:
    /// it maps a stored frame forward (step index and dialog data). An error sends the frame
    /// through the dialog's [`VersionPolicy`].
    pub fn migrate(
        mut self,
        from: u32,
        migration: impl Fn(&mut FrameMut<'_>) -> Result<(), MigrationError> + Send + Sync + 'static,
    ) -> Self {
        self.last_spec(|s| {
            s.migrations.insert(from, Arc::new(migration));
        });
        self
    }

    /// Declares a former id of the dialog added last (unqualified: in this library), so a
    /// stored stack, a held dialog or a job naming it resumes in this dialog.
    pub fn formerly(mut self, old_id: impl Into<String>) -> Self {
        let old = old_id.into();
        self.last_spec(|s| s.formerly.push(old));
        self
    }

    /// What happens to a stored frame of the dialog added last that cannot be migrated (by
    /// default the bot's [`version_policy`](crate::BotBuilder::version_policy)).
    pub fn on_version_mismatch(mut self, policy: VersionPolicy) -> Self {
        self.last_spec(|s| s.policy = Some(policy));
        self
    }

    /// Declares the dialog data type of the dialog added last: a stored frame whose data no
    /// longer deserialises as `T` (after its migrations) goes through the version policy
    /// instead of failing a step later. Fields `T` gained load from `T::default()`.
    pub fn state_type<T>(mut self) -> Self
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default + 'static,
    {
        self.last_spec(|s| {
            s.state_check = Some(Arc::new(|state| {
                let data = crate::model::data::Data {
                    what: "dialog data",
                    map: Some(state),
                };
                data.get::<T>().map(drop).map_err(|e| e.to_string())
            }));
        });
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

/// The flattened table of every dialog by qualified id. Looked up several times a turn, so
/// hashed with foldhash rather than `SipHash` (the ids are the bot's own).
#[derive(Clone, Default)]
pub(crate) struct Registry {
    dialogs: HashMap<String, Arc<dyn Dialog>, RandomState>,
    specs: HashMap<String, DialogSpec, RandomState>,
    /// Former qualified ids, to the current ones.
    former: HashMap<String, String, RandomState>,
    /// Whether any dialog declared a version, a former id or a state type.
    versioned: bool,
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
            if lib.misuse {
                return Err(BotError::Config(
                    "a dialog version, migration or former id was declared before any dialog",
                ));
            }
            for (id, d, spec) in lib.dialogs {
                let q = format!("{}:{id}", lib.name);
                if reg.dialogs.insert(q.clone(), d).is_some() {
                    return Err(BotError::DuplicateId(q));
                }
                for old in &spec.formerly {
                    let old_q = match old.contains(':') {
                        true => old.clone(),
                        false => format!("{}:{old}", lib.name),
                    };
                    if reg.former.insert(old_q.clone(), q.clone()).is_some() {
                        return Err(BotError::DuplicateId(old_q));
                    }
                }
                reg.specs.insert(q, spec);
            }
            pending.extend(lib.children);
        }
        if let Some(old) = reg.former.keys().find(|k| reg.dialogs.contains_key(*k)) {
            return Err(BotError::DuplicateId(old.clone()));
        }
        reg.versioned = !reg.former.is_empty()
            || reg
                .specs
                .values()
                .any(|s| s.version > 0 || s.state_check.is_some());
        Ok(reg)
    }

    pub(crate) fn get(&self, qualified: &str) -> Option<&Arc<dyn Dialog>> {
        self.dialogs.get(qualified)
    }

    /// The current qualified id of `qualified`: itself, or the dialog that declared it as a
    /// former id (`None`: unknown).
    pub(crate) fn current<'a>(&'a self, qualified: &'a str) -> Option<&'a str> {
        if self.dialogs.contains_key(qualified) {
            return Some(qualified);
        }
        self.former.get(qualified).map(String::as_str)
    }

    /// The version declarations of a registered dialog.
    pub(crate) fn spec(&self, qualified: &str) -> Option<&DialogSpec> {
        self.specs.get(qualified)
    }

    /// Whether any dialog declared a version, a former id or a state type (otherwise loading
    /// skips the version pass).
    pub(crate) fn has_versions(&self) -> bool {
        self.versioned
    }

    /// Resolves `id` to the qualified id of a registered dialog.
    pub(crate) fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError> {
        ResolveId::resolve(self, id, top)
    }
}

impl ResolveId for Registry {
    fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError> {
        let find = |q: &str| {
            self.dialogs
                .get_key_value(q)
                .map(|(k, _)| k.as_str())
                .or_else(|| self.former.get(q).map(String::as_str))
        };
        let found = if id.contains(':') {
            find(id)
        } else {
            let lib = top.map(library_of).unwrap_or("*");
            find(&format!("{lib}:{id}")).or_else(|| find(&format!("*:{id}")))
        };
        found.ok_or_else(|| BotError::DialogNotFound(id.to_owned()))
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

    #[test]
    fn former_ids_resolve_to_the_renamed_dialog_and_may_not_collide() {
        let root = Library::new("*")
            .dialog("order", Waterfall::new())
            .formerly("pizza")
            .library(
                Library::new("shop")
                    .dialog("cart", Waterfall::new())
                    .formerly("*:basket"),
            );
        let r = Registry::build(root).unwrap();
        assert_eq!(r.resolve("pizza", None).unwrap(), "*:order");
        assert_eq!(r.resolve("basket", Some("shop:cart")).unwrap(), "shop:cart");
        assert_eq!(r.current("*:pizza"), Some("*:order"));
        assert_eq!(r.current("*:nope"), None);
        let taken = Library::new("*")
            .dialog("a", Waterfall::new())
            .dialog("b", Waterfall::new())
            .formerly("a");
        assert!(matches!(Registry::build(taken), Err(BotError::DuplicateId(id)) if id == "*:a"));
        let early = Library::new("*").version(2);
        assert!(matches!(Registry::build(early), Err(BotError::Config(_))));
    }
}
