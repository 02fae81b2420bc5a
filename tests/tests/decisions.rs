//! The decision API answered for every demo case, on SQLite and on PostgreSQL.

mod common;

use common::{Backend, TestApp, device_request, spawn};
use serde_json::{Value, json};

/// (tenant, principal type, principal id, feature, version, environment, decision, reasons, advice)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("acme", "Device", "d-7f3a", "cad.export", "2.4.1", "prod", "allow", &[], &[]),
    ("acme", "Device", "d-7f3a", "cad.edit", "3.1.0", "test", "allow", &[], &[]),
    ("acme", "Device", "d-91c2", "cad.view", "2.4.1", "prod", "deny", &["DEVICE_REVOKED"], &[]),
    ("acme", "Device", "d-7f3a", "cad.render", "2.4.1", "prod", "deny", &["FEATURE_NOT_ENTITLED"], &[]),
    ("acme", "Device", "d-7f3a", "cad.export", "4.1.0", "prod", "deny", &["VERSION_OUT_OF_RANGE"], &[]),
    ("acme", "Device", "d-7f3a", "cad.export", "1.9.0", "staging", "deny", &["ENVIRONMENT_NOT_ENTITLED", "VERSION_OUT_OF_RANGE"], &[]),
    ("acme", "Device", "d-lab-1", "sim.solve", "2.0.0", "prod", "deny", &["ENVIRONMENT_NOT_ENTITLED"], &[]),
    ("acme", "Device", "d-lab-1", "sim.solve", "2.0.0", "test", "allow", &[], &[]),
    ("acme", "Device", "d-lab-1", "cad.view", "2.4.1", "prod", "allow", &[], &[]),
    ("acme", "User", "u-bob", "cad.view", "3.0.0", "prod", "allow", &[], &[]),
    ("globex", "Device", "g-ws-01", "cad.render", "3.1.0", "prod", "allow", &[], &["IN_GRACE"]),
    ("globex", "Device", "g-ws-01", "cad.export", "2.4.1", "prod", "deny", &["VERSION_OUT_OF_RANGE"], &[]),
    // A device bound to a CAD entitlement holds no FlowSim seat.
    ("globex", "Device", "g-ws-01", "sim.solve", "1.2.0", "prod", "deny", &["NOT_ENTITLED"], &[]),
    // A pre-release sorts below its release, so 3.0.0-rc.1 is below the range starting at 3.0.0.
    ("globex", "Device", "g-ws-01", "cad.export", "3.0.0-rc.1", "prod", "deny", &["VERSION_OUT_OF_RANGE"], &[]),
    ("globex", "Device", "g-ws-01", "cad.export", "3.2.0", "prod", "deny", &["VERSION_OUT_OF_RANGE"], &[]),
    ("initech", "Device", "i-node-1", "sim.solve", "2.0.0", "prod", "deny", &["EXPIRED"], &[]),
    ("initech", "Device", "i-node-1", "cad.view", "3.0.0", "prod", "deny", &["NOT_ENTITLED"], &[]),
    ("initech", "User", "u-peter", "sim.solve", "2.0.0", "prod", "deny", &["EXPIRED"], &[]),
    ("umbrella", "Device", "u-ws-9", "cad.view", "3.0.0", "prod", "deny", &["TENANT_SUSPENDED"], &[]),
];

fn request(case: &Case) -> Value {
    let (tenant, kind, id, feature, version, env, ..) = *case;
    json!({
        "tenant": tenant,
        "principal": { "type": kind, "id": id },
        "action": "use",
        "resource": { "type": "Feature", "id": feature },
        "context": { "product_version": version, "environment": env },
        "nonce": "n-123",
    })
}

async fn every_demo_case_gets_its_decision_and_exact_reasons(app: TestApp) {
    app.load_demo().await;
    let active = app.get("/v1/policies/active").await;
    let version = active.body["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("sha256:"));

    for case in CASES {
        let answer = app.decide(&request(case)).await;
        assert_eq!(answer.status, 200, "{case:?}: {}", answer.text);
        assert_eq!(answer.content_type, "application/json");
        let (.., decision, reasons, advice) = *case;
        assert_eq!(
            answer.body["decision"], decision,
            "{case:?}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["reasons"],
            json!(reasons),
            "{case:?}: {}",
            answer.text
        );
        assert_eq!(
            answer.body["advice"],
            json!(advice),
            "{case:?}: {}",
            answer.text
        );
        assert_eq!(answer.body["policy_version"], version.as_str());
        assert_eq!(answer.body["token"].as_str().unwrap().split('.').count(), 3);
    }
}

#[actix_web::test]
async fn demo_cases_on_sqlite() {
    every_demo_case_gets_its_decision_and_exact_reasons(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn demo_cases_on_postgres() {
    every_demo_case_gets_its_decision_and_exact_reasons(spawn(Backend::Postgres)).await;
}

#[actix_web::test]
async fn allow_names_the_granting_entitlement_and_echoes_the_request_id() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;
    let answer = app
        .decide(&device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(answer.body["entitlement"], "ent-acme-cad");
    assert_eq!(answer.body["request_id"].as_str().unwrap().len(), 36);
}

#[actix_web::test]
async fn a_change_made_through_licet_is_seen_by_the_next_decision() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;
    let body = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
    assert_eq!(app.decide(&body).await.body["decision"], "allow");

    app.import_text(
        "tenants:\n  - id: acme\n    name: Acme Engineering\n    devices:\n      - { id: d-7f3a, fingerprint: \"sha256:7f3a0c1e\", name: Workstation 7F3A, entitlement: ent-acme-cad, status: revoked }\n",
    )
    .await;
    let answer = app.decide(&body).await;
    assert_eq!(answer.body["decision"], "deny");
    assert_eq!(answer.body["reasons"], json!(["DEVICE_REVOKED"]));
}

#[actix_web::test]
async fn a_change_made_by_another_process_is_seen_within_the_cache_ttl() {
    let app = common::spawn_with(Backend::Sqlite, |c| c.cache.ttl_seconds = 1);
    app.load_demo().await;
    let body = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
    assert_eq!(app.decide(&body).await.body["decision"], "allow");

    // Another process writes directly to the database: this one's cache is not told.
    let other =
        licet::db::Database::connect(&app.database_url, 1, std::time::Duration::from_secs(5))
            .unwrap();
    let data = licet::licensing::import::parse(
        "other.yaml",
        "tenants:\n  - id: acme\n    name: Acme Engineering\n    devices:\n      - { id: d-7f3a, fingerprint: \"sha256:7f3a0c1e\", name: Workstation 7F3A, entitlement: ent-acme-cad, status: inactive }\n",
    )
    .unwrap();
    licet::licensing::import::import(&mut other.conn().unwrap(), "other.yaml", &data, "test")
        .unwrap();
    assert_eq!(
        app.decide(&body).await.body["decision"],
        "allow",
        "served from cache before the ttl"
    );

    actix_web::rt::time::sleep(std::time::Duration::from_millis(1200)).await;
    let answer = app.decide(&body).await;
    assert_eq!(answer.body["reasons"], json!(["DEVICE_INACTIVE"]));
}
