//! `billmanager-noc-addon`: ISPmanager 6 / VMmanager 6 licenses from ISPsystem's billing,
//! sold as an **addon** to another service (a VPS or a dedicated server), with a license
//! type and a lifetime in months (empty = unlimited).
//!
//! The license calls are `ispsystem-noc`'s (the shared `provisor-ispsystem-billmgr`
//! crate): the license the operation's order note holds (or a lost order's, confirmed by
//! `soft.edit`), else reuse a pooled license, else order; bounded wait for the key; terminate releases into the pool. What differs: the license is named
//! `{parent domain}_addon` and bound to the parent's IP (the parent service's `domain`
//! and `ip` attributes, or its plan resources), its `remoteid` is `a{service id}`, the
//! product comes from the license type, and the daily run asks the host to terminate
//! the addon once its start date plus its lifetime has passed. See
//! `docs/modules/ispsystem.md`.

use provisor_ispsystem_billmgr::{
    pricelist, service_value, Attached, Binding, Date, Licenses, Product, Settings,
};
use provisor_module_api::serde_json::{json, Map, Value};
use provisor_module_api::*;
use serde::Deserialize;

pub use provisor_ispsystem_billmgr::{DEFAULT_SSO_URL, DEFAULT_URL};

/// The license sold by an addon plan, mapped onto ISPsystem's v6 pricelists. The
/// legacy (v5) types OVZ, KVM and Cloud are all VMmanager 6 now; they differ in nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LicenseType {
    /// ISPmanager 6 Lite (55227).
    #[serde(rename = "ispmanager6-lite")]
    Ispmanager6Lite,
    /// ISPmanager 6 Pro (55228).
    #[serde(rename = "ispmanager6-pro")]
    Ispmanager6Pro,
    /// ISPmanager 6 Host (55229).
    #[serde(rename = "ispmanager6-host")]
    Ispmanager6Host,
    /// ISPmanager 6 Business (55230, nodes in addon 55236).
    #[serde(rename = "ispmanager6-business")]
    Ispmanager6Business,
    /// VMmanager 6 for what was VMmanager OVZ (55163, 1 node in addon 55165).
    #[serde(rename = "vmmanager6-ovz")]
    Vmmanager6Ovz,
    /// VMmanager 6 for what was VMmanager KVM (55163, 1 node in addon 55165).
    #[serde(rename = "vmmanager6-kvm")]
    Vmmanager6Kvm,
    /// VMmanager 6 for what was VMmanager Cloud (55163, 5 nodes in addon 55165).
    #[serde(rename = "vmmanager6-cloud")]
    Vmmanager6Cloud,
}

impl LicenseType {
    /// Every license type, in the order of the schema's `enum`.
    pub const ALL: [LicenseType; 7] = [
        LicenseType::Ispmanager6Lite,
        LicenseType::Ispmanager6Pro,
        LicenseType::Ispmanager6Host,
        LicenseType::Ispmanager6Business,
        LicenseType::Vmmanager6Ovz,
        LicenseType::Vmmanager6Kvm,
        LicenseType::Vmmanager6Cloud,
    ];

    /// The name used in plan settings.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Ispmanager6Lite => "ispmanager6-lite",
            LicenseType::Ispmanager6Pro => "ispmanager6-pro",
            LicenseType::Ispmanager6Host => "ispmanager6-host",
            LicenseType::Ispmanager6Business => "ispmanager6-business",
            LicenseType::Vmmanager6Ovz => "vmmanager6-ovz",
            LicenseType::Vmmanager6Kvm => "vmmanager6-kvm",
            LicenseType::Vmmanager6Cloud => "vmmanager6-cloud",
        }
    }

    /// The ISPsystem pricelist the license is ordered from.
    pub fn pricelist(self) -> u64 {
        match self {
            LicenseType::Ispmanager6Lite => 55227,
            LicenseType::Ispmanager6Pro => 55228,
            LicenseType::Ispmanager6Host => 55229,
            LicenseType::Ispmanager6Business => 55230,
            LicenseType::Vmmanager6Ovz
            | LicenseType::Vmmanager6Kvm
            | LicenseType::Vmmanager6Cloud => 55163,
        }
    }

    /// The nodes a license of this type comes with before additional ones (`None`: the
    /// product has no node addon).
    pub fn base_nodes(self) -> Option<u32> {
        match self {
            LicenseType::Ispmanager6Business
            | LicenseType::Vmmanager6Ovz
            | LicenseType::Vmmanager6Kvm => Some(1),
            LicenseType::Vmmanager6Cloud => Some(5),
            _ => None,
        }
    }
}

