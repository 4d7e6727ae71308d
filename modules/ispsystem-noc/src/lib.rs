//! `ispsystem-noc`: ISPmanager 6 and VMmanager 6 licenses ordered from ISPsystem's
//! billing (BILLmanager's API: `{url}?authinfo=user:pass&func=...&out=xml`), one license
//! per service, renewed monthly by the daily run.
//!
//! * **create** uses the license an earlier attempt of the operation bought (its id kept
//!   in the handler's key-value store under the operation key; a lost order's license
//!   found by the documented list columns and confirmed by `soft.edit`, whose form shows
//!   the service's `remoteid` `l{service id}`), else takes a license of the same
//!   pricelist and node count from the pool, else orders one with `skipbasket=on` (which
//!   debits the reseller balance at once); then it waits for the license key with
//!   bounded `InProgress` polls. When it cannot tell whether an order bought a license,
//!   it hands the operation to a person instead of ordering again.
//! * **terminate** never deletes: it suspends the license, renames it `free.lic` with IP
//!   `0.0.0.0` and no `remoteid`, and keeps it in the pool (the handler's key-value
//!   store) for the next order.
//! * **daily** renews attached licenses from one day before expiry and drops pooled
//!   ones a month past expiry.
//!
//! The billmgr client and the lifecycle live in `provisor-ispsystem-billmgr`, shared
//! with `billmanager-noc-addon`. See `docs/modules/ispsystem.md`.

use provisor_ispsystem_billmgr::{
    pricelist, service_value, Attached, Binding, Licenses, Product, Settings, ADDITIONAL_NODES,
    MAX_ADDITIONAL_NODES, NOC_PRODUCTS, PRICELISTS,
};
use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;
use serde::Deserialize;

pub use provisor_ispsystem_billmgr::{DEFAULT_SSO_URL, DEFAULT_URL};

fn default_period() -> i64 {
    1
}

/// A plan's settings for this module: which license to order and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// One of the [`PRICELISTS`] ids.
    pub pricelist: u64,
    /// The value sent as `addon_{addon_id}=` with the order: the license's node count
    /// (ISPmanager 6 Business, VMmanager 6). 0 sends no addon (one node).
    /// ASSUMPTION: the addon's value is the total node count, the first one included in
    /// the pricelist's price.
    #[serde(default)]
    pub addon_nodes: u32,
    /// The node addon's id; by default the pricelist's own (55236 for ISPmanager 6
    /// Business, 55165 for VMmanager 6).
    #[serde(default)]
    pub addon_id: Option<u64>,
    /// Months bought per order and per renewal.
    #[serde(default = "default_period")]
    pub period: i64,
}

