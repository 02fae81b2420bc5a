//! Runs the built `licet-client` binary's licence commands (`license verify`,
//! `revocations verify`, `request`, `install`, `fingerprint`) against files
//! signed with a key generated for this test binary, given as a JWKS file or
//! as a pinned PEM key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use licet_client::{ActivationRequest, ArmorKind, armor};
use serde_json::{Value, json};
use sha2::Digest as _;
use tempfile::TempDir;

use common::{b64, fixture, run, sign, stderr};

const IAT: i64 = 1_764_800_000;
const CHECKIN_BY: i64 = 1_765_400_000;
const EXP: i64 = 1_767_400_000;
const NOW: i64 = IAT + 7_200;
const KEY: &str = "K7MQ2-XWR4T-ABCDE-FGH23-456PQ";
const FP: &str = "sha256:7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";

fn licence() -> Value {
    json!({
        "iss": "licet",
        "kind": "license",
        "jti": "9b2e4c6a-1d3f-4a5b-8c7d-0e1f2a3b4c5d",
        "iat": IAT,
        "exp": EXP,
        "checkin_by": CHECKIN_BY,
        "mode": "online",
        "tenant": "acme",
        "license_key": "lk-acme-1",
        "device": "dev-1",
        "fingerprint": FP,
        "entitlement": {
            "id": "ent-acme-cad", "product": "cad", "model": "device", "seats": 5,
            "features": ["cad.export", "cad.view"], "environments": ["prod", "test"],
            "starts_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z",
            "grace_seconds": 1_209_600, "min_version": null, "max_version": "3.0.0"
        }
    })
}

fn revocations(tenant: &str, entries: Value) -> Value {
    json!({
        "iss": "licet", "kind": "revocations", "tenant": tenant,
        "iat": IAT + 3_600, "exp": IAT + 90_000, "entries": entries
    })
}

/// Writes `text` to `dir/name` and returns the path.
fn file(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn jwks_arg() -> &'static str {
    fixture().jwks_path.to_str().unwrap()
}

/// `licet-client license verify --jwks <fixture> <extra...> FILE`, the file
/// written in `dir`, with
/// `--now NOW` unless `extra` has a `--now`.
fn verify_licence(dir: &TempDir, text: &str, extra: &[&str]) -> Output {
    let path = file(dir, "licence.lic", text);
    let now = NOW.to_string();
    let mut args = vec!["license", "verify", "--jwks", jwks_arg()];
    if !extra.contains(&"--now") {
        args.extend(["--now", &now]);
    }
    args.extend(extra);
    args.push(path.to_str().unwrap());
    run(&args, None)
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Asserts the exit code and the whole of stderr.
fn assert_fails(output: &Output, code: i32, message: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    assert!(output.stdout.is_empty());
    assert_eq!(stderr(output), format!("error: {message}\n"));
}

#[test]
fn verified_licence_prints_claims_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let output = verify_licence(&dir, &sign(&licence()), &["--fingerprint", FP]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output), licence());
    assert!(output.stderr.is_empty());
}

#[test]
fn armoured_licence_from_stdin_with_a_pinned_key_exits_0() {
    let text = armor(ArmorKind::License, &sign(&licence()), &["for acme"]);
    let now = NOW.to_string();
    let pem = fixture().pem_path.to_str().unwrap();
    let output = run(
        &["license", "verify", "--key", pem, "--now", &now, "-"],
        Some(&text),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output)["entitlement"]["max_version"], "3.0.0");
}

#[test]
fn malformed_licence_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails(
        &verify_licence(&dir, "-----BEGIN LICET LICENSE-----\nabc\n", &[]),
        3,
        "malformed armour: `-----END LICET LICENSE-----` line missing",
    );
    let mut incomplete = licence();
    incomplete.as_object_mut().unwrap().remove("tenant");
    assert_fails(
        &verify_licence(&dir, &sign(&incomplete), &[]),
        3,
        "invalid licence claims: missing field `tenant`",
    );
}

#[test]
fn tampered_licence_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let token = sign(&licence());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[7] ^= 0x01;
    let tampered = format!("{input}.{}", b64(&raw));
    assert_fails(
        &verify_licence(&dir, &tampered, &[]),
        4,
        "token signature is invalid",
    );
}

#[test]
fn expired_licence_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let now = (EXP + 1).to_string();
    let output = verify_licence(&dir, &sign(&licence()), &["--now", &now]);
    assert_fails(
        &output,
        5,
        &format!("licence expired at {EXP} (now {})", EXP + 1),
    );
}

