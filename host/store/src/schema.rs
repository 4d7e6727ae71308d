//! JSON Schema validation of handler and plan settings, and secret handling.
//!
//! A settings property whose schema says `"writeOnly": true` is a secret: it is stored,
//! handed to the module, and never shown again. [`Redactor`] removes secret values from
//! any text (log lines, recorded HTTP exchanges) before it is written anywhere.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Validates `value` against `schema`; the error lists every problem with its path.
pub fn validate(schema: &Value, value: &Value, what: &str) -> Result<()> {
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        Error::Invalid(format!(
            "{what}: the module's schema is not valid JSON Schema: {e}"
        ))
    })?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path.to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} do not match the module's schema: {}",
            problems.join("; ")
        )))
    }
}

/// The JSON pointers (`/api_secret`, `/auth/password`) of every secret property.
pub fn secret_paths(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_secret_paths(schema, "", &mut out);
    out
}

fn collect_secret_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, sub) in props {
        let path = format!("{prefix}/{}", name.replace('~', "~0").replace('/', "~1"));
        if sub.get("writeOnly").and_then(Value::as_bool) == Some(true) {
            out.push(path);
        } else {
            collect_secret_paths(sub, &path, out);
        }
    }
}

/// `settings` with every secret replaced by [`REDACTED`].
pub fn redact_settings(settings: &Value, schema: &Value) -> Value {
    let mut shown = settings.clone();
    for path in secret_paths(schema) {
        if let Some(v) = shown.pointer_mut(&path) {
            *v = Value::String(REDACTED.to_string());
        }
    }
    shown
}

/// Removes known secret values from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for the secret values found in `settings` under `schema`.
    pub fn for_settings(settings: &Value, schema: &Value) -> Redactor {
        let mut values = Vec::new();
        for path in secret_paths(schema) {
            if let Some(v) = settings.pointer(&path) {
                values.push(match v {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                });
            }
        }
        Redactor::default().with_values(&values)
    }

    /// This redactor plus `values` (a module's per-request secrets).
    #[must_use]
    pub fn with_values(&self, values: &[String]) -> Redactor {
        let mut needles = self.needles.clone();
        for text in values {
            // Very short values would blank out ordinary text; they are still
            // covered by redacting whole Authorization headers.
            if text.len() >= 4 {
                needles.push(provisor_module_api::url_encode(text));
                needles.push(
                    Value::String(text.clone())
                        .to_string()
                        .trim_matches('"')
                        .to_string(),
                );
                needles.push(text.clone());
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }

    /// Headers with credentials removed wholesale and secrets redacted from the rest.
    pub fn redact_headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
                ) {
                    (name.clone(), REDACTED.to_string())
                } else {
                    (name.clone(), self.redact(value))
                }
            })
            .collect()
    }
}

/// A JSON object from text, or an error naming `what`.
pub fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Invalid(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::Invalid(format!("{what} is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["url", "api_secret"],
            "properties": {
                "url": {"type": "string"},
                "api_secret": {"type": "string", "writeOnly": true},
                "nested": {"type": "object", "properties": {"password": {"type": "string", "writeOnly": true}}}
            }
        })
    }

    #[test]
    fn secrets_are_found_and_redacted_everywhere() {
        let settings = json!({"url": "https://cs", "api_secret": "s3cr3t/+=", "nested": {"password": "hunter22"}});
        assert_eq!(
            secret_paths(&schema()),
            vec!["/api_secret", "/nested/password"]
        );
        let shown = redact_settings(&settings, &schema());
        assert_eq!(shown["api_secret"], REDACTED);
        assert_eq!(shown["nested"]["password"], REDACTED);
        assert_eq!(shown["url"], "https://cs");
        let r = Redactor::for_settings(&settings, &schema());
        assert_eq!(
            r.redact("q?secret=s3cr3t%2F%2B%3D&p=hunter22"),
            format!("q?secret={REDACTED}&p={REDACTED}")
        );
        assert_eq!(
            r.redact_headers(&[("Authorization".into(), "Basic abc".into())])[0].1,
            REDACTED
        );
    }

    #[test]
    fn validation_lists_every_problem_with_its_path() {
        let err = validate(&schema(), &json!({"url": 5}), "handler settings").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/url"), "{text}");
        assert!(text.contains("api_secret"), "{text}");
    }
}
