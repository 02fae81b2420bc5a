//! Versioned policies and the audit trail: hot reload under traffic, refused bundles, the
//! decision log with replay and impact analysis, the auditor API, and the hash chain.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    ACME_AUDITOR_TOKEN, ADMIN_TOKEN, AUDITOR_TOKEN, Backend, TestApp, device_request, own_policies,
    spawn_with,
};
use diesel::RunQueryDsl;
use licet::audit::decision_log::DecisionFilter;
use licet::audit::events::{self, Verification};
use licet::policy::{BundleSource, PolicyBundle, impact};
use serde_json::{Value, json};

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

/// An application serving a copy of the repository's policies (in its data folder).
fn spawn_with_own_policies(backend: Backend) -> (TestApp, std::path::PathBuf) {
    let mut policies = None;
    let app = spawn_with(backend, |config| {
        let dir = config.server.data_dir.clone();
        policies = Some(own_policies(config, &dir));
    });
    (app, policies.unwrap())
}

async fn reload(app: &TestApp) -> common::Answer {
    app.post_as(ADMIN_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await
}

#[actix_web::test]
async fn reload_under_traffic_fails_no_request_and_switches_versions_once() {
    let (app, policies) = spawn_with_own_policies(Backend::Sqlite);
    app.load_demo().await;
    let old = app.get("/v1/policies/active").await.body["version"]
        .as_str()
        .unwrap()
        .to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/v1/decisions", app.base);
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, url) = (Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                let agent = common::agent();
                let body = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let mut response = agent.post(&url).send_json(&body).unwrap();
                    let status = response.status().as_u16();
                    let answer: Value = response.body_mut().read_json().unwrap_or(Value::Null);
                    seen.push((started, status, answer["policy_version"].clone()));
                }
                seen
            })
        })
        .collect();

    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    let term = policies.join("term.cedar");
    let mut text = std::fs::read_to_string(&term).unwrap();
    text.push_str("\n// Reviewed again; no change in meaning.\n");
    std::fs::write(&term, text).unwrap();
    let answer = reload(&app).await;
    let reloaded = Instant::now();
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["result"], "activated");
    assert_eq!(answer.body["previous"], old.as_str());
    let new = answer.body["version"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Vec::new();
    for client in clients {
        all.extend(
            actix_web::rt::task::spawn_blocking(move || client.join().unwrap())
                .await
                .unwrap(),
        );
    }
    assert!(all.len() > 20, "too little traffic: {}", all.len());
    let failed: Vec<_> = all.iter().filter(|(_, status, _)| *status != 200).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    let olds = all.iter().filter(|(_, _, v)| v == old.as_str()).count();
    let news = all.iter().filter(|(_, _, v)| v == new.as_str()).count();
    assert_eq!(olds + news, all.len(), "an answer carried a third version");
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
    let stale_after_reload = all
        .iter()
        .filter(|(started, _, v)| *started > reloaded && v != new.as_str())
        .count();
    assert_eq!(stale_after_reload, 0);

    // The activation is stored with who made it and how.
    let versions = app.get_as(AUDITOR_TOKEN, "/v1/audit/policy-versions").await;
    assert_eq!(versions.body["active"], new.as_str());
    let items = versions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let newest = &items[0];
    assert_eq!(newest["version"], new.as_str());
    assert_eq!(newest["activations"][0]["activated_by"], "test-admin");
    assert_eq!(newest["activations"][0]["how"], "api");
    assert_eq!(items[1]["activations"][0]["how"], "start");
}

