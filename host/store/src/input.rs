//! Rules for text that people type in: bounded lengths, no control characters, and
//! emails in one canonical form. Every error names the field, its length and the
//! limit, and never echoes a long or hostile value back.
//!
//! Owns: the limits below. Must not: touch storage.

use crate::error::{Error, Name, Result};

/// Names and labels (clients, plans, handlers, departments, currencies, templates).
pub const NAME_MAX: usize = 200;
/// Email addresses (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Free text: descriptions, invoice lines, reasons, notes.
pub const TEXT_MAX: usize = 1000;

/// A short, printable preview of a value for an error message: at most 40
/// characters, control characters escaped.
pub fn preview(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        out.push('…');
    }
    escape_control(&out)
}

/// Replaces every control character with its escape (`\u{1b}`, `\n`…), so stored text
/// from before these rules cannot move the cursor or fake lines when printed.
pub fn escape_control(value: &str) -> String {
    if !value.chars().any(char::is_control) {
        return value.to_string();
    }
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Text as printed: control characters escaped and cut to `max` characters with `…`.
pub fn shown(value: &str, max: usize) -> String {
    let safe = escape_control(value);
    if safe.chars().count() <= max {
        return safe;
    }
    let mut cut: String = safe.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Checks a one-line text field: not longer than `max` characters and without
/// control characters (tab included). `field` names it in the error: words ("the
/// client name") or an input field (`Name::Field("label")`).
pub fn check_line<'a>(field: impl Into<Name<'a>>, value: &str, max: usize) -> Result<()> {
    let field = field.into();
    check_length(field, value, max)?;
    if let Some((i, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(Error::invalid(field.message().text(format!(
            " contains a control character ({}) at byte {i}; use printable characters only",
            c.escape_unicode()
        ))));
    }
    Ok(())
}

/// Checks free text that may hold tabs (but no other control character).
pub fn check_text<'a>(field: impl Into<Name<'a>>, value: &str, max: usize) -> Result<()> {
    let field = field.into();
    check_length(field, value, max)?;
    if let Some((i, c)) = value
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t')
    {
        return Err(Error::invalid(field.message().text(format!(
            " contains a control character ({}) at byte {i}; use printable characters only (a tab is allowed)",
            c.escape_unicode()
        ))));
    }
    Ok(())
}

fn check_length(field: Name<'_>, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max {
        return Err(Error::invalid(field.message().text(format!(
            " is {n} characters long; the limit is {max} (it starts {:?})",
            preview(value)
        ))));
    }
    Ok(())
}

/// An email address in its canonical form: trimmed and lowercased, one `@`, a
/// dotted domain, at most [`EMAIL_MAX`] characters, nothing but printable,
/// non-space characters.
pub fn email<'a>(field: impl Into<Name<'a>>, value: &str) -> Result<String> {
    let field = field.into();
    let e = value.trim();
    check_line(field, e, EMAIL_MAX)?;
    let e = e.to_lowercase();
    let ok = e.matches('@').count() == 1
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
        && !e
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'));
    if ok {
        Ok(e)
    } else {
        Err(Error::invalid(field.message().text(format!(
            " {:?} is not an email address: give one like name@example.com",
            preview(value)
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            email(Name::Field("email"), " ADA@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "a@b@c.com",
            "a@b",
            "@b.com",
            "a b@c.com",
            "a@.com",
            "a@c..com",
            "a\u{1b}@c.com",
        ] {
            assert!(email(Name::Field("email"), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_values_are_not_echoed_and_control_characters_are_refused() {
        let long = "x".repeat(100_000);
        let e = check_line("the client name", &long, NAME_MAX)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("100000 characters") && e.contains("limit is 200"),
            "{e}"
        );
        assert!(e.len() < 200, "{e}");
        assert!(check_line("name", "a\u{1b}[2Jb", NAME_MAX).is_err());
        assert!(check_line("name", "a\tb", NAME_MAX).is_err());
        assert!(check_text("note", "a\tb", TEXT_MAX).is_ok());
        assert!(check_text("note", "a\rb", TEXT_MAX).is_err());
        assert_eq!(escape_control("a\u{1b}b\n"), "a\\u{1b}b\\n");
    }
}
