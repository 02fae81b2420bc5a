//! Replaying logged decisions under other versions, stored files and diffs, and impact
//! analysis of a candidate bundle.

use licet::audit::decision_log::DecisionFilter;
use licet::policy::{BundleSource, PolicyBundle, impact};
use serde_json::{Value, json};

use super::common::{AUDITOR_TOKEN, Backend, TestApp, device_request};
use super::{reload, spawn_with_own_policies};

/// The expiry rule with the grace period capped at 7 days, whatever the contract says.
const GRACE_CAPPED_AT_7_DAYS: &str = r#"
@id("term.not-yet-valid")
@reason("NOT_YET_VALID")
forbid (principal, action == Licet::Action::"use", resource)
when { context has entitlement && context.now < context.entitlement.starts_at };

@id("term.expired")
@reason("EXPIRED")
forbid (principal, action == Licet::Action::"use", resource)
when {
  context has entitlement &&
  (context.now >= context.entitlement.expires_at.offset(context.entitlement.grace) ||
   context.now >= context.entitlement.expires_at.offset(duration("7d")))
};

@id("term.in-grace")
@advice("IN_GRACE")
permit (principal, action == Licet::Action::"use", resource)
when {
  context has entitlement &&
  context.entitlement.features.contains(resource) &&
  context.now >= context.entitlement.expires_at &&
  context.now < context.entitlement.expires_at.offset(context.entitlement.grace)
};
"#;

/// Decides, waits until the decision is logged, and returns its log entry.
async fn logged(app: &TestApp, request: &Value, expected_rows: i64) -> Value {
    let answer = app.decide(request).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(app.logged_decisions(expected_rows).await, expected_rows);
    let page = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?limit=1000")
        .await;
    let entry = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == answer.body["request_id"])
        .cloned();
    entry.unwrap_or_else(|| panic!("decision not logged: {}", page.text))
}

async fn replay_and_diff(backend: Backend) {
    let (app, policies) = spawn_with_own_policies(backend);
    app.load_demo().await;
    let v1 = app.get("/v1/policies/active").await.body["version"]
        .as_str()
        .unwrap()
        .to_string();
    // Globex's contract expired 5 days ago with 30 days of grace.
    let entry = logged(
        &app,
        &device_request("globex", "g-ws-01", "cad.render", "3.1.0", "prod"),
        1,
    )
    .await;
    assert_eq!(entry["decision"], "allow");
    assert_eq!(entry["advice"], json!(["IN_GRACE"]));
    assert_eq!(entry["policy_version"], v1.as_str());
    assert_eq!(
        entry["principal"],
        json!({"type": "Device", "id": "g-ws-01"})
    );
    assert_eq!(entry["context"]["environment"], "prod");
    let seq = entry["seq"].as_i64().unwrap();

    // Grace becomes a hard stop at expiry.
    std::fs::write(
        policies.join("term.cedar"),
        GRACE_CAPPED_AT_7_DAYS.replace("duration(\"7d\")", "duration(\"0d\")"),
    )
    .unwrap();
    let answer = reload(&app).await;
    let v2 = answer.body["version"].as_str().unwrap().to_string();

    let under_v1 = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/audit/decisions/{seq}/replay?version={v1}"),
        )
        .await;
    assert_eq!(under_v1.status, 200, "{}", under_v1.text);
    assert_eq!(under_v1.body["recorded"]["decision"], "allow");
    assert_eq!(under_v1.body["replayed"]["decision"], "allow");
    assert_eq!(under_v1.body["replayed"]["advice"], json!(["IN_GRACE"]));
    assert_eq!(under_v1.body["replayed"]["policy_version"], v1.as_str());
    assert!(under_v1.body["change"].is_null());

    let under_v2 = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/audit/decisions/{seq}/replay?version={v2}"),
        )
        .await;
    assert_eq!(under_v2.body["replayed"]["decision"], "deny");
    assert_eq!(under_v2.body["replayed"]["reasons"], json!(["EXPIRED"]));
    assert_eq!(
        under_v2.body["replayed"]["policies"],
        json!(["term.expired"])
    );
    assert_eq!(under_v2.body["change"], "allow_to_deny");
    // Without a version, the active one replays.
    let active = app
        .get_as(AUDITOR_TOKEN, &format!("/v1/audit/decisions/{seq}/replay"))
        .await;
    assert_eq!(active.body["replayed"]["policy_version"], v2.as_str());

    // One version's files, and the diff of two.
    let stored = app
        .get_as(AUDITOR_TOKEN, &format!("/v1/audit/policy-versions/{v1}"))
        .await;
    let files = stored.body["files"].as_array().unwrap();
    assert_eq!(files[0]["path"], "schema/licet.cedarschema");
    assert_eq!(files.len(), 8);
    let diff = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/audit/policy-versions/{v1}/diff/{v2}"),
        )
        .await;
    let changed: Vec<&Value> = diff.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{}", diff.text);
    assert_eq!(changed[0]["path"], "policies/term.cedar");
    assert_eq!(changed[0]["status"], "modified");
    let text = changed[0]["diff"].as_str().unwrap();
    assert!(text.starts_with("--- a/policies/term.cedar\n+++ b/policies/term.cedar\n"));
    assert!(
        text.contains(
            "\n+   context.now >= context.entitlement.expires_at.offset(duration(\"0d\")))"
        )
    );

    let unknown = app
        .get_as(
            AUDITOR_TOKEN,
            "/v1/audit/policy-versions/sha256:0/diff/sha256:1",
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("POLICY_VERSION_NOT_FOUND"))
    );
}

