//! The audit trail: events for imports and activations, and tampering found by the chain.

use diesel::RunQueryDsl;
use licet::audit::events::{self, Verification};

use super::common::{ACME_AUDITOR_TOKEN, AUDITOR_TOKEN, Backend, spawn_with};

async fn tampering_is_found(backend: Backend) {
    let app = spawn_with(backend, |_| {});
    app.load_demo().await;
    let verify = || app.state.db.run(events::verify);
    let Verification::Intact { events, head } = verify().await.unwrap() else {
        panic!("a fresh chain must verify");
    };
    // The start's policy activation and one event per imported record.
    assert!(events > 20, "{events}");
    assert_eq!(head.len(), 64);

    // The database refuses changes to the table.
    let sql = |statement: &'static str| {
        app.state.db.run(move |conn| {
            diesel::sql_query(statement)
                .execute(conn)
                .map_err(licet::db::DbError::from)
        })
    };
    let update = sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3").await;
    assert!(
        update.unwrap_err().to_string().contains("append-only"),
        "UPDATE was not refused"
    );
    let delete = sql("DELETE FROM audit_events WHERE seq = 3").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));

    // With the triggers out of the way, a changed row breaks the chain at that row.
    match backend {
        Backend::Sqlite => {
            sql("DROP TRIGGER audit_events_no_update").await.unwrap();
            sql("DROP TRIGGER audit_events_no_delete").await.unwrap();
        }
        Backend::Postgres => {
            sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
                .unwrap();
        }
    }
    sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
        .await
        .unwrap();
    match verify().await.unwrap() {
        Verification::Broken {
            seq,
            problem,
            checked,
            ..
        } => {
            assert_eq!((seq, checked), (7, 6));
            assert!(problem.contains("does not match its hash"), "{problem}");
        }
        other => panic!("tampering not found: {other:?}"),
    }
    // A removed row breaks the link of the row after it.
    sql("UPDATE audit_events SET actor = 'system' WHERE seq = 7")
        .await
        .unwrap();
    assert!(matches!(
        verify().await.unwrap(),
        Verification::Intact { .. }
    ));
    sql("DELETE FROM audit_events WHERE seq = 12")
        .await
        .unwrap();
    match verify().await.unwrap() {
        Verification::Broken { seq, problem, .. } => {
            assert_eq!(seq, 13);
            assert!(problem.contains("removed or inserted"), "{problem}");
        }
        other => panic!("removal not found: {other:?}"),
    }
}

#[actix_web::test]
async fn tampering_with_the_audit_trail_is_found_on_sqlite() {
    tampering_is_found(Backend::Sqlite).await;
}

#[actix_web::test]
async fn tampering_with_the_audit_trail_is_found_on_postgres() {
    tampering_is_found(Backend::Postgres).await;
}

#[actix_web::test]
async fn imports_and_activations_are_audit_events_with_before_and_after() {
    let app = spawn_with(Backend::Sqlite, |_| {});
    app.load_demo().await;
    app.import_text("tenants:\n  - id: acme\n    name: ACME Corporation\n    status: suspended\n")
        .await;
    let page = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/events?tenant=acme&limit=1000")
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let items = page.body["items"].as_array().unwrap();
    let last = items.last().unwrap();
    assert_eq!(last["action"], "import.update");
    assert_eq!(last["object_type"], "tenant");
    assert_eq!(last["object_id"], "acme");
    assert_eq!(last["before"]["status"], "active");
    assert_eq!(last["after"]["status"], "suspended");
    assert_eq!(last["actor"], "system");
    assert_eq!(last["reason"], "import of test.yaml");
    assert!(items.iter().all(|e| e["tenant"] == "acme"));
    // Each event links to the one before it.
    assert_eq!(items[1]["prev_hash"], items[0]["hash"]);

    let all = app.get_as(AUDITOR_TOKEN, "/v1/audit/events?limit=1").await;
    let first = &all.body["items"][0];
    assert_eq!(first["action"], "policy.activate");
    assert_eq!(first["actor"], "system");
    assert_eq!(first["after"]["how"], "start");
    assert_eq!(first["prev_hash"], events::GENESIS);
    assert_eq!(all.body["next"], first["seq"]);

    let limited = app
        .get_as(ACME_AUDITOR_TOKEN, "/v1/audit/events?tenant=globex")
        .await;
    assert_eq!(limited.status, 403);
}