#[actix_web::test]
async fn a_refused_bundle_keeps_the_old_version_serving() {
    let (app, policies) = spawn_with_own_policies(Backend::Sqlite);
    app.load_demo().await;
    let old = app.get("/v1/policies/active").await.body["version"].clone();

    // Only an admin token may reload.
    let anonymous = app.post_json("/v1/admin/policies/reload", &json!({})).await;
    assert_eq!(
        (anonymous.status, anonymous.body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let auditor = app
        .post_as(AUDITOR_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await;
    assert_eq!(
        (auditor.status, auditor.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );

    let broken = policies.join("broken.cedar");
    std::fs::write(
        &broken,
        "// A rule with a typo.\n@id(\"broken\")\npermit (principal, action, resource) when { context.nope };\n",
    )
    .unwrap();
    let refused = reload(&app).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.body["code"], "POLICY_BUNDLE_INVALID");
    let errors = refused.body["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("policies/broken.cedar:3: ")),
        "{errors:?}"
    );

    let decision = app
        .decide(&device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(decision.status, 200);
    assert_eq!(decision.body["policy_version"], old);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let failure = &ready.body["checks"]["policies"]["last_reload_error"];
    assert_eq!(failure["how"], "api");
    assert!(
        failure["problems"][0]
            .as_str()
            .unwrap()
            .contains("broken.cedar:3"),
        "{failure}"
    );
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains("licet_policy_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );

    // Removing the bad file brings back the active files: nothing changes, the error clears.
    std::fs::remove_file(&broken).unwrap();
    let fixed = reload(&app).await;
    assert_eq!(fixed.body["result"], "unchanged", "{}", fixed.text);
    assert_eq!(fixed.body["version"], old);
    let ready = app.get("/readyz").await;
    assert!(ready.body["checks"]["policies"]["last_reload_error"].is_null());
}

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
    assert_eq!(files.len(), 7);
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
async fn decision_log_lists_by_filter_with_paging_and_tenant_limits() {
    let (app, _) = spawn_with_own_policies(Backend::Sqlite);
    app.load_demo().await;
    let requests = [
        device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod"),
        device_request("acme", "d-7f3a", "cad.export", "2.4.1", "staging"),
        device_request("globex", "g-ws-01", "cad.render", "3.1.0", "prod"),
        device_request("initech", "i-node-1", "sim.solve", "2.0.0", "prod"),
        device_request("acme", "d-7f3a", "cad.export", "9.0.0", "prod"),
    ];
    for request in &requests {
        assert_eq!(app.decide(request).await.status, 200);
    }
    assert_eq!(app.logged_decisions(5).await, 5);

    let acme = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?tenant=acme&limit=2")
        .await;
    assert_eq!(acme.status, 200, "{}", acme.text);
    let first = acme.body["items"].as_array().unwrap();
    assert_eq!(first.len(), 2);
    let next = acme.body["next"].as_i64().unwrap();
    let rest = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/audit/decisions?tenant=acme&limit=2&after={next}"),
        )
        .await;
    let rest = rest.body["items"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    let tenants: Vec<&str> = first
        .iter()
        .chain(rest.iter())
        .map(|d| d["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["acme", "acme", "acme"]);

    let denies = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?decision=deny")
        .await;
    let reasons: Vec<Value> = denies.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reasons"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            json!(["ENVIRONMENT_NOT_ENTITLED"]),
            json!(["EXPIRED"]),
            json!(["VERSION_OUT_OF_RANGE"])
        ]
    );
    let future = app
        .get_as(
            AUDITOR_TOKEN,
            "/v1/audit/decisions?since=2100-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(future.body["items"], json!([]));

    // A token limited to acme sees acme only.
    let limited = app.get_as(ACME_AUDITOR_TOKEN, "/v1/audit/decisions").await;
    assert_eq!(limited.body["items"].as_array().unwrap().len(), 3);
    let other = app
        .get_as(ACME_AUDITOR_TOKEN, "/v1/audit/decisions?tenant=globex")
        .await;
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let globex_seq = denies.body["items"][1]["seq"].as_i64().unwrap() - 1;
    let hidden = app
        .get_as(
            ACME_AUDITOR_TOKEN,
            &format!("/v1/audit/decisions/{globex_seq}"),
        )
        .await;
    assert_eq!(hidden.status, 404);

    // Bad filters are clear problems.
    let bad = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?decision=maybe")
        .await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
    let bad = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?since=yesterday")
        .await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
    let none = app.get("/v1/audit/decisions").await;
    assert_eq!(none.status, 401);
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

#[actix_web::test]
async fn a_full_decision_log_queue_counts_every_dropped_entry() {
    let app = spawn_with(Backend::Sqlite, |_| {});
    app.load_demo().await;
    // A second state on the same database, built without a server: nothing writes its queue
    // until asked.
    let mut config = app.state.config.clone();
    config.decision_log.queue_capacity = 3;
    config.decision_log.batch_size = 2;
    config.signing.key_file = Some(app.dir.path().join("signing-key.pem"));
    let state = licet::startup::build_state(config).unwrap();
    for _ in 0..10 {
        let request: licet::decision::DecisionRequest = serde_json::from_value(device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .unwrap();
        licet::decision::decide(&state, request.validate().unwrap(), "r")
            .await
            .unwrap();
    }
    assert_eq!(state.decision_log.queued(), 3);
    let metrics = state.metrics.render();
    assert!(
        metrics.contains("licet_decision_log_dropped_total{cause=\"queue_full\"} 7"),
        "{metrics}"
    );
    state.decision_log.start();
    state
        .decision_log
        .flush_and_stop(Duration::from_secs(10))
        .await;
    let metrics = state.metrics.render();
    assert!(
        metrics.contains("licet_decision_log_written_total 3"),
        "{metrics}"
    );
    // What the other process (the running app) sees in the shared database.
    assert_eq!(app.logged_decisions(3).await, 3);
}

#[actix_web::test]
async fn under_load_written_plus_dropped_equals_decisions_made() {
    let app = spawn_with(Backend::Sqlite, |c| {
        c.decision_log.queue_capacity = 1;
        c.decision_log.batch_size = 1;
    });
    app.load_demo().await;
    let url = format!("{}/v1/decisions", app.base);
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = common::agent();
                let body = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
                (0..25)
                    .filter(|_| agent.post(&url).send_json(&body).unwrap().status() == 200)
                    .count()
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        answered += actix_web::rt::task::spawn_blocking(move || client.join().unwrap())
            .await
            .unwrap();
    }
    assert_eq!(answered, 150);
    let counter = |text: &str, name: &str| -> i64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum()
    };
    let mut written = 0;
    let mut dropped = 0;
    for _ in 0..100 {
        let metrics = app.get("/metrics").await.text;
        written = counter(&metrics, "licet_decision_log_written_total");
        dropped = counter(&metrics, "licet_decision_log_dropped_total");
        if written + dropped == 150 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        written + dropped,
        150,
        "written {written}, dropped {dropped}"
    );
    assert_eq!(app.logged_decisions(written).await, written);
}

#[actix_web::test]
async fn changed_files_are_reloaded_when_watching() {
    let mut policies = None;
    let app = spawn_with(Backend::Sqlite, |config| {
        let dir = config.server.data_dir.clone();
        policies = Some(own_policies(config, &dir));
        config.policies.watch_seconds = 1;
    });
    let before = app.get("/v1/policies/active").await.body["version"].clone();
    let term = policies.unwrap().join("term.cedar");
    let mut text = std::fs::read_to_string(&term).unwrap();
    text.push_str("\n// Watched.\n");
    std::fs::write(&term, text).unwrap();
    let mut after = before.clone();
    for _ in 0..60 {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        after = app.get("/v1/policies/active").await.body["version"].clone();
        if after != before {
            break;
        }
    }
    assert_ne!(after, before, "the change was not picked up");
    let versions = app.get_as(AUDITOR_TOKEN, "/v1/audit/policy-versions").await;
    assert_eq!(versions.body["items"][0]["activations"][0]["how"], "watch");
    assert_eq!(
        versions.body["items"][0]["activations"][0]["activated_by"],
        "system"
    );
}