#[actix_web::test]
async fn replay_under_older_and_newer_versions_on_sqlite() {
    replay_and_diff(Backend::Sqlite).await;
}

#[actix_web::test]
async fn replay_under_older_and_newer_versions_on_postgres() {
    replay_and_diff(Backend::Postgres).await;
}

#[actix_web::test]
async fn impact_of_a_shorter_grace_lists_exactly_the_decisions_that_flip() {
    let (app, _) = spawn_with_own_policies(Backend::Sqlite);
    app.load_demo().await;
    // Three devices of one tenant: 3 and 10 days into a 30-day grace, and one current.
    app.import_text(
        r#"
tenants:
  - id: umbrella
    name: Umbrella
    entitlements:
      - { id: e-3, product: cad, model: device, seats: 5, environments: [prod], features: [cad.export], starts_at: "2020-01-01T00:00:00Z", expires_at: "DAYS-3", grace_days: 30 }
      - { id: e-10, product: cad, model: device, seats: 5, environments: [prod], features: [cad.export], starts_at: "2020-01-01T00:00:00Z", expires_at: "DAYS-10", grace_days: 30 }
      - { id: e-ok, product: cad, model: device, seats: 5, environments: [prod], features: [cad.export], starts_at: "2020-01-01T00:00:00Z", expires_at: "2999-01-01T00:00:00Z", grace_days: 0 }
    devices:
      - { id: u-3, fingerprint: "sha256:u3", name: three, entitlement: e-3 }
      - { id: u-10, fingerprint: "sha256:u10", name: ten, entitlement: e-10 }
      - { id: u-ok, fingerprint: "sha256:uok", name: ok, entitlement: e-ok }
"#
        .replace("DAYS-3", &days_ago(3))
        .replace("DAYS-10", &days_ago(10))
        .as_str(),
    )
    .await;
    let requests = [
        ("u-10", "prod"),
        ("u-3", "prod"),
        ("u-ok", "prod"),
        ("u-10", "prod"),
        ("u-ok", "test"),
        ("u-3", "test"),
    ];
    let mut ids = Vec::new();
    for (device, env) in requests {
        let answer = app
            .decide(&device_request(
                "umbrella",
                device,
                "cad.export",
                "2.0.0",
                env,
            ))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        ids.push(answer.body["request_id"].as_str().unwrap().to_string());
    }
    assert_eq!(app.logged_decisions(6).await, 6);

    let candidate = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(root.join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, candidate.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(candidate.path().join("term.cedar"), GRACE_CAPPED_AT_7_DAYS).unwrap();
    let bundle = PolicyBundle::compile(
        BundleSource::from_dir(candidate.path(), &root.join("schema/licet.cedarschema")).unwrap(),
    )
    .unwrap();
    let filter = DecisionFilter {
        tenant: Some("umbrella".into()),
        since: Some(chrono::Utc::now() - chrono::Duration::days(7)),
        ..DecisionFilter::default()
    };
    let report = app
        .state
        .db
        .run(move |conn| impact::analyse(conn, &bundle, &filter))
        .await
        .unwrap();
    assert_eq!(report.replayed, 6);
    assert_eq!(
        (
            report.changed,
            report.allow_to_deny,
            report.deny_to_allow,
            report.reasons_changed
        ),
        (2, 2, 0, 0)
    );
    assert_eq!(report.groups.len(), 1);
    let group = &report.groups[0];
    assert_eq!(group.tenant, "umbrella");
    assert_eq!(
        (group.before.clone(), group.after.clone()),
        (vec!["IN_GRACE".to_string()], vec!["EXPIRED".to_string()])
    );
    let flipped: Vec<&str> = group
        .decisions
        .iter()
        .map(|d| d.request_id.as_str())
        .collect();
    assert_eq!(flipped, [ids[0].as_str(), ids[3].as_str()]);
    assert!(
        group
            .decisions
            .iter()
            .all(|d| d.principal == "Device::u-10")
    );

    let text = report.render_text(10);
    assert!(text.contains("replayed 6 logged decisions"), "{text}");
    assert!(
        text.contains("2 would change: 2 allow → deny, 0 deny → allow, 0 with other reasons"),
        "{text}"
    );
    assert!(text.contains("tenant umbrella: 2"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["groups"][0]["change"], "allow_to_deny");
    assert_eq!(json["groups"][0]["count"], 2);
}

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