#[test]
fn overdue_check_in_exits_7() {
    let dir = tempfile::tempdir().unwrap();
    let now = CHECKIN_BY.to_string();
    assert_fails(
        &verify_licence(&dir, &sign(&licence()), &["--now", &now]),
        7,
        &format!(
            "licence check-in overdue since {CHECKIN_BY} (now {CHECKIN_BY}); refresh the licence file"
        ),
    );
}

#[test]
fn licence_for_another_device_exits_8() {
    let dir = tempfile::tempdir().unwrap();
    assert_fails(
        &verify_licence(&dir, &sign(&licence()), &["--fingerprint", "sha256:mine"]),
        8,
        &format!("licence is bound to fingerprint `{FP}`, not `sha256:mine`"),
    );
}

#[test]
fn revoked_licence_exits_9_and_a_reactivated_one_0() {
    let dir = tempfile::tempdir().unwrap();
    let list = sign(&revocations(
        "acme",
        json!([{"kind": "device", "id": "dev-1", "fingerprint": FP, "revoked_at": IAT}]),
    ));
    let list_path = file(&dir, "revocations.txt", &list);
    let output = verify_licence(
        &dir,
        &sign(&licence()),
        &["--revocations", list_path.to_str().unwrap()],
    );
    assert_fails(
        &output,
        9,
        &format!("licence revoked: device `dev-1` with fingerprint `{FP}` revoked at {IAT}"),
    );

    let mut reissued = licence();
    reissued["iat"] = json!(IAT + 1);
    let output = verify_licence(
        &dir,
        &sign(&reissued),
        &["--revocations", list_path.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn clock_set_back_behind_the_state_exits_10() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let token = sign(&licence());
    let later = (NOW + 86_400).to_string();
    let output = verify_licence(&dir, &token, &["--state", state_arg, "--now", &later]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let output = verify_licence(&dir, &token, &["--state", state_arg]);
    assert_fails(
        &output,
        10,
        &format!(
            "clock rolled back: now {NOW} is more than 300 s before {later}, a time already seen; correct the system clock"
        ),
    );
}

#[test]
fn stale_revocation_list_exits_11() {
    let dir = tempfile::tempdir().unwrap();
    let list = sign(&revocations("acme", json!([])));
    let list_path = file(&dir, "revocations.txt", &list);
    let now = (IAT + 90_000).to_string();
    let output = verify_licence(
        &dir,
        &sign(&licence()),
        &["--revocations", list_path.to_str().unwrap(), "--now", &now],
    );
    assert_fails(
        &output,
        11,
        &format!(
            "stale revocation list: expired at {} (now {now}); fetch a fresh one",
            IAT + 90_000
        ),
    );
}

#[test]
fn decision_token_given_as_licence_exits_12() {
    let dir = tempfile::tempdir().unwrap();
    let decision =
        json!({"iss": "licet", "tenant": "acme", "decision": "allow", "iat": IAT, "exp": EXP});
    assert_fails(
        &verify_licence(&dir, &sign(&decision), &[]),
        12,
        "wrong kind of token: expected `license`, found a token without `kind`, such as a decision",
    );
}

#[test]
fn an_armoured_revocation_list_given_as_licence_exits_12() {
    let dir = tempfile::tempdir().unwrap();
    let list = sign(&revocations("acme", json!([])));
    let armoured =
        format!("-----BEGIN LICET REVOCATIONS-----\n{list}\n-----END LICET REVOCATIONS-----\n");
    let output = verify_licence(&dir, &armoured, &[]);
    assert_eq!(output.status.code(), Some(12), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("LICET REVOCATIONS"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn another_tenants_revocation_list_exits_13() {
    let dir = tempfile::tempdir().unwrap();
    let list = sign(&revocations(
        "globex",
        json!([{"kind": "license_key", "id": "lk-acme-1", "revoked_at": NOW}]),
    ));
    let list_path = file(&dir, "revocations.txt", &list);
    assert_fails(
        &verify_licence(
            &dir,
            &sign(&licence()),
            &["--revocations", list_path.to_str().unwrap()],
        ),
        13,
        "revocation list is for tenant `globex`, the licence for tenant `acme`",
    );
}

#[test]
fn corrupt_state_exits_14() {
    let dir = tempfile::tempdir().unwrap();
    let clock = file(&dir, "clock.json", "not json");
    let state = clock.parent().unwrap();
    let output = verify_licence(
        &dir,
        &sign(&licence()),
        &["--state", state.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(14), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with(&format!(
            "error: state file `{}` is corrupt: expected ident",
            clock.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_keys_or_unreadable_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["license", "verify", "licence.lic"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--jwks"), "{}", stderr(&output));

    let output = run(
        &[
            "license",
            "verify",
            "--jwks",
            jwks_arg(),
            "/nonexistent/licence.lic",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .starts_with("error: cannot read the licence file `/nonexistent/licence.lic`: "),
        "{}",
        stderr(&output)
    );

    let not_a_key = file(&dir, "bad.pem", "hello");
    let licence_path = file(&dir, "licence.lic", &sign(&licence()));
    let output = run(
        &[
            "license",
            "verify",
            "--key",
            not_a_key.to_str().unwrap(),
            licence_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(&format!(
            "error: invalid public key in `{}`: ",
            not_a_key.display()
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn revocations_verify_prints_the_list_or_exits_11_or_12() {
    let dir = tempfile::tempdir().unwrap();
    let claims = revocations(
        "acme",
        json!([{"kind": "license_key", "id": "lk-acme-1", "revoked_at": IAT}]),
    );
    let armoured = armor(ArmorKind::Revocations, &sign(&claims), &[]);
    let path = file(&dir, "revocations.txt", &armoured);
    let path = path.to_str().unwrap();
    let now = NOW.to_string();
    let output = run(
        &[
            "revocations",
            "verify",
            "--jwks",
            jwks_arg(),
            "--now",
            &now,
            path,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output), claims);

    let stale = (IAT + 90_000).to_string();
    let output = run(
        &[
            "revocations",
            "verify",
            "--jwks",
            jwks_arg(),
            "--now",
            &stale,
            path,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(11), "{}", stderr(&output));

    let licence_path = file(&dir, "licence.lic", &sign(&licence()));
    let output = run(
        &[
            "revocations",
            "verify",
            "--jwks",
            jwks_arg(),
            "--now",
            &now,
            licence_path.to_str().unwrap(),
        ],
        None,
    );
    assert_fails(
        &output,
        12,
        "wrong kind of token: expected `revocations`, found `license`",
    );
}

/// Runs `licet-client request` with a state directory in `dir`; returns the
/// state directory and the request as the server would read it.
fn request(dir: &TempDir, fingerprint: &str) -> (PathBuf, ActivationRequest) {
    let out = dir.path().join("request.txt");
    let state = dir.path().join("state");
    let output = run(
        &[
            "request",
            "--license-key",
            KEY,
            "--fingerprint",
            fingerprint,
            "--name",
            "ws-01",
            "--state",
            state.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert!(stderr(&output).starts_with("wrote the activation request to `"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("-----BEGIN LICET ACTIVATION REQUEST-----\n"),
        "{text}"
    );
    let request = ActivationRequest::from_armored(&text).unwrap();
    assert_eq!(request.license_key.expose(), KEY);
    assert_eq!(request.fingerprint, fingerprint);
    assert_eq!(request.name, "ws-01");
    assert!(state.join("pending-request.json").exists());
    (state, request)
}

/// The offline licence the server would sign for `request`.
fn offline_answer(request: &ActivationRequest) -> Value {
    let mut claims = licence();
    claims["mode"] = "offline".into();
    claims["checkin_by"] = EXP.into();
    claims["nonce"] = request.nonce.clone().into();
    claims["fingerprint"] = request.fingerprint.clone().into();
    claims
}

fn install(state: &Path, response: &str) -> Output {
    let now = NOW.to_string();
    run(
        &[
            "install",
            "--state",
            state.to_str().unwrap(),
            "--jwks",
            jwks_arg(),
            "--now",
            &now,
            "-",
        ],
        Some(response),
    )
}

#[test]
fn request_then_install_exits_0_and_the_installed_file_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (state, request) = request(&dir, FP);
    let answer = offline_answer(&request);
    let response = armor(ArmorKind::License, &sign(&answer), &["for ws-01"]);
    let output = install(&state, &response);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output), answer);
    assert_eq!(
        stderr(&output),
        format!(
            "installed the licence as `{}`\n",
            state.join("license.lic").display()
        )
    );
    assert!(!state.join("pending-request.json").exists());

    let installed = state.join("license.lic");
    let now = (NOW + 60).to_string();
    let output = run(
        &[
            "license",
            "verify",
            "--jwks",
            jwks_arg(),
            "--fingerprint",
            FP,
            "--state",
            state.to_str().unwrap(),
            "--now",
            &now,
            installed.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output), answer);
}

#[test]
fn request_to_stdout_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let output = run(
        &[
            "request",
            "--fingerprint",
            FP,
            "--name",
            "ws-02",
            "--state",
            state.to_str().unwrap(),
            "--out",
            "-",
            "--license-key",
            "k7mq2 xwr4t abcde fgh23 456pq",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        ActivationRequest::from_armored(&text).unwrap().name,
        "ws-02"
    );
}

#[test]
fn a_request_the_server_would_refuse_exits_2_and_keeps_the_pending_one() {
    let dir = tempfile::tempdir().unwrap();
    let (state, first) = request(&dir, FP);
    let pending = std::fs::read_to_string(state.join("pending-request.json")).unwrap();
    let out = dir.path().join("second.txt");
    let attempt = |key: &str, fingerprint: &str, name: &str| {
        run(
            &[
                "request",
                "--license-key",
                key,
                "--fingerprint",
                fingerprint,
                "--name",
                name,
                "--state",
                state.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
    };
    assert_fails(
        &attempt("bad", FP, "ws-01"),
        2,
        "cannot make an activation request: the licence key must be 25 letters and digits \
         without 0, 1, I and O (case, spaces and dashes do not matter), like \
         `K7MQ2-XWR4T-ABCDE-FGH23-456PQ`",
    );
    assert_fails(
        &attempt(KEY, "bad fp", "ws-01"),
        2,
        "cannot make an activation request: the fingerprint must be 1 to 256 printable ASCII \
         characters without spaces",
    );
    let output = attempt("K7MQ2-XWR4T-ABCDE-FGH23-456P0", "", "line\nbreak");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("the licence key must be"), "{message}");
    assert!(message.contains("the fingerprint must be"), "{message}");
    assert!(
        message.contains("the name must not hold control characters"),
        "{message}"
    );
    assert!(!message.contains("456P0"), "the key is a secret: {message}");

    assert!(!out.exists());
    let kept = std::fs::read_to_string(state.join("pending-request.json")).unwrap();
    assert_eq!(kept, pending);
    assert!(kept.contains(&first.nonce));
}

#[test]
fn answer_to_another_request_exits_6() {
    let dir = tempfile::tempdir().unwrap();
    let (state, request) = request(&dir, FP);
    let mut answer = offline_answer(&request);
    answer["nonce"] = "stale-nonce".into();
    assert_fails(
        &install(&state, &sign(&answer)),
        6,
        &format!(
            "offline licence answers another request: expected nonce `{}`, token carries `stale-nonce`",
            request.nonce
        ),
    );
    assert!(!state.join("license.lic").exists());
}

#[test]
fn answer_for_another_fingerprint_exits_8() {
    let dir = tempfile::tempdir().unwrap();
    let (state, request) = request(&dir, FP);
    let mut answer = offline_answer(&request);
    answer["fingerprint"] = "sha256:elsewhere".into();
    assert_fails(
        &install(&state, &sign(&answer)),
        8,
        &format!("licence is bound to fingerprint `sha256:elsewhere`, not `{FP}`"),
    );
}

#[test]
fn online_licence_given_to_install_exits_12() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _request) = request(&dir, FP);
    assert_fails(
        &install(&state, &sign(&licence())),
        12,
        "expected an `offline` licence file, found an `online` one",
    );
}

#[test]
fn install_without_a_pending_request_exits_14() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let output = install(&state, &sign(&licence()));
    assert_fails(
        &output,
        14,
        &format!(
            "no pending activation request in `{}`; make one with `licet-client request` first",
            state.display()
        ),
    );
}

#[test]
fn fingerprint_prints_the_machine_id_digest() {
    let output = run(&["fingerprint"], None);
    match std::fs::read_to_string("/etc/machine-id") {
        Ok(id) if !id.trim().is_empty() => {
            assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
            let digest = hex::encode(sha2::Sha256::digest(id.trim().as_bytes()));
            assert_eq!(
                String::from_utf8(output.stdout).unwrap(),
                format!("sha256:{digest}\n")
            );
        }
        _ => {
            assert_eq!(output.status.code(), Some(2));
            assert!(stderr(&output).contains("pass a fingerprint explicitly"));
        }
    }
}

#[test]
fn help_lists_every_exit_code() {
    for command in [
        &["license", "verify", "--help"][..],
        &["revocations", "verify", "--help"],
        &["request", "--help"],
        &["install", "--help"],
        &["--help"],
    ] {
        let output = run(command, None);
        assert_eq!(output.status.code(), Some(0));
        let help = String::from_utf8(output.stdout).unwrap();
        for line in [
            "  0  success",
            "  5  token expired",
            "  7  licence check-in overdue",
            "  8  fingerprint mismatch",
            "  9  licence revoked",
            " 10  clock rolled back",
            " 11  stale revocation list",
            " 12  wrong kind of token or file",
            " 13  revocation list for another tenant",
            " 14  state directory unusable",
        ] {
            assert!(help.contains(line), "{command:?} lacks {line:?}:\n{help}");
        }
    }
}
