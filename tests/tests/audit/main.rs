//! Versioned policies and the audit trail: hot reload under traffic, refused bundles, the
//! decision log with replay and impact analysis, the auditor API, and the hash chain.

#[path = "../common/mod.rs"]
mod common;

mod decision_log;
mod reload;
mod replay;
mod trail;

use std::path::PathBuf;

use common::{ADMIN_TOKEN, Answer, Backend, TestApp, own_policies, spawn_with};
use serde_json::json;

/// An application serving a copy of the repository's policies (in its data folder).
fn spawn_with_own_policies(backend: Backend) -> (TestApp, PathBuf) {
    let mut policies = None;
    let app = spawn_with(backend, |config| {
        let dir = config.server.data_dir.clone();
        policies = Some(own_policies(config, &dir));
    });
    (app, policies.unwrap())
}

/// Asks the application to reload its policy files, as an admin.
async fn reload(app: &TestApp) -> Answer {
    app.post_as(ADMIN_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await
}
