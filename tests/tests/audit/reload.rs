//! Hot reload: under traffic, refused bundles, and file watching.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::{
    self, ACME_ADMIN_TOKEN, ADMIN_TOKEN, AUDITOR_TOKEN, Backend, device_request, own_policies,
    spawn_with,
};
use super::{reload, spawn_with_own_policies};

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

#[actix_web::test]
async fn reload_requests_are_checked_like_every_other_body() {
    let (app, _) = spawn_with_own_policies(Backend::Sqlite);
    let limited = app
        .post_as(ACME_ADMIN_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await;
    assert_eq!(
        (limited.status, limited.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert!(
        limited.body["detail"]
            .as_str()
            .unwrap()
            .contains("every tenant shares")
    );

    let reason = "x".repeat(70_000);
    let large = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/policies/reload",
            &json!({ "reason": reason }),
        )
        .await;
    assert_eq!(
        (large.status, large.body["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(large.content_type, "application/problem+json");

    let shape = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/policies/reload",
            &json!({ "why": "x" }),
        )
        .await;
    assert_eq!(
        (shape.status, shape.body["code"].as_str()),
        (422, Some("INVALID_REQUEST"))
    );

    // The scheme is case-insensitive, and a body must be JSON.
    let url = format!("{}/v1/admin/policies/reload", app.base);
    let answer = actix_web::rt::task::spawn_blocking(move || {
        common::agent()
            .post(&url)
            .header("authorization", format!("bearer {ADMIN_TOKEN}"))
            .header("content-type", "text/plain")
            .send("hello")
            .unwrap()
            .status()
            .as_u16()
    })
    .await
    .unwrap();
    assert_eq!(answer, 415);
}

#[actix_web::test]
async fn the_watcher_clears_a_refusal_once_the_files_are_good_again() {
    let mut policies = None;
    let app = spawn_with(Backend::Sqlite, |config| {
        let dir = config.server.data_dir.clone();
        policies = Some(own_policies(config, &dir));
        config.policies.watch_seconds = 1;
    });
    let broken = policies.unwrap().join("broken.cedar");
    std::fs::write(&broken, "permit (principal, action, resource) when {").unwrap();
    let mut failure = Value::Null;
    for _ in 0..60 {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        failure = app.get("/readyz").await.body["checks"]["policies"]["last_reload_error"].clone();
        if !failure.is_null() {
            break;
        }
    }
    assert_eq!(failure["how"], "watch", "the refusal was not shown");
    std::fs::remove_file(&broken).unwrap();
    for _ in 0..60 {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        failure = app.get("/readyz").await.body["checks"]["policies"]["last_reload_error"].clone();
        if failure.is_null() {
            break;
        }
    }
    assert!(
        failure.is_null(),
        "the refusal outlived its cause: {failure}"
    );
}
