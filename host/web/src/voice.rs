//! How the HTTP API says what the library leaves as data in its messages: an input
//! field as its JSON name (`minor_units`), and a next step as what an API client (or the
//! operator behind it) should do. The command line's voice names commands to run; this
//! one never does.

use provisor_store::error::{Fix, Voice};

/// The HTTP API's voice.
pub(crate) struct Api;

impl Voice for Api {
    fn field(&self, name: &'static str) -> String {
        name.to_string()
    }

    fn fix(&self, fix: &Fix) -> String {
        match fix {
            // Steps only an operator takes (there is no endpoint for them yet): said as
            // the library says them, addressed to whoever runs the server.
            Fix::RunWorker => {
                "wait for the server's workers, or ask its operator to run one".into()
            }
            Fix::Confirm => "send the request again with the confirmation it asks for".into(),
            Fix::RotateSecrets => "ask the server's operator to rotate the secret key again".into(),
            other => other.plain(),
        }
    }
}

#[cfg(test)]
mod tests {
    use provisor_store::error::{Listing, Message};

    use super::*;

    #[test]
    fn fields_are_json_names_and_fixes_name_no_command() {
        let m = Message::about("minor_units", "9 is out of range; ").fix(Fix::PriceUsage {
            plan: 2,
            currency: "EUR".into(),
            unit: "gb".into(),
        });
        assert_eq!(
            m.render(&Api),
            "minor_units 9 is out of range; set plan #2's price per gb in EUR"
        );
        let m = Message::new("no client x; ").fix(Fix::See {
            listing: Listing::Clients,
        });
        assert!(!m.render(&Api).contains("provisor"));
    }
}