/// A plan's settings for this module.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Which license the addon is.
    pub license_type: LicenseType,
    /// How many months the addon lives; `None` (null or absent) is unlimited.
    #[serde(default)]
    pub lifetime_months: Option<u32>,
    /// Nodes beyond the type's own (ISPmanager 6 Business and VMmanager 6 only).
    #[serde(default)]
    pub additional_nodes: u32,
}

impl PlanSettings {
    /// Reads a service's plan settings.
    pub fn of(service: &ServiceInfo) -> Result<PlanSettings, ModuleError> {
        serde_json::from_value(service.plan.settings.clone()).map_err(|e| {
            ModuleError::invalid_config(format!(
                "plan {:?}'s settings do not fit billmanager-noc-addon ({e}): give it {{\"license_type\": \"ispmanager6-lite\"}} or another type",
                service.plan.name
            ))
        })
    }

    /// The product: pricelist, one month per order and renewal, and the node addon
    /// carrying 1 (5 for Cloud) + `additional_nodes`.
    pub fn product(&self) -> Result<Product, ModuleError> {
        let t = self.license_type;
        let pl = pricelist(t.pricelist()).ok_or_else(|| {
            ModuleError::invalid_config(format!("license type {} has no pricelist", t.as_str()))
        })?;
        let addon = match (t.base_nodes(), pl.node_addon) {
            (Some(base), Some(addon)) => Some((addon, base + self.additional_nodes)),
            _ if self.additional_nodes > 0 => {
                return Err(ModuleError::invalid_config(format!(
                    "license type {} has no nodes: set additional_nodes to 0",
                    t.as_str()
                )))
            }
            _ => None,
        };
        Ok(Product {
            pricelist: pl,
            period: 1,
            addon,
        })
    }
}

/// The addon's remoteid at ISPsystem.
pub fn remoteid(service: &ServiceInfo) -> String {
    format!("a{}", service.id)
}

/// The license is named `{parent domain}_addon` and bound to the parent's IP (the
/// parent's attributes first, then its plan resources).
pub fn binding(service: &ServiceInfo) -> Result<Binding, ModuleError> {
    let parent = service.parent.as_deref().ok_or_else(|| {
        ModuleError::permanent(format!(
            "service #{} is not an addon of another service: order plan {:?} with --addon-of SERVICE (the server the license is for)",
            service.id, service.plan.name
        ))
    })?;
    let missing = |what: &str| {
        ModuleError::permanent(format!(
            "the parent service #{} has no `{what}` attribute, which the license needs (name {{domain}}_addon, bound to the parent's ip): set it on the parent, then retry",
            parent.id
        ))
    };
    let domain = service_value(parent, "domain").ok_or_else(|| missing("domain"))?;
    let ip = service_value(parent, "ip").ok_or_else(|| missing("ip"))?;
    if ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(ModuleError::permanent(format!(
            "the parent service #{}'s ip {ip:?} is not an IPv4 address; ISPsystem binds licenses to one",
            parent.id
        )));
    }
    Ok(Binding {
        licname: format!("{domain}_addon"),
        ip,
        remoteid: remoteid(service),
    })
}

/// The module: one instance per handler.
pub struct BillmanagerNocAddon {
    host: Host,
    settings: Settings,
}

impl BillmanagerNocAddon {
    fn ops(&self) -> Licenses<'_> {
        Licenses::new(&self.host, &self.settings)
    }
}

impl Module for BillmanagerNocAddon {
    type Settings = Settings;

