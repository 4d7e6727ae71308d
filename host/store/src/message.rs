//! Text for people in which the inputs named and the next steps are data. The library
//! crates serve the CLI, the HTTP API and web pages alike, and `--amount` means
//! nothing on a web page: a message names an input by its neutral field name
//! (`amount`, `minor_units`) and a next step as a [`Fix`], and each front end words
//! both through its [`Voice`] (the CLI: `--amount` and the command to run).
//!
//! Owns: how a message is put together and [`Plain`], the library's own wording. Must
//! not: know any front end's flags or commands.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::fix::Fix;

/// One piece of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Words, the same in every front end.
    Text(String),
    /// An input, by its neutral name (`amount`, `minor_units`): the name of the field
    /// in a request, which a front end shows as its own (the CLI as `--minor-units`).
    Field(&'static str),
    /// A next step, read as a clause ("add currency EUR").
    Fix(Fix),
}

/// How a front end says the fields and fixes of a message.
pub trait Voice {
    /// How it names an input field given by its neutral name.
    fn field(&self, name: &'static str) -> String;
    /// How it says a next step, as a clause that reads in the sentence around it.
    fn fix(&self, fix: &Fix) -> String;
}

/// The library's own voice, which `Display` uses: a field by its neutral name, a fix
/// in plain words ([`Fix::plain`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Voice for Plain {
    fn field(&self, name: &'static str) -> String {
        name.to_string()
    }

    fn fix(&self, fix: &Fix) -> String {
        fix.plain()
    }
}

/// A message for people: words, the fields it names and the next steps it suggests.
/// The first field named is the input at fault ([`Message::field_at_fault`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    parts: Vec<Part>,
}

impl Message {
    /// A message of plain words.
    pub fn new(text: impl Into<String>) -> Message {
        let text = text.into();
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text(text)]
        };
        Message { parts }
    }

    /// A message about an input, which it starts with: `about("amount", "0 must be
    /// more than zero")` reads "amount 0 must be more than zero" (the CLI: "--amount 0
    /// must be more than zero"). A `rest` starting with `:`, `,` or `;` follows the
    /// name without a space.
    pub fn about(field: &'static str, rest: impl AsRef<str>) -> Message {
        let rest = rest.as_ref();
        let m = Message::default().field(field);
        match rest.chars().next() {
            None => m,
            Some(c) if c == ':' || c == ',' || c == ';' => m.text(rest),
            Some(_) => m.text(" ").text(rest),
        }
    }

    /// These words appended.
    #[must_use]
    pub fn text(mut self, text: impl AsRef<str>) -> Message {
        let text = text.as_ref();
        if text.is_empty() {
            return self;
        }
        match self.parts.last_mut() {
            Some(Part::Text(last)) => last.push_str(text),
            _ => self.parts.push(Part::Text(text.to_string())),
        }
        self
    }

    /// An input field named next, by its neutral name.
    #[must_use]
    pub fn field(mut self, name: &'static str) -> Message {
        self.parts.push(Part::Field(name));
        self
    }

    /// A next step next, read as a clause.
    #[must_use]
    pub fn fix(mut self, fix: Fix) -> Message {
        self.parts.push(Part::Fix(fix));
        self
    }

    /// Another message appended, its fields and fixes kept.
    #[must_use]
    pub fn then(mut self, other: Message) -> Message {
        for part in other.parts {
            self = match part {
                Part::Text(t) => self.text(t),
                p => {
                    self.parts.push(p);
                    self
                }
            };
        }
        self
    }

    /// The pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The input at fault: the first field the message names.
    pub fn field_at_fault(&self) -> Option<&'static str> {
        self.parts.iter().find_map(|p| match p {
            Part::Field(name) => Some(*name),
            _ => None,
        })
    }

    /// The next steps the message suggests.
    pub fn fixes(&self) -> impl Iterator<Item = &Fix> {
        self.parts.iter().filter_map(|p| match p {
            Part::Fix(f) => Some(f),
            _ => None,
        })
    }

    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The message in a front end's words.
    pub fn render(&self, voice: &dyn Voice) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => out.push_str(&voice.field(name)),
                Part::Fix(fix) => out.push_str(&voice.fix(fix)),
            }
        }
        out
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Plain))
    }
}

/// As its plain text.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::new(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::new(text)
    }
}

/// What an input rule's refusal names: plain words ("the client name"), an input field
/// by its neutral name, or one entry of a field that takes several (`option cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// Plain words ("the client name").
    Words(&'a str),
    /// An input field, by its neutral name (`amount`).
    Field(&'static str),
    /// One entry of a field that takes several: the field and the entry's key
    /// (`option`, `cpu`).
    Entry(&'static str, &'a str),
}

impl Name<'_> {
    /// A message that starts with this name.
    pub fn message(self) -> Message {
        match self {
            Name::Words(w) => Message::new(w),
            Name::Field(f) => Message::default().field(f),
            Name::Entry(f, key) => Message::default().field(f).text(format!(" {key}")),
        }
    }
}

impl<'a> From<&'a str> for Name<'a> {
    fn from(words: &'a str) -> Name<'a> {
        Name::Words(words)
    }
}

impl<'a> From<&'a String> for Name<'a> {
    fn from(words: &'a String) -> Name<'a> {
        Name::Words(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::Listing;

    struct Flags;

    impl Voice for Flags {
        fn field(&self, name: &'static str) -> String {
            format!("--{}", name.replace('_', "-"))
        }
        fn fix(&self, _: &Fix) -> String {
            "run it".into()
        }
    }

    #[test]
    fn each_voice_words_fields_and_fixes_its_own_way() {
        let m = Message::about("minor_units", "9 is out of range")
            .text("; ")
            .fix(Fix::See {
                listing: Listing::Currencies,
            });
        assert_eq!(
            m.to_string(),
            "minor_units 9 is out of range; see the list of currencies"
        );
        assert_eq!(m.render(&Flags), "--minor-units 9 is out of range; run it");
        assert_eq!(m.field_at_fault(), Some("minor_units"));
        assert_eq!(m.fixes().count(), 1);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!("minor_units 9 is out of range; see the list of currencies")
        );
    }

    #[test]
    fn messages_join_with_their_parts() {
        let m = Message::new("record 1: ").then(Message::about("amount", ": empty"));
        assert_eq!(m.render(&Flags), "record 1: --amount: empty");
        assert_eq!(
            Name::Entry("option", "cpu").message().render(&Flags),
            "--option cpu"
        );
        assert!(Message::new("").is_empty());
    }
}
