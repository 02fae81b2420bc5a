//! The Vault transit signer against a real OpenBao server: tokens verify with Node's crypto
//! against licet's JWKS, rotation keeps old tokens verifiable, a Vault that stops turns into
//! prompt 503s and comes back by itself, the shipped least-privilege policy is really least
//! privilege, and the encrypted local key opens only with its passphrase.

mod bao;
mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use bao::Bao;
use common::{Backend, TestApp, device_request, spawn_with};
use licet::config::Config;
use licet::signing::keys;
use serde_json::{Value, json};

/// A licet configuration for `bao`'s key `licet`, with `token` read from a file.
fn use_vault(config: &mut Config, bao: &Bao, token: &str) {
    config.signing.backend = "vault-transit".into();
    config.signing.vault.address = bao.addr.clone();
    config.signing.vault.mount = bao.mount.clone();
    config.signing.vault.token_env = "LICET_TEST_UNSET_TOKEN_VARIABLE".into();
    config.signing.vault.token_file = Some(bao.token_file(token));
    config.signing.vault.timeout_seconds = 2;
}

/// A server whose token has only `vault/licet-sign.hcl`.
fn least_privilege_app(bao: &Bao, adjust: impl FnOnce(&mut Config)) -> (TestApp, String) {
    bao.transit_key("licet");
    let policy = bao.policy_from_repo("licet-sign", "licet-sign.hcl");
    let token = bao.token_with(&[&policy]);
    let app = spawn_with(Backend::Sqlite, |c| {
        use_vault(c, bao, &token);
        adjust(c);
    });
    (app, token)
}

fn node_verify(jwks: &str, token: &str) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/verify-jws.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&file)
        .arg(token)
        .output()
        .expect("node runs (scripts/test installs it)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn globex() -> Value {
    device_request("globex", "g-ws-01", "cad.render", "3.1.0", "prod")
}

/// The value of the metric line that starts with `series`.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric `{series}` in:\n{text}"))
}

#[actix_web::test]
async fn decisions_signed_through_transit_verify_with_node_against_the_jwks() {
    let bao = Bao::dev();
    let (app, _) = least_privilege_app(&bao, |_| {});
    app.load_demo().await;

    let answer = app.decide(&globex()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.body["token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], "vault-licet-v1");
    assert_eq!(header(token)["alg"], "RS256");

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks.body), vec!["vault-licet-v1"]);
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");
    let claims = node_verify(&jwks.text, token).unwrap();
    assert_eq!(claims["tenant"], "globex");
    assert_eq!(claims["decision"], "allow");
    assert_eq!(claims["request_id"], answer.body["request_id"]);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["checks"]["signer"]["backend"], "vault-transit");
    assert_eq!(ready.body["checks"]["signer"]["kid"], "vault-licet-v1");

    let metrics = app.get("/metrics").await.text;
    assert!(
        metric(
            &metrics,
            "licet_sign_total{backend=\"vault-transit\",kid=\"vault-licet-v1\"}"
        ) >= 1.0
    );
}

#[actix_web::test]
async fn tokens_signed_before_and_after_rotation_both_verify_and_retiring_waits() {
    let bao = Bao::dev();
    let (app, _) = least_privilege_app(&bao, |c| c.signing.refresh_seconds = 1);
    app.load_demo().await;
    let before = app.decide(&globex()).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The operator rotates with a token of their own, as `licet keys rotate` does.
    let mut operator = app.state.config.clone();
    let policy = bao.policy_from_repo("licet-operator", "licet-operator.hcl");
    let operator_token = bao.token_with(&[&policy]);
    operator.signing.vault.token_file = Some(bao.token_file(&operator_token));
    let (old, new) = keys::rotate(&operator).await.unwrap();
    assert_eq!(
        (old.as_str(), new.as_str()),
        ("vault-licet-v1", "vault-licet-v2")
    );

    // The running server switches at its next refresh (`signing.refresh_seconds`, 1 s here).
    wait_for_kid(&app, "vault-licet-v2").await;
    let after = app.decide(&globex()).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(header(&before)["kid"], "vault-licet-v1");
    assert_eq!(header(&after)["kid"], "vault-licet-v2");

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks.body), vec!["vault-licet-v2", "vault-licet-v1"]);
    assert_eq!(
        node_verify(&jwks.text, &before).unwrap()["tenant"],
        "globex"
    );
    assert_eq!(node_verify(&jwks.text, &after).unwrap()["tenant"], "globex");

    let err = keys::retire(&operator, &old, SystemTime::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may still have signed valid tokens"), "{err}");
    let err = keys::retire(&operator, &new, SystemTime::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is the active key"), "{err}");

    let expired = SystemTime::now() + Duration::from_secs(300 + 30 + 1);
    keys::retire(&operator, &old, expired).await.unwrap();
    let started = Instant::now();
    let mut jwks = app.get("/.well-known/jwks.json").await;
    while kids(&jwks.body).len() > 1 && started.elapsed() < Duration::from_secs(5) {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        jwks = app.get("/.well-known/jwks.json").await;
    }
    assert_eq!(kids(&jwks.body), vec!["vault-licet-v2"]);
    assert_eq!(
        node_verify(&jwks.text, &before).unwrap_err(),
        "no key vault-licet-v1"
    );
    let listed: Vec<(String, &str)> = keys::list(&operator)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("vault-licet-v2".to_string(), "active"),
            ("vault-licet-v1".to_string(), "retired")
        ]
    );
}