    fn manifest() -> Manifest {
        let types: Vec<&str> = LicenseType::ALL.iter().map(|t| t.as_str()).collect();
        Manifest {
            name: "billmanager-noc-addon".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: String::new(), // filled in by the SDK
            description: "ISPsystem licenses sold as an addon of another service, named after it and bound to its IP, with a lifetime".to_string(),
            capabilities: vec![
                Capability::TestConnection,
                Capability::Create,
                Capability::Suspend,
                Capability::Unsuspend,
                Capability::Terminate,
                Capability::Renew,
                Capability::Sso,
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
                "required": ["license_type"],
                "properties": {
                    "license_type": {
                        "type": "string",
                        "enum": types,
                        "description": "The license: ISPmanager 6 Lite/Pro/Host/Business (55227/55228/55229/55230), or VMmanager 6 (55163) as OVZ or KVM (1 node) or Cloud (5 nodes)"
                    },
                    "lifetime_months": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "default": null,
                        "description": "Months the addon lives before the daily run asks to terminate it; empty (null) is unlimited"
                    },
                    "additional_nodes": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "Nodes beyond the type's own (ISPmanager 6 Business and VMmanager 6 only)"
                    }
                }
            }),
        }
    }

    /// The NOC addon's products (reference §3a) as addon plans "… addon": each sells
    /// the license on any service with the type's default node count, unlimited in
    /// time. List prices are shown to the hoster, never set.
    fn presets() -> Vec<PlanPreset> {
        provisor_ispsystem_billmgr::NOC_PRODUCTS
            .iter()
            .map(|p| PlanPreset {
                name: format!("{} addon", p.name),
                description: format!(
                    "{}, as an addon to any service (license type {}, default nodes)",
                    p.description, p.license_type
                ),
                addon: true,
                settings: json!({ "license_type": p.license_type }),
                resources: Map::new(),
                options: Map::new(),
                list_price: Some(ListPrice {
                    amount: p.monthly.to_string(),
                    currency: None,
                    period: "monthly".to_string(),
                    note: String::new(),
                }),
            })
            .collect()
    }

    fn new(host: Host, settings: Settings) -> Result<Self, ModuleError> {
        let settings = settings.validate()?;
        Ok(BillmanagerNocAddon { host, settings })
    }

    fn test_connection(&self) -> Result<ConnectionInfo, ModuleError> {
        self.ops().test_connection()
    }

    fn create(&self, request: LifecycleRequest) -> Result<Outcome, ModuleError> {
        let plan = PlanSettings::of(&request.service)?;
        let product = plan.product()?;
        let binding = binding(&request.service)?;
        let outcome = self.ops().create(&request, &product, &binding)?;
        Ok(match outcome {
            Outcome::Done {
                remote_id,
                mut attributes,
                message,
            } => {
                // The lifetime counts from the day the addon was first provisioned.
                let start = request
                    .service
                    .attributes
                    .get("addon_start")
                    .and_then(Value::as_str)
                    .and_then(Date::parse)
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| self.host.today());
                attributes.insert("addon_start".into(), json!(start));
                attributes.insert("license_type".into(), json!(plan.license_type.as_str()));
                Outcome::Done {
                    remote_id,
                    attributes,
                    message,
                }
            }
            other => other,
        })
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
        let product = PlanSettings::of(&request.service)?.product()?;
        self.ops()
            .renew(&request, product.period, &remoteid(&request.service))
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

    fn client_area(&self, request: ServiceRequest) -> Result<Panel, ModuleError> {
        let s = &request.service;
        let title = PlanSettings::of(s)
            .ok()
            .and_then(|p| pricelist(p.license_type.pricelist()))
            .map(|p| format!("{} license (addon)", p.name))
            .unwrap_or_else(|| "ISPsystem license (addon)".to_string());
        self.ops().client_area(s, &remoteid(s), &title)
    }

    fn daily(&self, request: DailyRequest) -> Result<DailyReport, ModuleError> {
        let (mut actions, attached) = lifetimes(&request.date, &request.services)?;
        actions.extend(self.ops().daily(&request.date, &attached)?);
        Ok(DailyReport { actions })
    }
}

