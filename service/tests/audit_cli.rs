//! The `licet` binary's audit commands: `audit verify`, `audit export`, `token new`, and
//! `policy impact` over a real decision log.

mod common;

use std::path::Path;
use std::process::Command;

use common::{copy_bundle, demo_database, licet, text};

use diesel::RunQueryDsl;
use licet::config::Config;

#[test]
fn audit_verify_finds_a_changed_row_and_export_filters_by_tenant() {
    let dir = tempfile::tempdir().unwrap();
    demo_database(dir.path());

    let ok = licet(dir.path(), &["audit", "verify"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let stdout = text(&ok.stdout);
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(
        stdout.contains("audit events, chain intact, head "),
        "{stdout}"
    );

    let export = dir.path().join("acme.jsonl");
    let out = licet(
        dir.path(),
        &[
            "audit",
            "export",
            "--tenant",
            "acme",
            "--output",
            export.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 5, "{}", lines.len());
    assert!(lines.iter().all(|e| e["tenant"] == "acme"));
    assert!(
        lines
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("cli:"))
    );
    assert_eq!(
        text(&out.stdout).trim(),
        format!("exported {} audit events", lines.len())
    );

    // Someone with the power to drop the trigger changes a row: verify names it.
    let url = format!("sqlite://{}/licet.db", dir.path().display());
    let db = licet::db::Database::connect(&url, 1, std::time::Duration::from_secs(5)).unwrap();
    let mut conn = db.conn().unwrap();
    for statement in [
        "DROP TRIGGER audit_events_no_update",
        "UPDATE audit_events SET after_state = '{\"status\":\"active\"}' WHERE seq = 4",
    ] {
        diesel::sql_query(statement).execute(&mut *conn).unwrap();
    }
    let broken = licet(dir.path(), &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    let stdout = text(&broken.stdout);
    assert!(stdout.starts_with("BROKEN at event 4 ("), "{stdout}");
    assert!(
        stdout.contains("the row was changed; the 3 events before it verify"),
        "{stdout}"
    );
}

#[test]
fn token_new_prints_a_token_and_the_hash_the_configuration_needs() {
    let dir = tempfile::tempdir().unwrap();
    let out = licet(
        dir.path(),
        &[
            "token", "new", "--name", "ops", "--role", "auditor", "--tenant", "acme",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("licet_"))
        .unwrap();
    let hash = licet::identity::token_hash(token);
    assert!(
        stdout.contains(&format!("    sha256: {hash}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("  - name: ops\n    role: auditor\n"),
        "{stdout}"
    );
    assert!(stdout.contains("    tenant: acme\n"), "{stdout}");

    let bad = licet(
        dir.path(),
        &["token", "new", "--name", "x", "--role", "root"],
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[actix_web::test]
async fn policy_impact_prints_json_and_fails_on_change_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    demo_database(dir.path());
    // Two decisions logged by a service on the same database.
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let state = licet::startup::build_state(config).unwrap();
    for (tenant, device, feature, version) in [
        ("globex", "g-ws-01", "cad.render", "3.1.0"),
        ("acme", "d-7f3a", "cad.export", "2.4.1"),
    ] {
        let request: licet::decision::DecisionRequest = serde_json::from_value(serde_json::json!({
            "tenant": tenant,
            "principal": { "type": "Device", "id": device },
            "action": "use",
            "resource": { "type": "Feature", "id": feature },
            "context": { "product_version": version, "environment": "prod" },
        }))
        .unwrap();
        licet::decision::decide(&state, request.validate().unwrap(), "impact-test")
            .await
            .unwrap();
    }
    state.decision_log.start();
    state
        .decision_log
        .flush_and_stop(std::time::Duration::from_secs(10))
        .await;

    // The candidate ends every grace period at expiry.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidate = dir.path().join("candidate");
    std::fs::create_dir(&candidate).unwrap();
    for entry in std::fs::read_dir(root.join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            let content = std::fs::read_to_string(&path).unwrap().replace(
                "context.now >= context.entitlement.expires_at.offset(context.entitlement.grace)\n",
                "context.now >= context.entitlement.expires_at\n",
            );
            std::fs::write(candidate.join(path.file_name().unwrap()), content).unwrap();
        }
    }
    let candidate = candidate.to_str().unwrap();
    let out = licet(
        dir.path(),
        &[
            "policy",
            "impact",
            "--candidate",
            candidate,
            "--since",
            "1h",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replayed"], 2);
    assert_eq!(report["changed"], 1);
    assert_eq!(report["groups"][0]["tenant"], "globex");
    assert_eq!(
        report["groups"][0]["before"],
        serde_json::json!(["IN_GRACE"])
    );
    assert_eq!(report["groups"][0]["after"], serde_json::json!(["EXPIRED"]));
    assert_eq!(
        report["groups"][0]["decisions"][0]["principal"],
        "Device::g-ws-01"
    );

    let gate = licet(
        dir.path(),
        &[
            "policy",
            "impact",
            "--candidate",
            candidate,
            "--since",
            "1h",
            "--fail-on-change",
        ],
    );
    assert_eq!(gate.status.code(), Some(1));
    assert!(
        text(&gate.stdout).contains("tenant globex: 1"),
        "{}",
        text(&gate.stdout)
    );

    let bad = licet(
        dir.path(),
        &[
            "policy",
            "impact",
            "--candidate",
            candidate,
            "--since",
            "last tuesday",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("`last tuesday` is neither a duration such as `7d`"),
        "{}",
        text(&bad.stderr)
    );
    let backwards = licet(
        dir.path(),
        &[
            "policy",
            "impact",
            "--candidate",
            candidate,
            "--since",
            "1h",
            "--until",
            "2h",
        ],
    );
    assert_eq!(backwards.status.code(), Some(1));
    assert!(text(&backwards.stderr).contains("must be later than `--since`"));

    // A candidate whose schema wants what licet does not send is refused before any replay.
    let schema = dir.path().join("strict.cedarschema");
    std::fs::write(
        &schema,
        std::fs::read_to_string(root.join("schema/licet.cedarschema"))
            .unwrap()
            .replacen(
                "entity Entitlement = {",
                "entity Entitlement = {\n    region: String,",
                1,
            ),
    )
    .unwrap();
    let unfit = licet(
        dir.path(),
        &[
            "policy",
            "impact",
            "--candidate",
            candidate,
            "--schema",
            schema.to_str().unwrap(),
        ],
    );
    assert_eq!(unfit.status.code(), Some(1));
    let stderr = text(&unfit.stderr);
    assert!(
        stderr.contains("the schema does not accept what licet sends to the policies")
            && stderr.contains("region"),
        "{stderr}"
    );
}

#[test]
fn audit_tools_refuse_a_database_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = licet(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("there is no database at"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("licet.db").exists(),
        "a database was created"
    );
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sighup_reloads_policies_and_sigterm_writes_every_queued_decision() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    demo_database(dir.path());
    let (policies, schema) = copy_bundle(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["serve"])
        .env("LICET__SERVER__DATA_DIR", dir.path())
        .env("LICET__SERVER__BIND", "127.0.0.1:0")
        .env("LICET__SERVER__WORKERS", "2")
        .env("LICET__POLICIES__DIR", &policies)
        .env("LICET__POLICIES__SCHEMA", &schema)
        .env("LICET__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("LICET_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("licet logs until it serves").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "licet is serving" {
            break event["port"].as_u64().unwrap();
        }
    };
    // Keep reading the log so that the process never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let active = |agent: &ureq::Agent| -> String {
        let mut response = agent
            .get(format!("{base}/v1/policies/active"))
            .call()
            .unwrap();
        let body: serde_json::Value = response.body_mut().read_json().unwrap();
        body["version"].as_str().unwrap().to_string()
    };
    let before = active(&agent);

    let term = policies.join("term.cedar");
    let mut text = std::fs::read_to_string(&term).unwrap();
    text.push_str("\n// Reviewed; unchanged in meaning.\n");
    std::fs::write(&term, text).unwrap();
    signal(&child, "HUP");
    let mut after = before.clone();
    for _ in 0..100 {
        after = active(&agent);
        if after != before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_ne!(after, before, "SIGHUP did not reload the policies");

    let body = serde_json::json!({
        "tenant": "acme",
        "principal": { "type": "Device", "id": "d-7f3a" },
        "action": "use",
        "resource": { "type": "Feature", "id": "cad.export" },
        "context": { "product_version": "2.4.1", "environment": "prod" },
    });
    for _ in 0..40 {
        let response = agent
            .post(format!("{base}/v1/decisions"))
            .send_json(&body)
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    drain.join().unwrap();

    let url = format!("sqlite://{}/licet.db", dir.path().display());
    let db = licet::db::Database::connect(&url, 1, std::time::Duration::from_secs(5)).unwrap();
    let mut conn = db.conn().unwrap();
    use diesel::prelude::*;
    use licet::db::schema::{decision_log, policy_activations};
    let logged: Vec<String> = decision_log::table
        .select(decision_log::policy_version)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(logged.len(), 40);
    assert!(logged.iter().all(|v| *v == after));
    let how: Vec<String> = policy_activations::table
        .order(policy_activations::id)
        .select(policy_activations::source)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(how, ["start", "signal"]);
}
