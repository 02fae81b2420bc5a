//! Runs the built `licet-client` binary against tokens signed with a key
//! generated for this test binary and a JWKS written to a temporary directory.

mod common;

use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use common::{KID, b64, fixture, run, sign, sign_with_header, stderr};

const IAT: i64 = 1_767_225_600;
const EXP: i64 = IAT + 300;

fn claims() -> Value {
    json!({
        "iss": "licet",
        "tenant": "acme",
        "principal": {"type": "Device", "id": "d-7f3a"},
        "action": "use",
        "resource": {"type": "Feature", "id": "cad.export"},
        "decision": "deny",
        "reasons": ["EXPIRED"],
        "advice": ["IN_GRACE"],
        "policy_version": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "request_id": "5b0b6c9e-2f3d-4e1a-8c7b-9a0d1e2f3a4b",
        "iat": IAT,
        "exp": EXP,
        "nonce": "n-42",
        "future_claim": {"kept": true}
    })
}

/// Runs `licet-client verify --jwks <fixture> <extra...>` with optional stdin.
fn run_verify(extra: &[&str], stdin: Option<&str>) -> Output {
    let jwks = fixture().jwks_path.to_str().unwrap();
    let args: Vec<&str> = ["verify", "--jwks", jwks]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    run(&args, stdin)
}

#[test]
fn verified_token_prints_claims_and_exits_0() {
    let token = sign(&claims());
    let now = (IAT + 1).to_string();
    let output = run_verify(&["--now", &now, &token], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed, claims());
    assert!(output.stderr.is_empty());
    // Pretty-printed, one member per line.
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("\n  \"tenant\": \"acme\",\n"), "{stdout}");
}

#[test]
fn token_is_read_from_stdin_with_dash() {
    let token = format!("{}\n", sign(&claims()));
    let now = IAT.to_string();
    let output = run_verify(&["--now", &now, "--nonce", "n-42", "-"], Some(&token));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["decision"], "deny");
    assert_eq!(printed["reasons"], json!(["EXPIRED"]));
}

#[test]
fn expired_token_exits_5() {
    let token = sign(&claims());
    let now = (EXP + 10).to_string();
    let output = run_verify(&["--now", &now, &token], None);
    assert_eq!(output.status.code(), Some(5));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        format!("error: token expired at {EXP} (now {})\n", EXP + 10)
    );
}

#[test]
fn system_clock_is_used_without_now() {
    // `exp` far in the past: expired by the real clock.
    let mut old = claims();
    old["iat"] = json!(1_000);
    old["exp"] = json!(2_000);
    let output = run_verify(&[&sign(&old)], None);
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stderr(&output).starts_with("error: token expired at 2000 (now "));
}

#[test]
fn nonce_mismatch_exits_6() {
    let token = sign(&claims());
    let now = IAT.to_string();
    let output = run_verify(&["--now", &now, "--nonce", "n-43", &token], None);
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(
        stderr(&output),
        "error: nonce mismatch: expected `n-43`, token carries `n-42`\n"
    );
}

#[test]
fn licence_file_given_as_a_decision_exits_12() {
    let mut licence = claims();
    licence["kind"] = "license".into();
    let now = IAT.to_string();
    let output = run_verify(&["--now", &now, &sign(&licence)], None);
    assert_eq!(output.status.code(), Some(12));
    assert_eq!(
        stderr(&output),
        "error: wrong kind of token: expected a decision, found `license`; check licence files \
         and revocation lists with `licet-client license verify` and `licet-client revocations \
         verify`\n"
    );

    // The armoured form, as licet hands licence files out, is refused the same way.
    let armoured = licet_client::armor(licet_client::ArmorKind::License, &sign(&licence), &[]);
    let output = run_verify(&["--now", &now, "-"], Some(&armoured));
    assert_eq!(output.status.code(), Some(12), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .starts_with("error: wrong kind of token: expected a decision, found `LICET LICENSE`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn tampered_token_exits_4() {
    let token = sign(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[0] ^= 0x80;
    let tampered = format!("{input}.{}", b64(&raw));
    let now = IAT.to_string();
    let output = run_verify(&["--now", &now, &tampered], None);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(stderr(&output), "error: token signature is invalid\n");
}

#[test]
fn unknown_kid_and_bad_alg_exit_4() {
    let now = IAT.to_string();
    let token = sign_with_header(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "k-new"}),
        &claims(),
    );
    let output = run_verify(&["--now", &now, &token], None);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(
        stderr(&output),
        "error: token signed by unknown key `k-new`; refresh the JWKS\n"
    );

    let header = b64(json!({"alg": "none", "kid": KID}).to_string().as_bytes());
    let unsigned = format!("{header}.{}.", b64(claims().to_string().as_bytes()));
    let output = run_verify(&["--now", &now, &unsigned], None);
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(
        stderr(&output),
        "error: unsupported signature algorithm `none`; only RS256 is accepted\n"
    );
}

#[test]
fn malformed_token_and_invalid_claims_exit_3() {
    let now = IAT.to_string();
    let output = run_verify(&["--now", &now, "not-a-token"], None);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "error: malformed token: expected 3 dot-separated parts, found 1\n"
    );

    let mut incomplete = claims();
    incomplete.as_object_mut().unwrap().remove("tenant");
    let output = run_verify(&["--now", &now, &sign(&incomplete)], None);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        stderr(&output),
        "error: invalid decision claims: missing field `tenant`\n"
    );
}

#[test]
fn unreadable_jwks_exits_2() {
    let output = Command::new(env!("CARGO_BIN_EXE_licet-client"))
        .args(["verify", "--jwks", "/nonexistent/jwks.json", "a.b.c"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("error: cannot read JWKS file `/nonexistent/jwks.json`: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_licet-client"))
        .args(["verify", "a.b.c"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--jwks"), "{}", stderr(&output));

    let output = Command::new(env!("CARGO_BIN_EXE_licet-client"))
        .args(["verify", "--help"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("5  token expired"), "{help}");
    assert!(help.contains("6  nonce mismatch"), "{help}");
}
