//! Runs the built `licet-client activate` and `refresh` against a small HTTP
//! server of this test that answers what a licet server would (a licence
//! file signed with a key generated here, or a problem document), and checks
//! what the commands send, print, store and exit with.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use common::{fixture, sign};

const IAT: i64 = 1_764_800_000;
const NOW: i64 = IAT + 60;
const FP: &str = "sha256:5e8f0c1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5";
const LICENSE_KEY: &str = "K7MQ2-XWR4T-ABCDE-FGH23-456PQ";

/// An online licence file issued at `iat` with id `jti`, as licet signs it.
fn licence(jti: &str, iat: i64) -> Value {
    json!({
        "iss": "licet", "kind": "license", "jti": jti,
        "iat": iat, "exp": iat + 30 * 86_400, "checkin_by": iat + 72 * 3_600,
        "mode": "online", "tenant": "acme", "license_key": "lk-acme-1",
        "device": "dev-1", "fingerprint": FP,
        "entitlement": {
            "id": "ent-acme-cad", "product": "cad", "model": "device", "seats": 2,
            "features": ["cad.export", "cad.view"], "environments": ["prod"],
            "starts_at": "2025-11-01T00:00:00Z", "expires_at": "2026-11-01T00:00:00Z",
            "grace_seconds": 604_800, "min_version": null, "max_version": null
        }
    })
}

/// The JSON body licet answers a successful activation or refresh with.
fn issued(claims: &Value) -> String {
    let token = sign(claims);
    let armored = format!("-----BEGIN LICET LICENSE-----\n{token}\n-----END LICET LICENSE-----\n");
    json!({ "license": token, "armored": armored }).to_string()
}

/// A request the test server received.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    body: Value,
}

/// Answers each connection with the next of `answers` (status, content type,
/// body), records each request, then stops listening. Returns the base URL.
fn serve(answers: Vec<(u16, &'static str, String)>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for (status, content_type, body) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            log.lock().unwrap().push(Received {
                request_line: request_line.trim_end().to_owned(),
                body: serde_json::from_slice(&request_body).unwrap_or(Value::Null),
            });
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (base, received)
}

/// Runs `licet-client` with `args`, the licence key in `LICET_LICENSE_KEY`
/// and no proxy.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licet-client"))
        .args(args)
        .env("LICET_LICENSE_KEY", LICENSE_KEY)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// `licet-client <command> --server <server> --fingerprint FP --state <dir>
/// --jwks <fixture> --now NOW <extra...>`.
fn online(command: &str, server: &str, state: &Path, extra: &[&str]) -> Output {
    let now = NOW.to_string();
    let mut args = vec![
        command,
        "--server",
        server,
        "--fingerprint",
        FP,
        "--state",
        state.to_str().unwrap(),
        "--jwks",
        fixture().jwks_path.to_str().unwrap(),
        "--now",
        &now,
    ];
    args.extend(extra);
    run(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stored(state: &Path) -> String {
    std::fs::read_to_string(state.join("license.lic")).unwrap()
}

#[test]
fn activate_sends_the_key_stores_the_licence_and_exits_0() {
    let (server, received) = serve(vec![(
        201,
        "application/json",
        issued(&licence("file-1", IAT)),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("licet");

    let output = online("activate", &server, &state, &["--name", "ws-01"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims, licence("file-1", IAT));
    assert_eq!(
        stderr(&output),
        format!(
            "activated; stored the licence as `{}`\n",
            state.join("license.lic").display()
        )
    );

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request_line, "POST /v1/activations HTTP/1.1");
    assert_eq!(
        received[0].body,
        json!({ "license_key": LICENSE_KEY, "fingerprint": FP, "name": "ws-01" })
    );

    let file = stored(&state);
    assert!(
        file.starts_with("licet licence for tenant `acme`, product `cad`, device `dev-1`\n"),
        "{file}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(state.join("license.lic"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let verified = run(&[
        "license",
        "verify",
        "--jwks",
        fixture().jwks_path.to_str().unwrap(),
        "--fingerprint",
        FP,
        "--now",
        &NOW.to_string(),
        state.join("license.lic").to_str().unwrap(),
    ]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
}

#[test]
fn refresh_stores_the_file_and_a_refusal_exits_15_leaving_it() {
    let refused = json!({
        "type": "urn:licet:problem:activation_refused", "title": "Forbidden", "status": 403,
        "code": "ACTIVATION_REFUSED", "detail": "refused: device `dev-1` is inactive",
        "reasons": ["DEVICE_INACTIVE"], "errors": ["device `dev-1` is inactive"]
    });
    let (server, received) = serve(vec![
        (
            200,
            "application/json",
            issued(&licence("file-2", IAT + 30)),
        ),
        (403, "application/problem+json", refused.to_string()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("licet");

    let output = online("refresh", &server, &state, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["jti"], "file-2");
    let before = stored(&state);

    let output = online("refresh", &server, &state, &[]);
    assert_eq!(output.status.code(), Some(15), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: the server refused: `ACTIVATION_REFUSED` (status 403): refused: device `dev-1` \
         is inactive; reasons: `DEVICE_INACTIVE`\n"
    );
    assert_eq!(stored(&state), before);

    let received = received.lock().unwrap().clone();
    assert_eq!(
        received[1].request_line,
        "POST /v1/licenses/refresh HTTP/1.1"
    );
    assert_eq!(
        received[1].body,
        json!({ "license_key": LICENSE_KEY, "fingerprint": FP })
    );
}

#[test]
fn a_server_not_listening_exits_16_without_showing_the_key() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{port}");
    let output = online("activate", &server, dir.path(), &["--name", "ws-01"]);
    assert_eq!(output.status.code(), Some(16), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: cannot reach the licence server at `{server}/v1/activations`: "
        )),
        "{message}"
    );
    assert!(!message.contains("XWR4T"), "{message}");
    assert!(!dir.path().join("license.lic").exists());
}

#[test]
fn an_answer_for_another_device_exits_8_and_stores_nothing() {
    let mut other = licence("file-3", IAT);
    other["fingerprint"] = "sha256:another-machine".into();
    let (server, _) = serve(vec![(201, "application/json", issued(&other))]);
    let dir = tempfile::tempdir().unwrap();
    let output = online("activate", &server, dir.path(), &["--name", "ws-01"]);
    assert_eq!(output.status.code(), Some(8), "{}", stderr(&output));
    assert!(!dir.path().join("license.lic").exists());
}

#[test]
fn a_server_address_without_scheme_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = online("refresh", "licet.example.com", dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: invalid server address `licet.example.com`: expected an `http://` or `https://` URL\n"
    );
}

#[test]
fn help_documents_the_online_exit_codes() {
    for command in ["activate", "refresh"] {
        let output = run(&[command, "--help"]);
        assert_eq!(output.status.code(), Some(0));
        let help = String::from_utf8(output.stdout).unwrap();
        for line in [
            "--server <URL>",
            "[env: LICET_LICENSE_KEY]",
            " 15  refused by the server",
            " 16  server unreachable",
        ] {
            assert!(
                help.contains(line),
                "`{line}` missing from {command} --help:\n{help}"
            );
        }
        assert!(!help.contains(LICENSE_KEY), "{help}");
    }
}