/// Which addons' lifetimes have passed on `date` (the host is asked to terminate them),
/// and which active addons keep their licenses renewed.
fn lifetimes(
    date: &str,
    services: &[ServiceInfo],
) -> Result<(Vec<DailyAction>, Vec<Attached>), ModuleError> {
    let today = Date::parse(date).ok_or_else(|| {
        ModuleError::permanent(format!("daily: {date:?} is not a date (YYYY-MM-DD)"))
    })?;
    let mut actions = Vec::new();
    let mut attached = Vec::new();
    for s in services {
        let plan = PlanSettings::of(s).ok();
        let start = s
            .attributes
            .get("addon_start")
            .and_then(Value::as_str)
            .and_then(Date::parse);
        if let (Some(months), Some(start)) = (plan.as_ref().and_then(|p| p.lifetime_months), start)
        {
            let end = start.add_months(months as i32);
            if today >= end {
                if !s.attributes.contains_key("lifetime_ended") {
                    let mut attributes = Map::new();
                    attributes.insert("lifetime_ended".into(), json!(today.to_string()));
                    actions.push(DailyAction {
                        service_id: Some(s.id),
                        event: "lifetime_ended".into(),
                        message: format!(
                            "addon #{} started on {start} with a lifetime of {months} month(s), which ended on {end}: terminating it",
                            s.id
                        ),
                        request: Some("terminate".into()),
                        attributes,
                    });
                }
                continue;
            }
        }
        if s.status != "active" {
            continue;
        }
        let Some(license) = s.remote_id.as_deref().and_then(|r| r.trim().parse().ok()) else {
            continue;
        };
        attached.push(Attached {
            service_id: s.id,
            license,
            remoteid: remoteid(s),
            period: 1,
        });
    }
    Ok((actions, attached))
}

export_module!(BillmanagerNocAddon);