/// Waits until the server signs with `kid`, at most 5 s.
async fn wait_for_kid(app: &TestApp, kid: &str) {
    let started = Instant::now();
    while app.state.signer.kid() != kid {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the server still signs with `{}`",
            app.state.signer.kid()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn local_rotation_reaches_a_running_server_and_old_tokens_still_verify() {
    let app = spawn_with(Backend::Sqlite, |c| c.signing.refresh_seconds = 1);
    app.load_demo().await;
    let before = app.decide(&globex()).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (old, new) = keys::rotate(&app.state.config).await.unwrap();
    assert_eq!(header(&before)["kid"], old.as_str());
    assert!(
        app.dir
            .path()
            .join(format!("signing-key.{old}.pem"))
            .is_file()
    );
    wait_for_kid(&app, &new).await;
    let after = app.decide(&globex()).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(header(&after)["kid"], new.as_str());

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks.body), vec![new.clone(), old.clone()]);
    assert_eq!(
        node_verify(&jwks.text, &before).unwrap()["tenant"],
        "globex"
    );
    assert_eq!(node_verify(&jwks.text, &after).unwrap()["tenant"], "globex");

    let err = keys::retire(&app.state.config, &old, SystemTime::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may still have signed valid tokens"), "{err}");
}

#[actix_web::test]
async fn vault_stopped_mid_run_answers_503_promptly_and_signing_resumes_after_restart() {
    let mut bao = Bao::persistent();
    let (app, _) = least_privilege_app(&bao, |_| {});
    app.load_demo().await;
    assert_eq!(app.decide(&globex()).await.status, 200);

    bao.stop();
    let started = Instant::now();
    let answer = app.decide(&globex()).await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.body["code"], "SIGNING_UNAVAILABLE");
    assert_eq!(answer.content_type, "application/problem+json");
    assert!(answer.body.get("token").is_none());
    assert!(
        waited < Duration::from_secs(2 + 1),
        "waited {waited:?}, more than the 2 s timeout"
    );

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["status"], "unready");
    assert_eq!(ready.body["checks"]["signer"]["ok"], false);
    assert_eq!(ready.body["checks"]["signer"]["cause"], "unreachable");
    let metrics = app.get("/metrics").await.text;
    assert!(
        metric(
            &metrics,
            "licet_sign_errors_total{backend=\"vault-transit\",cause=\"unreachable\"}"
        ) >= 2.0
    );
    // The scrape ran the readiness checks itself: Prometheus sees the failing signer.
    assert_eq!(metric(&metrics, "licet_ready{check=\"signer\"}"), 0.0);
    assert_eq!(metric(&metrics, "licet_ready{check=\"database\"}"), 1.0);

    bao.restart();
    let started = Instant::now();
    let mut answer = app.decide(&globex()).await;
    while answer.status != 200 && started.elapsed() < Duration::from_secs(10) {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        answer = app.decide(&globex()).await;
    }
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.body["token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], "vault-licet-v1");
    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(node_verify(&jwks.text, token).unwrap()["decision"], "allow");
    assert_eq!(app.get("/readyz").await.status, 200);
    let metrics = app.get("/metrics").await.text;
    assert_eq!(metric(&metrics, "licet_ready{check=\"signer\"}"), 1.0);
}

