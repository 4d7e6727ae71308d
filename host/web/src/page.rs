//! Listings over HTTP: the `limit` and `starting_after` query parameters, and Stripe's
//! list envelope `{"object":"list","data":[…],"has_more":…,"next":…}` around a page
//! read by `provisor_app::page`.

use std::collections::HashMap;

use serde::Serialize;

use provisor_app::page::{Cursor, Page};
use provisor_store::error::{Error, Message};

use crate::problem::Problem;

/// A page of a listing, as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct List<T> {
    /// Always `list`.
    pub object: &'static str,
    /// The objects, in id order.
    pub data: Vec<T>,
    /// Whether objects follow the last one.
    pub has_more: bool,
    /// The path of the next page (with the same `limit`), when there is one.
    pub next: Option<String>,
}

fn whole_number(name: &'static str, v: &str) -> Result<i64, Problem> {
    v.trim().parse::<i64>().map_err(|_| {
        Problem::from_error(&Error::invalid(Message::about(
            name,
            format!("{v:?} is not a whole number: pass an integer"),
        )))
    })
}

/// The path of a listing with its filters (`pairs` already checked), for [`envelope`].
pub fn filtered(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("{path}?{query}")
}

/// The cursor a listing's query asks for; a bad `limit` or `starting_after` is a 400
/// naming it.
pub fn cursor<S: std::hash::BuildHasher>(
    query: &HashMap<String, String, S>,
) -> Result<Cursor, Problem> {
    let limit = query
        .get("limit")
        .map(|v| whole_number("limit", v))
        .transpose()?;
    let after = query
        .get("starting_after")
        .map(|v| whole_number("starting_after", v))
        .transpose()?;
    Cursor::new(limit, after).map_err(Problem::from)
}

/// The envelope of a page of `path`'s listing (with its filters as a query, so `next`
/// keeps them): `id` gives an object's id for `next`.
pub fn envelope<M, T>(
    path: &str,
    cursor: Cursor,
    page: Page<M>,
    id: impl Fn(&M) -> i64,
    render: impl Fn(M) -> T,
) -> List<T> {
    let next = if page.has_more {
        page.data.last().map(|m| {
            let join = if path.contains('?') { '&' } else { '?' };
            format!(
                "{path}{join}limit={}&starting_after={}",
                cursor.limit,
                id(m)
            )
        })
    } else {
        None
    };
    List {
        object: "list",
        has_more: page.has_more,
        next,
        data: page.data.into_iter().map(render).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_parsed_and_the_envelope_points_at_the_next_page() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<HashMap<_, _>>()
        };
        let c = cursor(&q(&[("limit", "2")])).unwrap();
        assert_eq!((c.limit, c.starting_after), (2, None));
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "x"),
            ("starting_after", "y"),
        ] {
            let p = cursor(&q(&[bad])).unwrap_err();
            assert_eq!((p.status, p.errors[0].field.as_str()), (400, bad.0));
        }
        let page = Page {
            data: vec![3_i64, 7],
            has_more: true,
        };
        let list = envelope("/v1/things", c, page.clone(), |m| *m, |m| m * 10);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::json!({"object": "list", "data": [30, 70], "has_more": true, "next": "/v1/things?limit=2&starting_after=7"})
        );
        let filtered = envelope("/v1/things?status=active", c, page, |m| *m, |m| m * 10);
        assert_eq!(
            filtered.next.as_deref(),
            Some("/v1/things?status=active&limit=2&starting_after=7")
        );
    }
}