#[cfg(test)]
mod tests {
    use super::*;

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
            "url": "https://api.ispsystem.com/manager/billmgr",
            "username": "reseller",
            "password": "hunter2",
            "project": 1
        })
    }

    #[test]
    fn manifest_lists_what_is_implemented() {
        let m = BillmanagerNocAddon::manifest();
        assert_eq!(m.name, "billmanager-noc-addon");
        assert!(m.capabilities.contains(&Capability::Daily));
        assert!(!m.capabilities.contains(&Capability::ListAccounts));
    }

    #[test]
    fn only_the_password_is_write_only_and_required_names_real_properties() {
        let m = BillmanagerNocAddon::manifest();
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
    fn schema_and_struct_accept_full_and_minimal_settings_and_refuse_mistakes() {
        let schema = BillmanagerNocAddon::manifest().settings_schema;
        assert!(fits(&schema, &full()));
        assert_eq!(settings(full()).unwrap().project, Some(1));
        let minimal = json!({"username": "reseller", "password": "p"});
        assert!(fits(&schema, &minimal));
        assert_eq!(settings(minimal).unwrap().url, DEFAULT_URL);
        let mut no_username = full();
        no_username.as_object_mut().unwrap().remove("username");
        let mut unknown = full();
        unknown["license_type"] = json!("vmmanager6-kvm");
        let mut colon = full();
        colon["username"] = json!("a:b");
        for bad in [no_username, unknown, colon] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
            assert!(settings(bad.clone()).is_err(), "struct accepted {bad}");
        }
    }

    #[test]
    fn every_license_type_maps_to_a_pricelist_and_nodes() {
        let schema = BillmanagerNocAddon::manifest().plan_schema;
        let mut seen = Vec::new();
        for t in LicenseType::ALL {
            for lifetime in [json!(null), json!(12)] {
                let plan = json!({"license_type": t.as_str(), "lifetime_months": lifetime});
                assert!(fits(&schema, &plan), "{plan}");
                let parsed: PlanSettings = serde_json::from_value(plan).unwrap();
                assert_eq!(parsed.license_type, t);
                assert_eq!(parsed.lifetime_months, lifetime.as_u64().map(|m| m as u32));
                let product = parsed.product().unwrap();
                assert_eq!(product.period, 1);
                seen.push((t.as_str(), product.pricelist.id, product.addon));
            }
        }
        assert!(seen.contains(&("ispmanager6-lite", 55227, None)));
        assert!(seen.contains(&("ispmanager6-business", 55230, Some((55236, 1)))));
        assert!(seen.contains(&("vmmanager6-kvm", 55163, Some((55165, 1)))));
        assert!(seen.contains(&("vmmanager6-cloud", 55163, Some((55165, 5)))));
        let cloud: PlanSettings = serde_json::from_value(
            json!({"license_type": "vmmanager6-cloud", "additional_nodes": 2}),
        )
        .unwrap();
        assert_eq!(cloud.product().unwrap().addon, Some((55165, 7)));
        let lite: PlanSettings = serde_json::from_value(
            json!({"license_type": "ispmanager6-lite", "additional_nodes": 2}),
        )
        .unwrap();
        assert_eq!(lite.product().unwrap_err().kind, ErrorKind::InvalidConfig);
        for bad in [
            json!({}),
            json!({"license_type": "ispmanager5-lite"}),
            json!({"license_type": "vmmanager6-kvm", "lifetime_months": 0}),
            json!({"license_type": "vmmanager6-kvm", "lifetime_months": "12"}),
            json!({"license_type": "vmmanager6-kvm", "additional_nodes": -1}),
        ] {
            assert!(!fits(&schema, &bad), "schema accepted {bad}");
        }
    }

    #[test]
    fn the_license_is_named_after_the_parent_and_bound_to_its_ip() {
        let mut addon = ServiceInfo {
            id: 9,
            ..Default::default()
        };
        let err = binding(&addon).unwrap_err();
        assert!(err.message.contains("--addon-of"), "{err}");
        let mut parent = ServiceInfo {
            id: 4,
            ..Default::default()
        };
        parent
            .attributes
            .insert("domain".into(), json!("vps4.example"));
        addon.parent = Some(Box::new(parent.clone()));
        let err = binding(&addon).unwrap_err();
        assert!(
            err.message.contains("parent service #4 has no `ip`"),
            "{err}"
        );
        parent.attributes.insert("ip".into(), json!("203.0.113.4"));
        addon.parent = Some(Box::new(parent));
        let b = binding(&addon).unwrap();
        assert_eq!(
            (b.licname.as_str(), b.ip.as_str(), b.remoteid.as_str()),
            ("vps4.example_addon", "203.0.113.4", "a9")
        );
    }

    #[test]
    fn the_daily_run_asks_to_terminate_once_the_lifetime_has_passed() {
        let svc = |id: i64, lifetime: Value, start: Option<&str>, ended: bool| {
            let mut s = ServiceInfo {
                id,
                status: "active".into(),
                remote_id: Some(format!("{}", 4_100_000 + id)),
                plan: PlanInfo {
                    settings: json!({"license_type": "ispmanager6-lite", "lifetime_months": lifetime}),
                    ..Default::default()
                },
                ..Default::default()
            };
            if let Some(start) = start {
                s.attributes.insert("addon_start".into(), json!(start));
            }
            if ended {
                s.attributes
                    .insert("lifetime_ended".into(), json!("2026-03-31"));
            }
            s
        };
        let services = [
            svc(1, json!(2), Some("2026-01-31"), false),
            svc(2, json!(null), Some("2020-01-01"), false),
            svc(3, json!(2), Some("2026-02-01"), false),
            svc(4, json!(1), Some("2026-01-01"), true),
        ];
        let (actions, attached) = lifetimes("2026-03-31", &services).unwrap();
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert_eq!(actions[0].service_id, Some(1));
        assert_eq!(actions[0].request.as_deref(), Some("terminate"));
        assert_eq!(actions[0].attributes["lifetime_ended"], "2026-03-31");
        let renewed: Vec<i64> = attached.iter().map(|a| a.service_id).collect();
        assert_eq!(renewed, vec![2, 3]);
        assert_eq!(attached[0].remoteid, "a2");
        let (actions, _) = lifetimes("2026-03-30", &services).unwrap();
        assert!(actions.is_empty(), "{actions:?}");
    }

    #[test]
    fn every_preset_is_an_addon_plan_of_a_known_license_type() {
        let presets = BillmanagerNocAddon::presets();
        assert_eq!(presets.len(), 5);
        for p in presets {
            assert!(p.addon && p.name.ends_with(" addon"), "{}", p.name);
            let svc = ServiceInfo {
                plan: PlanInfo {
                    settings: p.settings.clone(),
                    ..Default::default()
                },
                ..Default::default()
            };
            PlanSettings::of(&svc).unwrap().product().unwrap();
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", settings(full()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