#[actix_web::test]
async fn least_privilege_policy_signs_and_reads_but_cannot_export_delete_or_rotate() {
    let bao = Bao::dev();
    bao.transit_key("licet");
    bao.call(
        "POST",
        &bao.transit("keys/licet/config"),
        Some(json!({ "exportable": true, "deletion_allowed": true })),
    );
    let policy = bao.policy_from_repo("licet-sign", "licet-sign.hcl");
    let token = bao.token_with(&[&policy]);

    let (status, body) = bao.call_as(
        &token,
        "POST",
        &bao.transit("sign/licet"),
        Some(json!({ "input": "aGVsbG8=", "signature_algorithm": "pkcs1v15" })),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["signature"]
            .as_str()
            .unwrap()
            .starts_with("vault:v1:")
    );
    let (status, body) = bao.call_as(&token, "GET", &bao.transit("keys/licet"), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["keys"]["1"]["public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );

    let denied = [
        ("GET", "export/signing-key/licet"),
        ("GET", "export/signing-key/licet/1"),
        ("DELETE", "keys/licet"),
        ("POST", "keys/licet/rotate"),
        ("POST", "keys/licet/config"),
        ("POST", "sign/other"),
        ("POST", "keys/other"),
    ];
    for (method, path) in denied {
        let (status, _) = bao.call_as(&token, method, &bao.transit(path), None);
        assert_eq!(status, 403, "{method} {path}");
    }
    // The administrator can: the 403s above come from the policy, not from the key.
    let (status, _) = bao.call("GET", &bao.transit("export/signing-key/licet"), None);
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn start_names_a_missing_key_and_a_token_that_may_not_sign() {
    let bao = Bao::dev();
    bao.transit_key("licet");
    let dir = tempfile::tempdir().unwrap();

    let mut config = common::test_config(Backend::Sqlite, &dir);
    use_vault(&mut config, &bao, &bao.token);
    config.signing.vault.key = "missing".into();
    let err = format!("{:#}", licet::startup::build_state(config).err().unwrap());
    assert!(
        err.contains(&format!(
            "transit key `missing` at mount `{}` not found",
            bao.mount
        )),
        "{err}"
    );

    let mut config = common::test_config(Backend::Sqlite, &dir);
    let nobody = bao.token_with(&["default"]);
    use_vault(&mut config, &bao, &nobody);
    let err = format!("{:#}", licet::startup::build_state(config).err().unwrap());
    assert!(
        err.contains("the Vault token lacks permission to read transit key `licet`"),
        "{err}"
    );
}

#[actix_web::test]
async fn a_burst_of_decisions_is_signed_in_few_transit_calls() {
    let bao = Bao::dev();
    let (app, _) = least_privilege_app(&bao, |c| {
        c.signing.vault.batch_wait_ms = 20;
        c.signing.vault.batch_max = 64;
    });
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let state = app.state.clone();
            actix_web::rt::spawn(async move { state.signer.sign_jws(&json!({ "n": i })).await })
        })
        .collect();
    let jwks = serde_json::to_string(&app.state.signer.jwks()).unwrap();
    for (i, task) in tasks.into_iter().enumerate() {
        let token = task.await.unwrap().unwrap().token;
        assert_eq!(node_verify(&jwks, &token).unwrap()["n"], i);
    }
    // Read the registry itself: a scrape of /metrics would add its readiness probe's signature.
    let metrics = app.state.metrics.render();
    let calls = metric(
        &metrics,
        "licet_sign_batch_size_count{backend=\"vault-transit\"}",
    );
    let signatures = metric(
        &metrics,
        "licet_sign_batch_size_sum{backend=\"vault-transit\"}",
    );
    assert_eq!(signatures, 32.0);
    assert!(calls <= 4.0, "32 signatures took {calls} calls");
}

#[actix_web::test]
async fn encrypted_local_key_starts_with_the_right_passphrase_and_stops_with_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "a long local passphrase\n").unwrap();
    let key_file = dir.path().join("keys/encrypted-key.pem");

    let mut config = common::test_config(Backend::Sqlite, &dir);
    config.signing.key_file = Some(key_file.clone());
    config.signing.key_passphrase_file = Some(passphrase.clone());
    let state = licet::startup::build_state(config.clone()).unwrap();
    let kid = state.signer.kid();
    drop(state);
    assert!(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    let state = licet::startup::build_state(config.clone()).unwrap();
    assert_eq!(state.signer.kid(), kid);
    let signed = state.signer.sign_jws(&json!({ "ok": true })).await.unwrap();
    let jwks = serde_json::to_string(&state.signer.jwks()).unwrap();
    assert_eq!(node_verify(&jwks, &signed.token).unwrap()["ok"], true);
    drop(state);

    std::fs::write(&passphrase, "not the passphrase\n").unwrap();
    let err = format!("{:#}", licet::startup::build_state(config).err().unwrap());
    assert_eq!(
        err,
        format!(
            "cannot load the local signing key (`signing.key_file`): signing key problem: cannot decrypt `{}`: wrong passphrase, or not an encrypted PKCS#8 RSA key",
            key_file.display()
        )
    );
}
