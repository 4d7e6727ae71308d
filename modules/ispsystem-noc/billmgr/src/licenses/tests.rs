//! Unit tests: reading licenses from list elements and edit forms, random keys, and
//! pool entries.

use super::*;

#[test]
fn licenses_read_from_list_elements_and_edit_forms() {
    let list = Elem::parse("<doc><elem><id>7</id><licname>a</licname><ip>192.0.2.1</ip><expiredate>2026-02-28</expiredate><pricelist>55227</pricelist><status>2</status><remoteid>l1</remoteid></elem><elem><licname>no id</licname></elem></doc>").unwrap();
    let all: Vec<License> = list
        .children_named("elem")
        .filter_map(License::from_elem)
        .collect();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].pricelist, Some(55227));
    assert_eq!(all[0].status_text(), "active");
    let form =
        Elem::parse("<doc><elid>9</elid><lickey>K</lickey><status>5</status></doc>").unwrap();
    let l = License::from_elem(&form).unwrap();
    assert_eq!(
        (l.id, l.lickey.as_str(), l.status),
        (9, "K", STATUS_PROCESSING)
    );
    assert!(l.free_or_bound_to("l3"));
}

#[test]
fn random_keys_differ_and_are_long_enough() {
    let a = random_key("2026-01-01T00:00:00Z");
    let b = random_key("2026-01-01T00:00:00Z");
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[test]
fn pool_entries_round_trip_without_empty_claims() {
    let e = PoolEntry {
        license: 5,
        pricelist: 55227,
        nodes: 0,
        expiredate: "2026-02-28".into(),
        freed: "2026-01-31".into(),
        claimed_by: None,
        claimed_on: None,
    };
    let text = serde_json::to_string(&e).unwrap();
    assert!(!text.contains("claimed"), "{text}");
    assert_eq!(serde_json::from_str::<PoolEntry>(&text).unwrap(), e);
    assert_eq!(pool_prefix(55163, 5), "pool/55163-5/");
}
