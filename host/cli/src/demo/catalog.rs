//! Demo steps 4-5: the catalog (currency, tax, clients, plans, prices) and the orders.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::{obj, Demo, Ordered};
use provisor_billing::{currencies, invoices, ledger, prices, taxes, usage};
use provisor_store::entities::client;
use provisor_store::error::Result;

/// Step 4: currency and tax, clients, plans and their prices. Answers the two clients
/// and the time the catalog was set up at.
pub(super) async fn catalog(d: &Demo) -> Result<(client::Model, client::Model, DateTime<Utc>)> {
    let store = d.store.clone();
    let registry = Arc::clone(&d.registry);
    println!("\n-- 4. Catalog: currency and tax, clients, plans and their prices");
    let now = d.rt.clock.now();
    currencies::add(
        &store,
        currencies::NewCurrency {
            code: "EUR".into(),
            symbol: Some("€".into()),
            minor_units: 2,
            rate: None,
            rounding: "half-up".into(),
        },
        now,
    )
    .await?;
    taxes::set(&store, "NL", "21", now).await?;
    taxes::set(&store, "DE", "19", now).await?;
    println!("   currency EUR (the default); VAT NL 21 %, DE 19 %");
    let ada = provisor_engine::catalog::add_client(
        &store,
        "Ada Lovelace",
        "ada@example.invalid",
        "EUR",
        "NL",
        d.rt.clock.now(),
    )
    .await?;
    let bob = provisor_engine::catalog::add_client(
        &store,
        "Bob Builder",
        "bob@example.invalid",
        "EUR",
        "DE",
        d.rt.clock.now(),
    )
    .await?;
    let plans = [
        ("Cloud Starter", "cs-ams", json!({}), json!({}), false),
        ("VPS Post-paid", "solus-fra", json!({}), json!({}), false),
        (
            "ISPmanager 6 Lite",
            "noc",
            json!({"pricelist": 55227}),
            json!({"server": {"web1": {"ip": "192.0.2.10", "domain": "web1.example"}, "web2": {"ip": "192.0.2.20", "domain": "web2.example"}}}),
            false,
        ),
        (
            "Dedicated L",
            "dc-staff",
            json!({"checklist": "rack, cable, install Debian"}),
            json!({"hostname": {"vps": {"domain": "vps.example"}}}),
            false,
        ),
        (
            "ISPmanager addon",
            "noc-addon",
            json!({"license_type": "ispmanager6-lite", "lifetime_months": 12}),
            json!({}),
            true,
        ),
    ];
    for (name, handler, settings, options, is_addon) in plans {
        provisor_engine::catalog::add_plan(
            &store,
            &registry,
            provisor_engine::catalog::NewPlan {
                name: name.into(),
                handlers: vec![handler.into()],
                template: None,
                resources: Map::new(),
                settings,
                options: obj(options),
                is_addon,
            },
            d.rt.clock.now(),
        )
        .await?;
        println!(
            "   plan {:<18} → handler {}{}",
            name,
            handler,
            if is_addon { " (an addon)" } else { "" }
        );
    }
    println!(
        "   clients: {} <{}>, {} <{}>",
        ada.name, ada.email, bob.name, bob.email
    );
    // ComputeStacks: a deposit at sign-up that becomes credit, usage collected at month
    // end; SolusVM: post-paid tokens; licenses: a monthly price paid up front.
    prices::set_deposit(&store, "Cloud Starter", "EUR", Some("25.00"), now).await?;
    usage::set_plan(&store, "Cloud Starter", "month-end", 10, now).await?;
    usage::set_plan(&store, "VPS Post-paid", "postpaid", 14, now).await?;
    usage::set_price(&store, "VPS Post-paid", "EUR", "token", "0.01", now).await?;
    prices::set_price(
        &store,
        "ISPmanager 6 Lite",
        "EUR",
        "monthly",
        Some("9.00"),
        now,
    )
    .await?;
    println!("   Cloud Starter: a €25.00 deposit, then usage collected at month end (ComputeStacks' billable items)");
    println!("   VPS Post-paid: SolusVM tokens at €0.01, invoiced on the 1st for the month before");
    println!("   ISPmanager 6 Lite: €9.00 a month, paid before the license is bought");
    Ok((ada, bob, now))
}

/// Step 5: an order through every module; Ada pays for hers. Answers the services and
/// the billing day.
pub(super) async fn orders(
    d: &Demo,
    ada: &client::Model,
    bob: &client::Model,
    now: DateTime<Utc>,
) -> Result<(Ordered, NaiveDate)> {
    let store = d.store.clone();
    let rt = Arc::clone(&d.rt);
    println!("\n-- 5. Orders through every module; each writes the service and its create operation at once");
    let orders: [(&str, &str, Value); 5] = [
        ("ada", "Cloud Starter", json!({})),
        ("ada", "VPS Post-paid", json!({})),
        ("bob", "VPS Post-paid", json!({})),
        ("ada", "ISPmanager 6 Lite", json!({"server": "web1"})),
        ("bob", "Dedicated L", json!({"hostname": "vps"})),
    ];
    let mut ids = Vec::new();
    for (who, plan, options) in orders {
        let client = if who == "ada" { &ada } else { &bob };
        let o = provisor_app::order::order(
            &rt,
            &d.billing,
            &provisor_app::audit::Actor::shell(),
            &client.email,
            plan,
            None,
            obj(options),
        )
        .await?;
        let held = match o.invoice_id {
            Some(inv) => {
                let v = invoices::show(&store, &inv.to_string()).await?;
                format!(
                    " (waits for invoice {} of €{})",
                    v.number.clone().unwrap_or_default(),
                    v.total
                )
            }
            None => String::new(),
        };
        println!(
            "   service #{} {:<18} for {:<12} → operation #{} on {}{held}",
            o.service_id, plan, client.name, o.operation_id, o.handler
        );
        ids.push((o.service_id, o.invoice_id));
    }
    let (cs_id, solus_id, solus_bob, lic_id, dedicated) =
        (ids[0].0, ids[1].0, ids[2].0, ids[3].0, ids[4].0);
    // Ada pays: the license by bank transfer, the deposit by card; a paid deposit is
    // credit, and paying releases each create.
    let today = d.billing.zone.date_of(now);
    for ((_, invoice), reference) in [(ids[3], "BANK-1001"), (ids[0], "CARD-2001")] {
        let Some(inv) = invoice else { continue };
        let v = invoices::show(&store, &inv.to_string()).await?;
        invoices::pay(
            &store,
            &inv.to_string(),
            &v.amount_due,
            reference,
            today,
            now,
            &d.billing,
        )
        .await?;
        println!(
            "   Ada pays invoice {} (€{}, payment {reference}): its service's create is released",
            v.number.unwrap_or_default(),
            v.total
        );
    }
    let ledger = ledger::show(&store, &ada.email).await?;
    println!("   Ada's credit from the paid deposit: €{}", ledger.balance);
    Ok((
        Ordered {
            cs: cs_id,
            solus: solus_id,
            solus_bob,
            license: lic_id,
            dedicated,
        },
        today,
    ))
}
