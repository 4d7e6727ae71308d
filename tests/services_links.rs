//! What a client sees of a service: the single-sign-on link and the client-area panel,
//! minted by the module on request, on every backend.

use provisor_e2e::{backends, so, TestHome};

fn scenario(backend: &str, url: Option<String>) {
    let home = TestHome::with_database(url);
    home.drop_module(&so("provisor_manual_task"), "manual-task.so");
    home.run(&["departments", "add", "dc"]).ok();
    let e = home.write("e.json", "{}");
    home.run(&[
        "handlers",
        "add",
        "staff",
        "--module",
        "manual-task",
        "--settings",
        e.to_str().unwrap(),
        "--department",
        "dc",
    ])
    .ok();
    home.run(&[
        "clients",
        "add",
        "--name",
        "Ada",
        "--email",
        "ada@example.com",
    ])
    .ok();
    home.run(&["plans", "add", "Dedicated", "--handler", "staff"])
        .ok();
    let ordered = home
        .run(&[
            "services",
            "order",
            "--client",
            "ada@example.com",
            "--plan",
            "Dedicated",
            "--json",
        ])
        .json();
    let id = ordered["service_id"].as_i64().unwrap().to_string();

    // Before the service exists remotely there is nothing to sign on to.
    let err = home.run(&["services", "sso", &id]).fails_with(2);
    assert!(
        err.contains("needs a provisioned service"),
        "[{backend}] {err}"
    );

    home.run(&["work", "--until-idle"]).ok();
    let tasks = home.run(&["tasks", "list", "--json"]).json();
    let task = tasks[0]["id"].as_i64().unwrap().to_string();
    home.run(&[
        "tasks",
        "complete",
        &task,
        "--set",
        "remote_id=srv-1",
        "--set",
        "login_url=https://panel.example.invalid/srv-1",
        "--set",
        "ip=192.0.2.1",
    ])
    .ok();

    let link = home.run(&["services", "sso", &id]).ok();
    assert_eq!(
        link.trim(),
        "https://panel.example.invalid/srv-1",
        "[{backend}]"
    );
    let admin = home.run(&["services", "sso", &id, "--admin"]).ok();
    assert_eq!(
        admin.trim(),
        "https://panel.example.invalid/srv-1",
        "[{backend}]"
    );
    let panel = home.run(&["services", "client-area", &id, "--json"]).json();
    let rows = panel["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["label"] == "Reference" && r["value"] == "srv-1"),
        "[{backend}] {panel:#}"
    );
    assert!(
        rows.iter()
            .any(|r| r["label"] == "IP address" && r["value"] == "192.0.2.1"),
        "[{backend}] {panel:#}"
    );
    assert_eq!(
        panel["links"][0]["url"],
        "https://panel.example.invalid/srv-1"
    );
    let text = home.run(&["services", "client-area", &id]).ok();
    assert!(
        text.contains("srv-1") && text.contains("[Log in]"),
        "[{backend}] {text}"
    );

    // Each was a module call in the service's log, and no operation.
    let log = home.run(&["log", "--service", &id, "--json"]).json();
    let calls: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "call")
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert!(
        calls.contains(&"sso") && calls.contains(&"client_area"),
        "[{backend}] {calls:?}"
    );
    let ops = home
        .run(&["ops", "list", "--status", "all", "--json"])
        .json();
    assert_eq!(
        ops.as_array().unwrap().len(),
        1,
        "[{backend}] only the create: {ops:#}"
    );
    home.run(&["services", "sso", "999"]).fails_with(3);
}

#[test]
fn sso_links_and_the_client_area_come_from_the_module_on_every_backend() {
    for (backend, url) in backends() {
        scenario(backend, url);
    }
}

/// `provisor … | head` reads a few lines and closes the pipe: no panic, no message.
#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let home = provisor_e2e::TestHome::new();
    home.run(&[
        "clients",
        "add",
        "--name",
        "Pipe",
        "--email",
        "pipe@example.com",
    ])
    .ok();
    let mut child = Command::new(provisor_e2e::bin())
        .arg("--home")
        .arg(home.path())
        .args(["clients", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end at once: every write the command makes meets a closed pipe.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        status.success() || status.code() == Some(141),
        "{status:?}: {err}"
    );
}
