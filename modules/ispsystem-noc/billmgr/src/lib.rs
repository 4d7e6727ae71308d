//! ISPsystem license reselling through ISPsystem's billing (BILLmanager's API), shared
//! by the `ispsystem-noc` and `billmanager-noc-addon` processing modules: the handler
//! settings, the billmgr client (`authinfo=user:pass&func=...&out=xml`, XML replies,
//! errors mapped to the host's error kinds), and the license lifecycle with its pool.
//!
//! Each module links this crate into its own `.so` and exports only itself. What a
//! module adds is where the license's product (pricelist, period, nodes) and binding
//! (name, IP, `remoteid`) come from: its plan settings and the service (or, for the
//! addon, the parent service).

pub mod client;
pub mod date;
pub mod licenses;
pub mod presets;
pub mod xml;

pub use client::{Client, RemoteError, Settings, DEFAULT_SSO_URL, DEFAULT_URL};
pub use date::Date;
pub use licenses::{
    order_key, pool_prefix, pricelist, service_value, Attached, Binding, License, Licenses,
    OrderNote, PoolEntry, Pricelist, Product, SentOrder, LOST_ORDER_CHECKS, ORDER_PREFIX,
    PRICELISTS,
};
pub use presets::{NocProduct, ADDITIONAL_NODES, MAX_ADDITIONAL_NODES, NOC_PRODUCTS};

#[cfg(test)]
mod tests;
