//! The tariff plans ISPsystem's NOC addon creates on activation (reference §3a: WHMCS's
//! `ispsystem_partners_create_packages`), as catalog presets for both modules: the five
//! products with their default monthly prices and node prices, each mapped onto the v6
//! pricelist it is sold from today (VMmanager 5 OVZ, KVM and Cloud are all VMmanager 6,
//! differing in nodes, as the addon module maps them).

/// One product of the NOC addon's price list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NocProduct {
    /// The product's name (the v6 product it is sold as).
    pub name: &'static str,
    /// The NOC addon's description.
    pub description: &'static str,
    /// The default monthly price (decimal text; the list names no currency).
    pub monthly: &'static str,
    /// The legacy (v5) pricelist id in the NOC addon's list.
    pub legacy_pricelist: u64,
    /// The v6 pricelist it is ordered from now.
    pub pricelist: u64,
    /// The nodes the license comes with (`None`: the product has no node addon).
    pub base_nodes: Option<u32>,
    /// The monthly price per additional node, when nodes can be added.
    pub per_node: Option<&'static str>,
    /// `license_type` in the addon module's plan settings.
    pub license_type: &'static str,
}

/// The NOC addon's five products, in its order.
pub const NOC_PRODUCTS: [NocProduct; 5] = [
    NocProduct {
        name: "ISPmanager 6 Lite",
        description: "Control panel for managing your personal server",
        monthly: "4.00",
        legacy_pricelist: 3541,
        pricelist: 55227,
        base_nodes: None,
        per_node: None,
        license_type: "ispmanager6-lite",
    },
    NocProduct {
        name: "ISPmanager 6 Business",
        description: "Control panel for providing shared and reselling hosting",
        monthly: "12.00",
        legacy_pricelist: 4601,
        pricelist: 55230,
        base_nodes: Some(1),
        per_node: Some("12.00"),
        license_type: "ispmanager6-business",
    },
    NocProduct {
        name: "VMmanager 6 OVZ",
        description: "OpenVZ-based virtual machines management",
        monthly: "8.00",
        legacy_pricelist: 3651,
        pricelist: 55163,
        base_nodes: Some(1),
        per_node: Some("8.00"),
        license_type: "vmmanager6-ovz",
    },
    NocProduct {
        name: "VMmanager 6 KVM",
        description: "KVM-based virtual machines management",
        monthly: "8.00",
        legacy_pricelist: 3045,
        pricelist: 55163,
        base_nodes: Some(1),
        per_node: Some("8.00"),
        license_type: "vmmanager6-kvm",
    },
    NocProduct {
        name: "VMmanager 6 Cloud",
        description: "Manage fail-over cluster of servers",
        monthly: "80.00",
        legacy_pricelist: 3887,
        pricelist: 55163,
        base_nodes: Some(5),
        per_node: Some("16.00"),
        license_type: "vmmanager6-cloud",
    },
];

/// The most nodes the "Additional nodes in cluster" option offers (0 to 255).
pub const MAX_ADDITIONAL_NODES: u32 = 255;

/// The resource the "Additional nodes in cluster" option sets.
pub const ADDITIONAL_NODES: &str = "additional_nodes";
