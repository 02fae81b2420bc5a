//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::state::AppState;

/// The process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the database answers, a policy bundle is active and the signer signs.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (ready, body) = readiness(&state).await;
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Runs the readiness checks, records each in `licet_ready`, and returns whether all pass with
/// the body `/readyz` answers.
async fn readiness(state: &AppState) -> (bool, Value) {
    // Reading the restore epoch is the database check: it answers, and it shows clients and
    // operators whether the database was restored from a backup.
    let epoch = state.db.run(crate::backup::restore_epoch).await;
    let database = match epoch {
        Ok(epoch) => json!({
            "ok": true,
            "backend": state.db.backend().name(),
            "restore_epoch": epoch,
        }),
        Err(err) => {
            json!({ "ok": false, "backend": state.db.backend().name(), "error": err.to_string() })
        }
    };
    // A refused reload leaves the last good bundle serving: still ready, with the failure shown.
    let last_failure = state.reload_failure.lock().ok().and_then(|f| f.clone());
    let policies = json!({
        "ok": true,
        "version": state.policies.load().version,
        "last_reload_error": last_failure,
    });
    let signer = match state.signer.check().await {
        Ok(()) => {
            json!({ "ok": true, "backend": state.signer.backend(), "kid": state.signer.kid() })
        }
        Err(err) => {
            let backend = state.signer.backend();
            state.metrics.sign_failed(backend, err.cause());
            json!({ "ok": false, "backend": backend, "cause": err.cause(), "error": err.to_string() })
        }
    };
    let checks = [
        ("database", database),
        ("policies", policies),
        ("signer", signer),
    ];
    let mut ready = true;
    for (name, check) in &checks {
        let ok = check["ok"] == true;
        state.metrics.set_ready(name, ok);
        ready &= ok;
    }
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "checks": Map::from_iter(checks.map(|(name, check)| (name.to_string(), check))),
    });
    (ready, body)
}

/// The Prometheus exposition. Each scrape runs the readiness checks, so `licet_ready` is
/// current whether or not anything calls `/readyz`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    readiness(&state).await;
    let (in_use, idle) = state.db.pool_state();
    state
        .metrics
        .set_decision_log_queue(state.decision_log.queued());
    state
        .metrics
        .set_gauges(state.cache.entry_count(), in_use, idle);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
