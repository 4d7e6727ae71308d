//! Orders are checked against what the module needs before anything is written or
//! invoiced: a plan's configurable option that cannot be left out, the module's order
//! schema (ISPsystem NOC binds a license to an IPv4 address, its own or its parent
//! service's), and a renew a module does not implement is refused at request time
//! instead of becoming a task. On SQLite and (with `PROVISOR_TEST_PG`)
//! PostgreSQL; the handlers point at an address nothing listens on: nothing here may
//! reach a panel.

use provisor_e2e::{each_backend, so, TestHome};
use serde_json::{json, Value};

fn setup(b: &'static str, url: Option<String>) -> TestHome {
    let home = TestHome::with_database(url).with_label(b);
    home.drop_module(&so("provisor_ispsystem_noc"), "ispsystem-noc.so");
    home.drop_module(&so("provisor_fixture_recorder"), "recorder.so");
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    let noc = json!({
        "url": "http://127.0.0.1:9/billmgr",
        "username": "reseller",
        "password": "not-used-here",
    });
    home.add_handler("noc", "ispsystem-noc", &noc, None);
    let journal = home.path().join("journal");
    home.add_handler("rec", "recorder", &json!({ "journal": journal }), None);
    home.add_handler("staff", "manual-task", &json!({}), None);
    home.ok(&["currencies", "add", "EUR"]);
    home.ok(&[
        "clients",
        "add",
        "--name",
        "Acme",
        "--email",
        "ops@acme.example",
        "--currency",
        "EUR",
        "--country",
        "NL",
    ]);
    let servers = json!({"server": {
        "web1": {"ip": "192.0.2.10", "domain": "web1.example"},
        "web2": {"ip": "not-an-ip", "domain": "web2.example"}
    }});
    home.ok(&[
        "plans",
        "add",
        "Lite",
        "--handler",
        "noc",
        "--settings",
        r#"{"pricelist": 55227}"#,
        "--options",
        &servers.to_string(),
    ]);
    home.ok(&[
        "plans",
        "add",
        "Bare",
        "--handler",
        "noc",
        "--settings",
        r#"{"pricelist": 55227}"#,
    ]);
    home.ok(&[
        "plans",
        "add",
        "Lite addon",
        "--handler",
        "noc",
        "--addon",
        "--settings",
        r#"{"pricelist": 55227}"#,
    ]);
    home.ok(&[
        "plans",
        "add",
        "Server",
        "--handler",
        "staff",
        "--resources",
        r#"{"ip": "192.0.2.30"}"#,
    ]);
    home.ok(&["plans", "add", "Box", "--handler", "staff"]);
    home.ok(&["plans", "add", "Recorded", "--handler", "rec"]);
    // Priced: an order that got through would be invoiced at once.
    for plan in ["Lite", "Bare", "Lite addon"] {
        home.ok(&[
            "plans",
            "price",
            plan,
            "--currency",
            "EUR",
            "--period",
            "monthly",
            "--amount",
            "8",
        ]);
    }
    home
}

/// Services, operations and invoices: what a refused order must leave as it was.
fn written(home: &TestHome) -> (Value, Value, Value) {
    (
        home.json(&["services", "list", "--json"]),
        home.json(&["ops", "list", "--json"]),
        home.json(&["invoices", "list", "--json"]),
    )
}

#[test]
fn an_order_the_module_cannot_provision_is_refused_before_anything_is_invoiced() {
    each_backend("orders checked", |b, url| {
        let home = setup(b, url);
        let order = |plan: &str, extra: &[&str]| {
            let mut a = vec![
                "services",
                "order",
                "--client",
                "ops@acme.example",
                "--plan",
                plan,
            ];
            a.extend_from_slice(extra);
            a.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let refused = |args: Vec<String>, needles: &[&str]| {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            home.refused_with(&a, 2, needles);
        };
        let before = written(&home);
        // The plan's option that sets the IP was left out.
        refused(
            order("Lite", &[]),
            &[
                "plan Lite needs option server",
                "ip",
                "--option server=CHOICE",
                "web1",
            ],
        );
        // No option and no resource gives an IP: the module's order schema says so.
        refused(
            order("Bare", &[]),
            &[
                "ip",
                "module ispsystem-noc",
                "nothing was ordered or invoiced",
            ],
        );
        // An IP that is not IPv4.
        refused(order("Lite", &["--option", "server=web2"]), &["not-an-ip"]);
        assert_eq!(written(&home), before, "[{b}] a refused order wrote");
        // An addon on a parent that has no IP either.
        let (boxed, _) = home.order("ops@acme.example", "Box", &[]);
        let before_addon = written(&home);
        refused(
            order("Lite addon", &["--addon-of", &boxed.to_string()]),
            &["ip", "module ispsystem-noc"],
        );
        assert_eq!(written(&home), before_addon, "[{b}] a refused order wrote");

        // What the module needs, given: ordered and invoiced.
        let v = home.json(&[
            "services",
            "order",
            "--client",
            "ops@acme.example",
            "--plan",
            "Lite",
            "--option",
            "server=web1",
            "--json",
        ]);
        assert!(v["invoice_id"].as_i64().is_some(), "[{b}] {v:#}");
        // An addon takes its parent's IP.
        let (server, _) = home.order("ops@acme.example", "Server", &[]);
        let v = home.json(&[
            "services",
            "order",
            "--client",
            "ops@acme.example",
            "--plan",
            "Lite addon",
            "--addon-of",
            &server.to_string(),
            "--json",
        ]);
        assert!(v["service_id"].as_i64().is_some(), "[{b}] {v:#}");
    });
}

#[test]
fn a_renew_the_module_does_not_implement_is_refused_at_request_time() {
    each_backend("unsupported requests", |b, url| {
        let home = setup(b, url);
        let (sid, _) = home.order("ops@acme.example", "Recorded", &[]);
        home.ok(&["work", "--until-idle"]);
        let ops_before = home.json(&["ops", "list", "--json"]);
        let err = home.refused_with(
            &["services", "renew", &sid.to_string()],
            2,
            &[
                "module recorder",
                "does not support renew",
                "nothing was queued",
            ],
        );
        assert!(err.contains("handler rec"), "[{b}] {err}");
        assert_eq!(home.json(&["ops", "list", "--json"]), ops_before, "[{b}]");
        assert!(home
            .json(&["tasks", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty());
    });
}
