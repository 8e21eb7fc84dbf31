//! Recognizers: what a prompt accepts as an answer — numbers (digits or English words up to
//! twelve), yes/no (localized, plus common forms), and a choice (by text, number or an
//! unambiguous part).

use crate::model::session::Session;
use serde_json::{Value, json};

const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

/// Finds the first number in `text` (digits, or an English number word up to twelve).
pub fn parse_number(text: &str) -> Option<Value> {
    text.split_whitespace().find_map(|w| {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-');
        if let Ok(i) = w.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(f) = w.parse::<f64>()
            && f.is_finite()
        {
            return Some(json!(f));
        }
        let lower = w.to_ascii_lowercase();
        NUMBER_WORDS
            .iter()
            .position(|n| *n == lower)
            .map(|i| Value::from(i as i64))
    })
}

pub(crate) fn parse_confirm(session: &Session, text: &str) -> Option<bool> {
    let t = text.trim_end_matches(['.', '!']).to_lowercase();
    if t == session.localize("BotBuilder:confirm_yes").to_lowercase() {
        return Some(true);
    }
    if t == session.localize("BotBuilder:confirm_no").to_lowercase() {
        return Some(false);
    }
    match t.as_str() {
        "yes" | "y" | "yep" | "yeah" | "sure" | "ok" | "okay" | "true" | "1" => Some(true),
        "no" | "n" | "nope" | "nah" | "false" | "2" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_choice(text: &str, choices: &[String]) -> Option<Value> {
    let t = text.to_lowercase();
    let found = choices
        .iter()
        .position(|c| c.to_lowercase() == t)
        .or_else(|| {
            t.parse::<usize>()
                .ok()
                .filter(|n| (1..=choices.len()).contains(n))
                .map(|n| n - 1)
        })
        .or_else(|| {
            let hits: Vec<usize> = choices
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    !t.is_empty()
                        && !c.is_empty()
                        && (c.to_lowercase().contains(&t) || t.contains(&c.to_lowercase()))
                })
                .map(|(i, _)| i)
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })?;
    Some(json!({ "index": found, "entity": choices[found], "score": 1.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_in_text() {
        assert_eq!(parse_number("3"), Some(json!(3)));
        assert_eq!(parse_number("I want 2.5 cups"), Some(json!(2.5)));
        assert_eq!(parse_number("three"), Some(json!(3)));
        assert_eq!(parse_number("lots"), None);
    }

    #[test]
    fn choices_match_by_text_index_and_part() {
        let c = vec!["red".to_owned(), "green".to_owned(), "blue".to_owned()];
        assert_eq!(parse_choice("Green", &c).unwrap()["index"], 1);
        assert_eq!(parse_choice("3", &c).unwrap()["entity"], "blue");
        assert_eq!(parse_choice("gre", &c).unwrap()["index"], 1);
        assert_eq!(parse_choice("purple", &c), None);
        assert_eq!(parse_choice("4", &c), None);
        let with_empty = vec![String::new(), "yes".to_owned()];
        assert_eq!(
            parse_choice("anything", &with_empty),
            None,
            "an empty choice matches nothing"
        );
    }
}