impl PlanSettings {
    /// Reads a service's plan settings.
    ///
    /// Nodes chosen at order time (the `additional_nodes` resource, set by the
    /// presets' "Additional nodes in cluster" option) are added to the plan's node
    /// count: a license's nodes are the plan's (at least one) plus those.
    pub fn of(service: &ServiceInfo) -> Result<PlanSettings, ModuleError> {
        let mut plan: PlanSettings = serde_json::from_value(service.plan.settings.clone())
            .map_err(|e| {
                ModuleError::invalid_config(format!(
                    "plan {:?}'s settings do not fit ispsystem-noc ({e}): give it {{\"pricelist\": 55227}} or another pricelist",
                    service.plan.name
                ))
            })?;
        let extra = match service.plan.resources.get(ADDITIONAL_NODES) {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|t| t.trim().parse().ok()))
                .filter(|n| *n <= u64::from(MAX_ADDITIONAL_NODES))
                .ok_or_else(|| {
                    ModuleError::invalid_config(format!(
                        "service #{}'s {ADDITIONAL_NODES} {v} is not a whole number from 0 to {MAX_ADDITIONAL_NODES}",
                        service.id
                    ))
                })? as u32,
        };
        if extra > 0 {
            plan.addon_nodes = plan.addon_nodes.max(1) + extra;
        }
        Ok(plan)
    }

    /// The product these settings buy.
    pub fn product(&self) -> Result<Product, ModuleError> {
        let pl = pricelist(self.pricelist).ok_or_else(|| {
            ModuleError::invalid_config(format!(
                "pricelist {} is not one this module sells ({})",
                self.pricelist,
                PRICELISTS
                    .iter()
                    .map(|p| format!("{} {}", p.id, p.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let addon = match (self.addon_nodes, self.addon_id.or(pl.node_addon)) {
            (0, _) => None,
            (n, Some(id)) => Some((id, n)),
            (n, None) => {
                return Err(ModuleError::invalid_config(format!(
                    "the plan asks for addon_nodes {n}, but {} (pricelist {}) has no node addon: set addon_nodes to 0 or give addon_id",
                    pl.name, pl.id
                )))
            }
        };
        Ok(Product {
            pricelist: pl,
            period: self.period,
            addon,
        })
    }
}

/// The service's remoteid at ISPsystem.
pub fn remoteid(service: &ServiceInfo) -> String {
    format!("l{}", service.id)
}

/// Who the license is for. The name is the service's `licname` or `domain` (attribute,
/// then plan resource, then the parent service's), else `provisor-{id}`; the IP is the
/// service's `ip` (attribute, then resource, then the parent's).
pub fn binding(service: &ServiceInfo) -> Result<Binding, ModuleError> {
    let parent = service.parent.as_deref();
    let from_parent = |key: &str| parent.and_then(|p| service_value(p, key));
    let licname = service_value(service, "licname")
        .or_else(|| service_value(service, "domain"))
        .or_else(|| from_parent("domain"))
        .unwrap_or_else(|| format!("provisor-{}", service.id));
    let ip = service_value(service, "ip")
        .or_else(|| from_parent("ip"))
        .ok_or_else(|| {
            ModuleError::permanent(format!(
                "service #{} has no IP address to bind its license to: give it an `ip` (a plan resource or configurable option, e.g. --option ip=…), or order it as an addon of the server it is for",
                service.id
            ))
        })?;
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(ModuleError::permanent(format!(
            "service #{}'s ip {ip:?} is not an IPv4 address; ISPsystem binds licenses to one",
            service.id
        )));
    }
    Ok(Binding {
        licname,
        ip,
        remoteid: remoteid(service),
    })
}

/// The module: one instance per handler.
pub struct IspsystemNoc {
    host: Host,
    settings: Settings,
}

impl IspsystemNoc {
    fn ops(&self) -> Licenses<'_> {
        Licenses::new(&self.host, &self.settings)
    }
}

impl Module for IspsystemNoc {
    type Settings = Settings;

    fn manifest() -> Manifest {
        let pricelists: Vec<u64> = PRICELISTS.iter().map(|p| p.id).collect();
        let names: Vec<String> = PRICELISTS
            .iter()
            .map(|p| format!("{} {}", p.id, p.name))
            .collect();
        let addons: Vec<u64> = PRICELISTS.iter().filter_map(|p| p.node_addon).collect();
        Manifest {
            name: "ispsystem-noc".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description: "ISPmanager / VMmanager licenses from ISPsystem's billing; released licenses are pooled and reused".to_string(),
            capabilities: vec![
                Capability::TestConnection,
                Capability::Create,
                Capability::Suspend,
                Capability::Unsuspend,
                Capability::Terminate,
                Capability::Renew,
                Capability::Sso,
                Capability::ListAccounts,
                Capability::ClientArea,
                Capability::Daily,
            ],
            settings_schema: Settings::schema(),
            plan_schema: json!({
                "type": "object",
                // The host bills this module's services as licenses: monthly, while
                // attached to a live service (JSON Schema ignores the keyword).
                "x-provisor-renewal": "license",
                "additionalProperties": false,
                "required": ["pricelist"],
                "properties": {
                    "pricelist": {
                        "type": "integer",
                        "enum": pricelists,
                        "description": format!("The license to order: {}", names.join(", "))
                    },
                    "addon_nodes": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "Node count sent as addon_{addon_id}= with the order (ISPmanager 6 Business, VMmanager 6); 0 sends no addon. A pooled license is reused only for the same pricelist and addon_nodes"
                    },
                    "addon_id": {
                        "type": "integer",
                        "enum": addons,
                        "description": "The node addon's id; by default the pricelist's own (55236 for ISPmanager 6 Business, 55165 for VMmanager 6)"
                    },
                    "period": {
                        "type": "integer",
                        "enum": [1, 12],
                        "default": 1,
                        "description": "Months bought per order and per renewal"
                    }
                }
            }),
        }
        // A license is bound to a server's IPv4 address: an order must give one (a
        // plan resource or a configurable option's choice, or the parent service's
        // for an addon), checked before anything is written or invoiced.
        .with_order_schema(json!({
            "type": "object",
            "required": ["ip"],
            "properties": {
                "ip": {
                    "type": "string",
                    "pattern": "^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$",
                    "description": "The IPv4 address the license is bound to"
                }
            }
        }))
    }

    /// The NOC addon's price list (reference §3a) as plans: the five products on their
    /// v6 pricelists, those with nodes with an "Additional nodes in cluster" option
    /// (0 to 255). List prices are shown to the hoster, never set.
    fn presets() -> Vec<PlanPreset> {
        NOC_PRODUCTS
            .iter()
            .map(|p| {
                let mut settings = json!({ "pricelist": p.pricelist });
                let mut resources = Map::new();
                let mut options = Map::new();
                if let Some(nodes) = p.base_nodes {
                    settings["addon_nodes"] = json!(nodes);
                    // Zero by default, so the option may be left out at order time.
                    resources.insert(ADDITIONAL_NODES.into(), json!(0));
                    let choices: Map<String, Value> = (0..=MAX_ADDITIONAL_NODES)
                        .map(|n| (n.to_string(), json!({ ADDITIONAL_NODES: n })))
                        .collect();
                    options.insert(ADDITIONAL_NODES.into(), Value::Object(choices));
                }
                PlanPreset {
                    name: p.name.to_string(),
                    description: format!(
                        "{} (ISPsystem pricelist {}; {} in the NOC addon's list)",
                        p.description, p.pricelist, p.legacy_pricelist
                    ),
                    addon: false,
                    settings,
                    resources,
                    options,
                    list_price: Some(ListPrice {
                        amount: p.monthly.to_string(),
                        currency: None,
                        period: "monthly".to_string(),
                        note: p
                            .per_node
                            .map(|n| format!("{n} per additional node"))
                            .unwrap_or_default(),
                    }),
                }
            })
            .collect()
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(IspsystemNoc { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.ops().test_connection()
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let product = PlanSettings::of(&request.service)?.product()?;
        let binding = binding(&request.service)?;
        self.ops().create(&request, &product, &binding)
    }

    fn suspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        self.ops().suspend(&request, &remoteid(&request.service))
    }

    fn unsuspend(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let product = PlanSettings::of(&request.service)?.product()?;
        let binding = binding(&request.service)?;
        self.ops().unsuspend(&request, &product, &binding)
    }

    fn terminate(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let product = PlanSettings::of(&request.service)?.product()?;
        self.ops()
            .terminate(&request, &product, &remoteid(&request.service))
    }

    fn renew(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let period = PlanSettings::of(&request.service)?.period;
        self.ops()
            .renew(&request, period, &remoteid(&request.service))
    }

    fn sso(&self, request: SsoRequest) -> Result<SsoLink, ModuleError> {
        match request.audience {
            Audience::Admin => self.ops().admin_sso(),
            Audience::Client => Err(ModuleError::new(
                ErrorKind::NotSupported,
                "client SSO: an ISPsystem license has no client login at the reseller's billing; admins get a link (services sso ID --admin)",
            )),
        }
    }

    fn list_accounts(&self, request: ListAccountsRequest) -> Result<AccountPage, ModuleError> {
        self.ops().list_accounts(&request)
    }

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let s = &request.service;
        let title = PlanSettings::of(s)
            .ok()
            .and_then(|p| pricelist(p.pricelist))
            .map(|p| format!("{} license", p.name))
            .unwrap_or_else(|| "ISPsystem license".to_string());
        self.ops().client_area(s, &remoteid(s), &title)
    }

    fn daily(&self, request: DailyRequest) -> Result<DailyReport, ModuleError> {
        let attached = attached(&request.services);
        Ok(DailyReport {
            actions: self.ops().daily(&request.date, &attached)?,
        })
    }
}

/// The active services whose licenses the daily run keeps renewed.
fn attached(services: &[ServiceInfo]) -> Vec<Attached> {
    services
        .iter()
        .filter(|s| s.status == "active")
        .filter_map(|s| {
            let license = s.remote_id.as_deref()?.trim().parse().ok()?;
            let period = PlanSettings::of(s).map(|p| p.period).unwrap_or(1);
            Some(Attached {
                service_id: s.id,
                license,
                remoteid: remoteid(s),
                period,
            })
        })
        .collect()
}

export_module!(IspsystemNoc);

#[cfg(test)]
mod tests {
    use super::*;
    use provisor_module_api::serde_json::Value;

    fn fits(schema: &Value, instance: &Value) -> bool {
        jsonschema::validator_for(schema)
            .expect("the manifest's schema is valid JSON Schema")
            .is_valid(instance)
    }

    fn settings(value: Value) -> Result<Settings, String> {
        serde_json::from_value::<Settings>(value)
            .map_err(|e| e.to_string())
            .and_then(|s| s.validate().map_err(|e| e.to_string()))
    }

    fn full() -> Value {
        json!({
            "url": "https://api-eu.ispmanager.com/billmgr",
            "username": "reseller",
            "password": "hunter2",
            "project": 1,
            "timeout_ms": 20000,
            "key_poll_secs": 10,
            "key_max_polls": 30,
            "sso_url": "https://my.ispsystem.com/billmgr"
        })
    }

    #[test]
    fn manifest_lists_what_is_implemented() {
        let m = IspsystemNoc::manifest();
        assert_eq!(m.name, "ispsystem-noc");
        assert!(m.capabilities.contains(&Capability::Daily));
        assert!(m.capabilities.contains(&Capability::ListAccounts));
        assert!(!m.capabilities.contains(&Capability::Usage));
        assert!(!m.capabilities.contains(&Capability::ChangePlan));
    }

    #[test]
    fn only_the_password_is_write_only_and_required_names_real_properties() {
        let m = IspsystemNoc::manifest();
        let props = m.settings_schema["properties"].as_object().unwrap();
        let secrets: Vec<&str> = props
            .iter()
            .filter(|(_, p)| p.get("writeOnly") == Some(&json!(true)))
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(secrets, ["password"]);
        for schema in [&m.settings_schema, &m.plan_schema] {
            for name in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    schema["properties"].get(name.as_str().unwrap()).is_some(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn schema_and_struct_accept_full_and_minimal_settings() {
        let schema = IspsystemNoc::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        assert_eq!(settings(full()).unwrap().project, Some(1));

        let minimal = json!({"username": "reseller", "password": "p"});
        assert!(fits(&schema, &minimal));
        let s = settings(minimal).unwrap();
        assert_eq!(s.url, DEFAULT_URL);
        assert_eq!(s.sso_url, DEFAULT_SSO_URL);
        assert_eq!(
            (s.timeout_ms, s.key_poll_secs, s.key_max_polls),
            (30_000, 30, 20)
        );
        assert_eq!(schema["properties"]["url"]["default"], json!(DEFAULT_URL));
    }

    #[test]
    fn schema_and_struct_refuse_the_same_mistakes() {
        let schema = IspsystemNoc::manifest().settings_schema;
        let mut no_password = full();
        no_password.as_object_mut().unwrap().remove("password");
        let mut unknown = full();
        unknown["api_key"] = json!("x");
        let mut colon = full();
        colon["username"] = json!("a:b");
        let mut not_a_url = full();
        not_a_url["url"] = json!("api.ispsystem.com");
        let mut tiny_timeout = full();
        tiny_timeout["timeout_ms"] = json!(5);
        let mut no_polls = full();
        no_polls["key_max_polls"] = json!(0);
        for bad in [
            no_password,
            unknown,
            colon,
            not_a_url,
            tiny_timeout,
            no_polls,
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn plan_schema_and_struct_agree() {
        let schema = IspsystemNoc::manifest().plan_schema;
        let lite = json!({"pricelist": 55227});
        assert!(fits(&schema, &lite));
        let plan: PlanSettings = serde_json::from_value(lite).unwrap();
        assert_eq!(
            (plan.pricelist, plan.addon_nodes, plan.period),
            (55227, 0, 1)
        );
        assert_eq!(plan.product().unwrap().addon, None);

        let vm = json!({"pricelist": 55163, "addon_nodes": 2, "period": 12});
        assert!(fits(&schema, &vm));
        let vm: PlanSettings = serde_json::from_value(vm).unwrap();
        let product = vm.product().unwrap();
        assert_eq!(product.addon, Some((55165, 2)));
        assert_eq!(product.pricelist.order_func, "platform.order.param");

        let business = json!({"pricelist": 55230, "addon_nodes": 3, "addon_id": 55236});
        assert!(fits(&schema, &business));

        let lite_nodes: PlanSettings =
            serde_json::from_value(json!({"pricelist": 55227, "addon_nodes": 2})).unwrap();
        let err = lite_nodes.product().unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidConfig);
        assert!(err.message.contains("no node addon"), "{err}");

        for bad in [
            json!({}),
            json!({"pricelist": 3541}),
            json!({"pricelist": 55227, "period": 3}),
            json!({"pricelist": 55227, "nodes": 1}),
            json!({"pricelist": 55163, "addon_id": 1}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
        assert!(
            serde_json::from_value::<PlanSettings>(json!({"pricelist": 55227, "nodes": 1}))
                .is_err()
        );
    }

    #[test]
    fn the_license_binding_comes_from_the_service_then_its_parent() {
        let mut s = ServiceInfo {
            id: 7,
            ..Default::default()
        };
        let err = binding(&s).unwrap_err();
        assert!(err.message.contains("has no IP address"), "{err}");
        s.plan.resources.insert("ip".into(), json!("192.0.2.7"));
        let b = binding(&s).unwrap();
        assert_eq!(
            (b.licname.as_str(), b.ip.as_str(), b.remoteid.as_str()),
            ("provisor-7", "192.0.2.7", "l7")
        );
        s.attributes.insert("domain".into(), json!("shop.example"));
        s.attributes.insert("ip".into(), json!("192.0.2.70"));
        let b = binding(&s).unwrap();
        assert_eq!(
            (b.licname.as_str(), b.ip.as_str()),
            ("shop.example", "192.0.2.70")
        );

        let mut child = ServiceInfo {
            id: 8,
            ..Default::default()
        };
        let mut parent = ServiceInfo::default();
        parent
            .attributes
            .insert("domain".into(), json!("vps.example"));
        parent.attributes.insert("ip".into(), json!("198.51.100.4"));
        child.parent = Some(Box::new(parent));
        let b = binding(&child).unwrap();
        assert_eq!(
            (b.licname.as_str(), b.ip.as_str()),
            ("vps.example", "198.51.100.4")
        );

        child.attributes.insert("ip".into(), json!("not-an-ip"));
        assert!(binding(&child).is_err());
    }

    #[test]
    fn only_active_services_with_a_license_are_renewed() {
        let svc = |id: i64, status: &str, remote: Option<&str>| ServiceInfo {
            id,
            status: status.into(),
            remote_id: remote.map(str::to_string),
            plan: PlanInfo {
                settings: json!({"pricelist": 55227, "period": 12}),
                ..Default::default()
            },
            ..Default::default()
        };
        let got = attached(&[
            svc(1, "active", Some("4100001")),
            svc(2, "suspended", Some("4100002")),
            svc(3, "active", None),
            svc(4, "provisioning", Some("x")),
        ]);
        assert_eq!(
            got,
            vec![Attached {
                service_id: 1,
                license: 4_100_001,
                remoteid: "l1".into(),
                period: 12
            }]
        );
    }

    #[test]
    fn every_preset_is_a_valid_plan_and_additional_nodes_add_to_the_plans() {
        let presets = IspsystemNoc::presets();
        assert_eq!(presets.len(), 5);
        for p in &presets {
            let svc = ServiceInfo {
                id: 1,
                plan: PlanInfo {
                    name: p.name.clone(),
                    settings: p.settings.clone(),
                    resources: p.resources.clone(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let product = PlanSettings::of(&svc).unwrap().product().unwrap();
            assert!(p.list_price.is_some(), "{}", p.name);
            assert_eq!(
                product.addon.is_some(),
                p.options.contains_key(ADDITIONAL_NODES),
                "{}",
                p.name
            );
        }
        let business = presets
            .iter()
            .find(|p| p.name == "ISPmanager 6 Business")
            .unwrap();
        let mut resources = business.resources.clone();
        resources.insert(ADDITIONAL_NODES.into(), json!(3));
        let svc = ServiceInfo {
            id: 1,
            plan: PlanInfo {
                settings: business.settings.clone(),
                resources,
                ..Default::default()
            },
            ..Default::default()
        };
        let product = PlanSettings::of(&svc).unwrap().product().unwrap();
        assert_eq!(product.addon, Some((55236, 4)));
        let choices = business.options[ADDITIONAL_NODES].as_object().unwrap();
        assert_eq!(choices.len(), 256);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
