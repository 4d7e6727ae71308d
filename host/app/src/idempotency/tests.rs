use chrono::Utc;

use super::{abandon, begin, finish, prune, Begun, Request, KEEP};
use crate::testdb::each_backend;

fn req<'a>(key: &'a str, hash: &'a str) -> Request<'a> {
    Request {
        owner: "anonymous",
        key,
        method: "POST",
        path: "/v1/usage",
        hash,
    }
}

#[tokio::test]
async fn a_key_runs_once_replays_and_refuses_another_body_on_both_backends() {
    each_backend(|b, store| async move {
        let now = Utc::now();
        let Begun::New(ticket) = begin(&store, &req("k1", "h1"), now).await.unwrap() else {
            panic!("[{b}] a new key runs");
        };
        assert_eq!(
            begin(&store, &req("k1", "h1"), now).await.unwrap(),
            Begun::Running,
            "[{b}]"
        );
        assert_eq!(
            begin(&store, &req("k1", "h2"), now).await.unwrap(),
            Begun::Mismatch,
            "[{b}]"
        );
        // Another owner's key of the same name is another key.
        let other = Request {
            owner: "token-2",
            ..req("k1", "h2")
        };
        assert!(
            matches!(begin(&store, &other, now).await.unwrap(), Begun::New(_)),
            "[{b}]"
        );
        finish(&store, ticket, 200, "{\"ok\":1}".into(), now)
            .await
            .unwrap();
        assert_eq!(
            begin(&store, &req("k1", "h1"), now).await.unwrap(),
            Begun::Replay {
                status: 200,
                body: "{\"ok\":1}".into()
            },
            "[{b}]"
        );
        // An abandoned key runs again.
        let Begun::New(t2) = begin(&store, &req("k2", "h1"), now).await.unwrap() else {
            panic!("[{b}] k2 is new");
        };
        abandon(&store, t2).await.unwrap();
        assert!(
            matches!(
                begin(&store, &req("k2", "h1"), now).await.unwrap(),
                Begun::New(_)
            ),
            "[{b}]"
        );
        // After a day a key is new again, lazily or by the prune.
        let later = now + KEEP;
        assert!(
            matches!(
                begin(&store, &req("k1", "h2"), later).await.unwrap(),
                Begun::New(_)
            ),
            "[{b}]"
        );
        assert_eq!(prune(&store, later + KEEP).await.unwrap(), 2, "[{b}]");
    })
    .await;
}
