use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use provisor_store::entities::department;
use provisor_store::error::ErrorKind;

use super::{read, read_newest_first, Cursor, DEFAULT_LIMIT, MAX_LIMIT};
use crate::testdb::each_backend;

#[test]
fn limit_is_bounded_and_named() {
    assert_eq!(Cursor::new(None, None).unwrap().limit, DEFAULT_LIMIT);
    assert_eq!(Cursor::new(Some(100), None).unwrap().limit, MAX_LIMIT);
    for bad in [0, -1, 101] {
        let e = Cursor::new(Some(bad), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), Some("limit"), "{e}");
    }
}

#[tokio::test]
async fn pages_walk_a_listing_in_id_order_on_both_backends() {
    each_backend(|b, store| async move {
        for i in 0..5 {
            department::ActiveModel {
                name: Set(format!("d{i}")),
                email: Set(None),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(store.db())
            .await
            .unwrap();
        }
        let all = department::Entity::find();
        let id = department::Column::Id;
        let names = |p: &super::Page<department::Model>| {
            p.data.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
        };
        let first = read(&store, all.clone(), id, Cursor::new(Some(2), None).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (names(&first), first.has_more),
            (vec!["d0".into(), "d1".into()], true),
            "[{b}]"
        );
        let after = first.data[1].id;
        let second = read(
            &store,
            all.clone(),
            id,
            Cursor::new(Some(2), Some(after)).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(names(&second), ["d2", "d3"], "[{b}]");
        let last = read(
            &store,
            all.clone(),
            id,
            Cursor::new(Some(2), Some(second.data[1].id)).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            (names(&last), last.has_more),
            (vec!["d4".into()], false),
            "[{b}]"
        );
        // An id the listing does not hold (here: filtered out) is refused, named.
        let some = department::Entity::find().filter(department::Column::Name.ne("d0"));
        let e = read(
            &store,
            some,
            id,
            Cursor::new(None, Some(first.data[0].id)).unwrap(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.field()),
            (ErrorKind::Invalid, Some("starting_after")),
            "[{b}] {e}"
        );
        let e = read(&store, all, id, Cursor::new(None, Some(999_999)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("starting_after"), "[{b}] {e}");
    })
    .await;
}

#[tokio::test]
async fn newest_first_pages_walk_down_the_ids_on_both_backends() {
    each_backend(|b, store| async move {
        for i in 0..3 {
            department::ActiveModel {
                name: Set(format!("n{i}")),
                email: Set(None),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(store.db())
            .await
            .unwrap();
        }
        let all = department::Entity::find();
        let id = department::Column::Id;
        let names = |p: &super::Page<department::Model>| {
            p.data.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
        };
        let first = read_newest_first(&store, all.clone(), id, Cursor::new(Some(2), None).unwrap())
            .await
            .unwrap();
        assert_eq!(
            (names(&first), first.has_more),
            (vec!["n2".into(), "n1".into()], true),
            "[{b}]"
        );
        let rest = read_newest_first(
            &store,
            all.clone(),
            id,
            Cursor::new(Some(2), Some(first.data[1].id)).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(
            (names(&rest), rest.has_more),
            (vec!["n0".into()], false),
            "[{b}]"
        );
        let e = read_newest_first(&store, all, id, Cursor::new(None, Some(999_999)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("starting_after"), "[{b}] {e}");
    })
    .await;
}
