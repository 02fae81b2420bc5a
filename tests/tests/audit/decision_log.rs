//! The decision log: filters, paging and tenant limits, and counting what is dropped.

use std::time::Duration;

use serde_json::{Value, json};

use super::common::{self, ACME_AUDITOR_TOKEN, AUDITOR_TOKEN, Backend, device_request, spawn_with};
use super::spawn_with_own_policies;

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
    assert!(
        bad.body["detail"].as_str().unwrap().starts_with(
            "`since` must be an RFC 3339 time such as `2026-12-01T00:00:00Z`, not `yesterday`"
        ),
        "{}",
        bad.text
    );
    let bad = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/decisions?limit=abc")
        .await;
    assert_eq!(
        bad.body["detail"],
        "`limit` must be a whole number, not `abc`"
    );
    let bad = app
        .get_as(
            AUDITOR_TOKEN,
            "/v1/audit/decisions?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z",
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = app.get_as(AUDITOR_TOKEN, "/v1/audit/decisions/abc").await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (404, Some("DECISION_NOT_FOUND"))
    );
    let bad = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/policy-versions?limit=1")
        .await;
    assert_eq!(
        (bad.status, bad.body["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
    let none = app.get("/v1/audit/decisions").await;
    assert_eq!(none.status, 401);
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
