//! Health, readiness, metrics and the active policy version.

mod common;

use common::{Backend, device_request, spawn};
use diesel::{Connection, RunQueryDsl};

#[actix_web::test]
async fn health_and_readiness_report_their_checks() {
    let app = spawn(Backend::Sqlite);
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["checks"]["database"]["backend"], "sqlite");
    assert_eq!(ready.body["checks"]["database"]["restore_epoch"], 0);
    assert_eq!(ready.body["checks"]["signer"]["backend"], "local");
    let version = app.get("/v1/policies/active").await.body["version"].clone();
    assert_eq!(ready.body["checks"]["policies"]["version"], version);
}

#[actix_web::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = common::spawn_with(Backend::Postgres, |c| c.database.pool_timeout_seconds = 1);
    assert_eq!(app.get("/readyz").await.status, 200);
    // The database name is the last path segment of the URL, before any query string.
    let path = app.database_url.split('?').next().unwrap();
    let name = path.rsplit('/').next().unwrap().to_string();
    let mut conn = diesel::PgConnection::establish(&common::postgres_admin_url()).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body["status"], "unready");
    assert_eq!(ready.body["checks"]["database"]["ok"], false);
    let decision = app
        .decide(&device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(
        (decision.status, decision.body["code"].as_str()),
        (503, Some("DATABASE_UNAVAILABLE")),
        "{}",
        decision.text
    );
}

#[actix_web::test]
async fn metrics_expose_decision_latency_requests_signing_and_cache() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;
    for _ in 0..3 {
        app.decide(&device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    }
    app.decide(&device_request(
        "initech",
        "i-node-1",
        "sim.solve",
        "2.0.0",
        "prod",
    ))
    .await;
    app.decide(&device_request("nope", "x", "cad.export", "2.4.1", "prod"))
        .await;

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    let text = metrics.text;
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"))
    };
    assert_eq!(
        value("licet_decision_duration_seconds_count{decision=\"allow\"}"),
        3.0
    );
    assert_eq!(
        value("licet_decision_duration_seconds_count{decision=\"deny\"}"),
        1.0
    );
    assert_eq!(
        value("licet_http_requests_total{route=\"/v1/decisions\",status=\"200\"}"),
        4.0
    );
    assert_eq!(
        value("licet_http_requests_total{route=\"/v1/decisions\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        value("licet_sign_duration_seconds_count{backend=\"local\"}"),
        4.0
    );
    assert_eq!(
        value("licet_cache_lookups_total{cache=\"principal\",result=\"hit\"}"),
        2.0
    );
    assert_eq!(
        value("licet_cache_lookups_total{cache=\"principal\",result=\"miss\"}"),
        2.0
    );
    assert!(
        text.contains("licet_decision_duration_seconds_bucket{decision=\"allow\",le=\"0.025\"}")
    );
    assert!(text.contains("licet_policy_info{version=\"sha256:"));
}

/// The value of the series of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[actix_web::test]
async fn tenant_series_are_bounded_and_pool_waits_and_the_process_are_measured() {
    let app = common::spawn_with(Backend::Sqlite, |c| {
        c.metrics.tenant_labels = vec!["acme".into()];
    });
    app.load_demo().await;
    for request in [
        device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod"),
        device_request("acme", "d-7f3a", "cad.export", "2.4.1", "staging"),
        device_request("globex", "g-ws-01", "cad.render", "3.1.0", "prod"),
        device_request("initech", "i-node-1", "sim.solve", "2.0.0", "prod"),
    ] {
        assert_eq!(app.decide(&request).await.status, 200);
    }
    let metrics = app.get("/metrics").await.text;
    let tenant = |labels: &[&str]| sample(&metrics, "licet_tenant_decisions_total", labels);
    assert_eq!(
        tenant(&["tenant=\"acme\"", "decision=\"allow\""]),
        Some(1.0)
    );
    assert_eq!(tenant(&["tenant=\"acme\"", "decision=\"deny\""]), Some(1.0));
    assert_eq!(
        tenant(&["tenant=\"other\"", "decision=\"allow\""]),
        Some(1.0)
    );
    assert_eq!(
        tenant(&["tenant=\"other\"", "decision=\"deny\""]),
        Some(1.0)
    );
    assert!(
        !metrics.contains("tenant=\"globex\""),
        "an unlisted tenant got its own series"
    );

    let waits = sample(&metrics, "licet_db_pool_wait_seconds_count", &[]).unwrap();
    assert!(waits >= 4.0, "{waits}");
    let memory = sample(&metrics, "process_resident_memory_bytes", &[]).unwrap();
    assert!(memory > 1_000_000.0, "{memory}");
}
