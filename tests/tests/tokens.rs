//! Signed decisions verify with an implementation that is not ours (Node's crypto), with
//! `licet-client`, and fail when a single byte changes.

mod common;

use std::process::Command;

use common::{Backend, device_request, spawn};
use licet_client::{Jwks, VerifyError, verify_decision};

fn node_verify(jwks_file: &std::path::Path, token: &str) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/verify-jws.mjs");
    Command::new("node")
        .arg(script)
        .arg(jwks_file)
        .arg(token)
        .output()
        .expect("node runs (scripts/test installs it)")
}

/// Flips one character of the claims part to another valid base64url character.
fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let claims = &mut parts[1];
    let middle = claims.len() / 2;
    let replacement = if &claims[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    claims.replace_range(middle..=middle, replacement);
    parts.join(".")
}

#[actix_web::test]
async fn token_verifies_with_node_crypto_and_a_changed_byte_fails() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;
    let mut body = device_request("globex", "g-ws-01", "cad.render", "3.1.0", "prod");
    body["nonce"] = "client-nonce-42".into();
    let answer = app.decide(&body).await;
    let token = answer.body["token"].as_str().unwrap().to_string();

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let jwks_file = app.dir.path().join("jwks.json");
    std::fs::write(&jwks_file, &jwks.text).unwrap();

    let out = node_verify(&jwks_file, &token);
    assert!(
        out.status.success(),
        "node refused a good token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["tenant"], "globex");
    assert_eq!(
        claims["principal"],
        serde_json::json!({ "type": "Device", "id": "g-ws-01" })
    );
    assert_eq!(
        claims["resource"],
        serde_json::json!({ "type": "Feature", "id": "cad.render" })
    );
    assert_eq!(claims["action"], "use");
    assert_eq!(claims["decision"], "allow");
    assert_eq!(claims["advice"], serde_json::json!(["IN_GRACE"]));
    assert_eq!(claims["reasons"], serde_json::json!([]));
    assert_eq!(claims["nonce"], "client-nonce-42");
    assert_eq!(
        claims["context"],
        serde_json::json!({ "product_version": "3.1.0", "environment": "prod" })
    );
    assert_eq!(claims["entitlement"], "ent-globex-cad");
    assert_eq!(claims["policy_version"], answer.body["policy_version"]);
    assert_eq!(claims["request_id"], answer.body["request_id"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    let header: serde_json::Value =
        serde_json::from_slice(&base64_decode(token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], key["kid"]);

    let forged = tamper(&token);
    assert_ne!(forged, token);
    let out = node_verify(&jwks_file, &forged);
    assert!(!out.status.success(), "node accepted a tampered token");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "signature invalid"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    let out = Command::new("node")
        .args([
            "-e",
            &format!("process.stdout.write(Buffer.from('{text}', 'base64url'))"),
        ])
        .output()
        .unwrap();
    out.stdout
}

#[actix_web::test]
async fn licet_client_verifies_a_token_offline_and_refuses_it_once_expired() {
    let app = common::spawn_with(Backend::Sqlite, |c| c.signing.token_ttl_seconds = 60);
    app.load_demo().await;
    let answer = app
        .decide(&device_request(
            "initech",
            "i-node-1",
            "sim.solve",
            "2.0.0",
            "prod",
        ))
        .await;
    let token = answer.body["token"].as_str().unwrap();
    let jwks = Jwks::from_json(&app.get("/.well-known/jwks.json").await.text).unwrap();

    let now = chrono::Utc::now().timestamp();
    let claims = verify_decision(token, &jwks, now).unwrap();
    assert!(!claims.decision.is_allow());
    assert_eq!(claims.reasons, vec!["EXPIRED".to_string()]);
    assert_eq!(claims.tenant, "initech");
    assert_eq!(claims.exp - claims.iat, 60);

    match verify_decision(token, &jwks, claims.exp) {
        Err(VerifyError::Expired { exp, now }) => assert_eq!((exp, now), (claims.exp, claims.exp)),
        other => panic!("expected expiry, got {other:?}"),
    }
    assert!(matches!(
        verify_decision(&tamper(token), &jwks, now),
        Err(VerifyError::BadSignature)
    ));
}
