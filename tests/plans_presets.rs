//! Tariff plans a module offers (`Module::presets`): both ISPsystem NOC modules offer the
//! NOC addon's price list (reference §3a). `handlers add` says so, `plans presets H`
//! lists them with their list prices, `--create` makes each plan once (no price set), a
//! created plan is an ordinary plan the hoster edits and prices, and an order of the
//! Business plan with its "Additional nodes in cluster" option buys a license with that
//! many nodes more. On SQLite and (with `PROVISOR_TEST_PG`) PostgreSQL, against the billmgr
//! simulator.

use provisor_e2e::{each_backend, poll_until, so, TestHome, PATIENCE};
use provisor_simulators::ispsystem;
use serde_json::json;

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one end-to-end scenario, told in order"
)]
fn module_presets_are_offered_created_once_and_ordered() {
    each_backend("plan presets", |b, url| {
        let home = TestHome::with_database(url)
            .with_label(b)
            .with_env("PROVISOR_RETRY_SECS", "0");
        home.drop_module(&so("provisor_ispsystem_noc"), "ispsystem-noc.so");
        home.drop_module(
            &so("provisor_billmanager_noc_addon"),
            "billmanager-noc-addon.so",
        );
        let (sim, api) = ispsystem::start_with_handle(Some(&home.path().join("sim")), 0)
            .expect("the billmgr simulator starts");
        api.set_key_delay(0);
        let settings = json!({
            "url": ispsystem::api_url(&sim),
            "username": ispsystem::USERNAME,
            "password": ispsystem::PASSWORD,
            "key_poll_secs": 1,
        });
        let file = home.write("noc.json", &settings.to_string());
        let file = file.to_str().unwrap();
        // Adding the handler offers the presets, and creates nothing.
        let out = home.ok(&[
            "handlers",
            "add",
            "noc",
            "--module",
            "ispsystem-noc",
            "--settings",
            file,
        ]);
        assert!(
            out.contains("offers 5 tariff plan(s)") && out.contains("plans presets noc"),
            "[{b}] {out}"
        );
        assert!(home
            .json(&["plans", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty());

        let offered = home.json(&["plans", "presets", "noc", "--json"]);
        let offered = offered.as_array().unwrap();
        assert_eq!(offered.len(), 5, "[{b}] {offered:#?}");
        let business = offered
            .iter()
            .find(|p| p["name"] == "ISPmanager 6 Business")
            .expect("Business is offered");
        assert_eq!(business["status"], "offered");
        assert_eq!(business["list_price"]["amount"], "12.00");
        assert_eq!(business["list_price"]["note"], "12.00 per additional node");
        let table = home.ok(&["plans", "presets", "noc"]);
        assert!(
            table.contains("VMmanager 6 Cloud") && table.contains("80.00"),
            "[{b}] {table}"
        );

        // Created once; a second run leaves them as they are.
        let made = home.json(&["plans", "presets", "noc", "--create", "--json"]);
        let made = made.as_array().unwrap();
        assert!(
            made.iter().all(|p| p["status"] == "created"),
            "[{b}] {made:#?}"
        );
        let again = home.json(&["plans", "presets", "noc", "--create", "--json"]);
        assert!(
            again
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["status"] == "exists"),
            "[{b}] {again:#?}"
        );
        let plans = home.json(&["plans", "list", "--json"]);
        assert_eq!(plans.as_array().unwrap().len(), 5, "[{b}] {plans:#}");
        let shown = home.json(&["plans", "show", "ISPmanager 6 Business", "--json"]);
        assert_eq!(
            shown["settings"],
            json!({"pricelist": 55230, "addon_nodes": 1}),
            "[{b}]"
        );
        assert_eq!(shown["resources"]["additional_nodes"], 0, "[{b}]");
        // No price was set: prices are the hoster's.
        let prices = home.json(&["plans", "prices", "ISPmanager 6 Business", "--json"]);
        assert_eq!(prices["prices"], json!([]), "[{b}] {prices:#}");
        // An unknown preset name is not found; nothing created.
        home.refused_with(
            &[
                "plans",
                "presets",
                "noc",
                "--create",
                "--only",
                "ISPmanager 9",
            ],
            3,
            &["ISPmanager 9", "ISPmanager 6 Lite"],
        );

        // The addon module's presets: five addon plans, with --with-presets at once.
        let file = home.write("noc-addon.json", &settings.to_string());
        let out = home.ok(&[
            "handlers",
            "add",
            "noc-addon",
            "--module",
            "billmanager-noc-addon",
            "--settings",
            file.to_str().unwrap(),
            "--with-presets",
        ]);
        assert!(
            out.contains("ISPmanager 6 Lite addon: created"),
            "[{b}] {out}"
        );
        let addon = home.json(&["plans", "show", "VMmanager 6 Cloud addon", "--json"]);
        assert_eq!(addon["is_addon"], true, "[{b}] {addon:#}");
        assert_eq!(
            addon["settings"]["license_type"], "vmmanager6-cloud",
            "[{b}]"
        );

        // An order of Business with three more nodes and the server's IP (an order
        // field of the module): the license carries 1 + 3 nodes.
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
        home.refused_with(
            &[
                "services",
                "order",
                "--client",
                "ops@acme.example",
                "--plan",
                "ISPmanager 6 Business",
            ],
            2,
            &["ip", "--option ip=VALUE"],
        );
        let (sid, _) = home.order(
            "ops@acme.example",
            "ISPmanager 6 Business",
            &[
                "--option",
                "ip=192.0.2.44",
                "--option",
                "additional_nodes=3",
            ],
        );
        // The license's key comes on a later poll, due a second after the last.
        poll_until(&format!("[{b}] service #{sid} active"), PATIENCE, || {
            home.ok(&["work", "--until-idle"]);
            let svc = home.json(&["services", "show", &sid.to_string(), "--json"]);
            if svc["status"] == "active" {
                Ok(())
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1100));
                Err(format!("{svc:#}"))
            }
        });
        let lic = api
            .licenses()
            .into_iter()
            .find(|l| l.ip == "192.0.2.44")
            .expect("a license bound to the order's IP");
        assert_eq!(lic.pricelist, 55230, "[{b}]");
        assert_eq!(lic.addons.get(&55236), Some(&4), "[{b}] {:?}", lic.addons);
    });
}
