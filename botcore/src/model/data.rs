//! Typed access to the state bags: [`Data`] to read one, [`DataMut`] to change it.
//!
//! A bag is stored as a JSON object in the v3 shape; an author's type maps onto its fields.
//! Keys that botcore and v3 reserve (`BotBuilder.*`, `botcore.*`: the preferred locale, the
//! waterfall step, held dialogs) are kept out of the author's view and never overwritten.

use crate::contracts::error::BotError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Whether `key` belongs to botcore or v3 rather than to the bot author.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with("BotBuilder.") || key.starts_with("botcore.")
}

fn read<T: Serialize + DeserializeOwned + Default>(
    what: &'static str,
    map: &Map<String, Value>,
) -> Result<T, BotError> {
    if map.keys().all(|k| is_reserved(k)) {
        return Ok(T::default());
    }
    let own: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !is_reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match serde_json::from_value(Value::Object(own.clone())) {
        Ok(t) => Ok(t),
        // A field the stored bag lacks (the type gained it since): take it from
        // `T::default()`, then try again.
        Err(e) => {
            let mut all = match serde_json::to_value(T::default()) {
                Ok(v @ Value::Object(_)) => v,
                _ => Value::Object(Map::new()),
            };
            merge(&mut all, Value::Object(own));
            serde_json::from_value(all).map_err(|_| BotError::StateType {
                what,
                type_name: std::any::type_name::<T>(),
                reason: e.to_string(),
            })
        }
    }
}

/// Lays `stored` over `base`, object by object, so a nested type that gained a field gets it
/// from the default too.
fn merge(base: &mut Value, stored: Value) {
    match (base, stored) {
        (Value::Object(b), Value::Object(s)) => {
            for (k, v) in s {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn write<T: Serialize>(
    what: &'static str,
    map: &mut Map<String, Value>,
    value: &T,
) -> Result<(), BotError> {
    let fail = |reason: String| BotError::StateType {
        what,
        type_name: std::any::type_name::<T>(),
        reason,
    };
    let Value::Object(own) = serde_json::to_value(value).map_err(|e| fail(e.to_string()))? else {
        return Err(fail(
            "it is not stored as a JSON object (use a struct or a map)".into(),
        ));
    };
    map.extend(own.into_iter().filter(|(k, _)| !is_reserved(k)));
    Ok(())
}

fn top_keys<T: Serialize>(value: &T) -> Vec<String> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !is_reserved(k))
            .collect(),
        _ => Vec::new(),
    }
}

/// One state bag, to read (from [`Session::user_data`](crate::Session::user_data) and its
/// siblings).
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub(crate) what: &'static str,
    pub(crate) map: Option<&'a Map<String, Value>>,
}

impl<'a> Data<'a> {
    /// The bag as the author's type. Fields the bag does not have take their values from
    /// `T::default()` (an empty bag reads as `T::default()`); stored data that does not fit
    /// `T` is a [`BotError::StateType`].
    pub fn get<T: Serialize + DeserializeOwned + Default>(&self) -> Result<T, BotError> {
        match self.map {
            Some(m) => read(self.what, m),
            None => Ok(T::default()),
        }
    }

    /// The raw JSON object, reserved keys included (for tools and migrations).
    pub fn json(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }
}

/// One state bag, to change (from [`Session::user_data_mut`](crate::Session::user_data_mut)
/// and its siblings). Changes are saved with the turn.
#[derive(Debug)]
pub struct DataMut<'a> {
    pub(crate) what: &'static str,
    /// `None` for dialog data while no dialog is on the stack.
    pub(crate) map: Option<&'a mut Map<String, Value>>,
    pub(crate) dirty: Option<&'a mut bool>,
}

impl DataMut<'_> {
    fn map(&mut self) -> Result<&mut Map<String, Value>, BotError> {
        if let Some(d) = self.dirty.as_deref_mut() {
            *d = true;
        }
        self.map.as_deref_mut().ok_or(BotError::NoActiveDialog)
    }

    /// The bag as the author's type (see [`Data::get`]).
    pub fn get<T: Serialize + DeserializeOwned + Default>(&self) -> Result<T, BotError> {
        match self.map.as_deref() {
            Some(m) => read(self.what, m),
            None => Ok(T::default()),
        }
    }

    /// Stores every field of `value` (a struct or a map) in the bag. Keys `T` does not know
    /// are kept, so several parts of a bot can each keep their own type in one bag; a field
    /// `T` leaves out when serializing (`skip_serializing_if`) keeps its old value. Dialog
    /// data with no dialog on the stack is a [`BotError::NoActiveDialog`].
    pub fn set<T: Serialize>(&mut self, value: &T) -> Result<(), BotError> {
        let what = self.what;
        write(what, self.map()?, value)
    }

    /// Reads the bag as `T`, lets `f` change it, stores it back, and returns what `f` returned.
    /// Keys `f` removes (say, an entry of a map type) are removed from the bag; keys `T` does
    /// not know are kept.
    ///
    /// ```
    /// # use botcore::Session;
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Visits { count: u32 }
    /// # fn f(s: &mut Session) -> Result<(), botcore::BotError> {
    /// let count = s.user_data_mut().update(|v: &mut Visits| { v.count += 1; v.count })?;
    /// # Ok(()) }
    /// ```
    pub fn update<T, R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Result<R, BotError>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        let mut value: T = self.get()?;
        let before = top_keys(&value);
        let out = f(&mut value);
        self.set(&value)?;
        // Keys `f` removed (an entry taken out of a map) are removed from the bag as well;
        // keys the type never knew stay.
        let after = top_keys(&value);
        let map = self.map()?;
        for k in before.iter().filter(|k| !after.contains(*k)) {
            map.remove(k);
        }
        Ok(out)
    }

    /// The raw JSON object, reserved keys included (for tools and migrations).
    pub fn json_mut(&mut self) -> Result<&mut Map<String, Value>, BotError> {
        self.map()
    }
}
