//! How the command line says what the library leaves as data in its messages: an input
//! field as its flag (`minor_units` is `--minor-units`) and a next step as the command
//! to run (`Fix::AddCurrency` is "add it with `provisor currencies add EUR --rate R`").
//! Every error, billing event and listing reason the CLI prints goes through here.

use provisor_billing::run::Event;
use provisor_engine::daily::HandlerRun;
use provisor_store::error::{Error, Fix, Listing, Message, Voice};

/// The command line's voice.
pub(crate) struct Cli;

impl Voice for Cli {
    fn field(&self, name: &'static str) -> String {
        format!("--{}", name.replace('_', "-"))
    }

    fn fix(&self, fix: &Fix) -> String {
        match fix {
            Fix::See { listing } => format!("see `provisor {} list`", group(*listing)),
            Fix::SeeOperation { operation } => format!("see `provisor ops show {operation}`"),
            Fix::SeeLedger { client } => format!("see `provisor clients ledger {client}`"),
            Fix::AddCurrency { code } => {
                format!("add it with `provisor currencies add {code} --rate R`")
            }
            Fix::ChangeCurrency { code } => {
                format!("change it with `provisor currencies set {code}`")
            }
            Fix::PricePlan {
                plan,
                currency,
                period,
                existing,
            } => format!(
                "add one with `provisor plans price {plan} --currency {} --period {} --amount X{}`",
                currency.as_deref().unwrap_or("C"),
                period.unwrap_or("PERIOD"),
                if *existing { " --apply-to-existing" } else { "" }
            ),
            Fix::DepositPlan { plan, currency } => format!(
                "add one with `provisor plans deposit {plan} --currency {currency} --amount X`"
            ),
            Fix::PriceUsage {
                plan,
                currency,
                unit,
            } => format!(
                "set one with `provisor usage price {plan} --currency {currency} --unit {unit} --amount X`"
            ),
            Fix::UsageMode { plan, mode } => {
                format!("mark it with `provisor usage plan {plan} --mode {mode}`")
            }
            Fix::Credit { client, take } => {
                let client = client.map_or("CLIENT".to_string(), |c| c.to_string());
                if *take {
                    format!(
                        "take credit back with `provisor clients credit {client} --amount -X --reason R`"
                    )
                } else {
                    format!(
                        "give credit with `provisor clients credit {client} --amount X --reason R`"
                    )
                }
            }
            Fix::CancelInvoice { number } => {
                format!("cancel it with `provisor invoices cancel {number}`")
            }
            Fix::IssueInvoice { invoice } => {
                format!("issue it first with `provisor invoices issue {invoice}`")
            }
            Fix::ScheduleService { service } => format!(
                "give it one with `provisor billing schedule {service} --next-due YYYY-MM-DD`"
            ),
            Fix::AddDepartment { name } => {
                format!("add it with `provisor departments add {name}`")
            }
            Fix::InstallModule { .. } => {
                "install it with `provisor modules install FILE`".to_string()
            }
            Fix::AddPlan { handler } => {
                format!("add one with `provisor plans add NAME --handler {handler}`")
            }
            Fix::AddHandlerAgain { .. } => {
                "fix them with `provisor handlers add` after removing the handler".to_string()
            }
            Fix::EnableHandler => "enable one with `provisor handlers enable NAME`".to_string(),
            Fix::CancelOperation { operation } => {
                format!("cancel it with `provisor ops cancel {operation}`")
            }
            Fix::RunWorker => "run one with `provisor work --until-idle`".to_string(),
            Fix::Confirm => "add --yes".to_string(),
            Fix::RotateSecrets => "run `provisor secrets rotate` again".to_string(),
        }
    }
}

/// The command group that lists these things.
fn group(listing: Listing) -> &'static str {
    match listing {
        Listing::Clients => "clients",
        Listing::Plans => "plans",
        Listing::Services => "services",
        Listing::Operations => "ops",
        Listing::Tasks => "tasks",
        Listing::Handlers => "handlers",
        Listing::Invoices => "invoices",
        Listing::Currencies => "currencies",
        Listing::Modules => "modules",
    }
}

/// An error as the command line prints it.
pub(crate) fn error(e: &Error) -> String {
    e.render(&Cli)
}

/// A message as the command line prints it.
pub(crate) fn text(m: &Message) -> String {
    m.render(&Cli)
}

/// Billing events as `--json` prints them: each message in the command line's words.
pub(crate) fn events_json(events: &[Event]) -> serde_json::Value {
    events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["message"] = serde_json::Value::String(text(&e.message));
            v
        })
        .collect()
}

/// The daily run's handlers as `--json` prints them: each action's note in the command
/// line's words.
pub(crate) fn handler_runs_json(runs: &[HandlerRun]) -> serde_json::Value {
    runs.iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            for (i, a) in r.actions.iter().enumerate() {
                if let Some(note) = &a.note {
                    v["actions"][i]["note"] = serde_json::Value::String(text(note));
                }
            }
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_flags_and_fixes_are_commands() {
        let m = Message::about("minor_units", "9 is out of range; ").fix(Fix::PriceUsage {
            plan: 2,
            currency: "EUR".into(),
            unit: "gb".into(),
        });
        assert_eq!(
            text(&m),
            "--minor-units 9 is out of range; set one with `provisor usage price 2 --currency EUR --unit gb --amount X`"
        );
        let e = Error::not_found_in("no client x", Listing::Clients);
        assert_eq!(error(&e), "no client x; see `provisor clients list`");
        assert_eq!(e.to_string(), "no client x; see the list of clients");
    }
}
