//! How server answers are read (success, problem documents, proxies and
//! strangers), server addresses, and a server that is not listening.

use super::*;
use crate::test_support::jwks;

const URL: &str = "http://licet.test/v1/licenses/refresh";
const SECRET: &str = "K7MQ2-XWR4T-ABCDE-FGH23-456PQ";

fn key() -> LicenseKey {
    LicenseKey::new(SECRET)
}

fn answer(status: u16, content_type: &str, text: &str) -> Answer {
    Answer {
        status,
        content_type: content_type.to_owned(),
        retry_after: None,
        location: None,
        text: text.to_owned(),
    }
}

fn problem(status: u16, body: &Value) -> Answer {
    answer(status, "application/problem+json", &body.to_string())
}

#[test]
fn issued_answers_yield_the_armoured_file() {
    for status in [200, 201] {
        let body = json!({"license": "e30.e30.sig", "armored": "-----BEGIN LICET LICENSE-----\n…"});
        let read = read_answer(
            URL,
            answer(status, "application/json", &body.to_string()),
            &key(),
        );
        assert_eq!(read.unwrap(), "-----BEGIN LICET LICENSE-----\n…");
    }
}

#[test]
fn refusal_carries_code_detail_and_every_reason() {
    let body = json!({
        "type": "urn:licet:problem:activation_refused",
        "status": 403,
        "code": "ACTIVATION_REFUSED",
        "detail": "refused: device `dev-1` is inactive; licence key `lk-1` is revoked",
        "reasons": ["DEVICE_INACTIVE", "LICENSE_KEY_REVOKED"],
        "errors": ["device `dev-1` is inactive", "licence key `lk-1` is revoked"],
    });
    let err = read_answer(URL, problem(403, &body), &key()).unwrap_err();
    let OnlineError::Refused {
        status,
        code,
        detail,
        reasons,
        retry_after,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*status, code.as_str()), (403, "ACTIVATION_REFUSED"));
    assert_eq!(
        detail,
        "refused: device `dev-1` is inactive; licence key `lk-1` is revoked"
    );
    assert_eq!(reasons, &["DEVICE_INACTIVE", "LICENSE_KEY_REVOKED"]);
    assert_eq!(*retry_after, None);
    assert_eq!(
        err.to_string(),
        "the server refused: `ACTIVATION_REFUSED` (status 403): refused: device `dev-1` is inactive; \
         licence key `lk-1` is revoked; reasons: `DEVICE_INACTIVE`, `LICENSE_KEY_REVOKED`"
    );
}

#[test]
fn rate_limit_says_when_to_try_again() {
    let body = json!({
        "code": "RATE_LIMITED",
        "detail": "too many attempts with this licence key",
        "retry_after_seconds": 16,
    });
    let mut limited = problem(429, &body);
    limited.retry_after = Some("17".to_owned());
    let err = read_answer(URL, limited, &key()).unwrap_err();
    assert!(
        matches!(&err, OnlineError::Refused { retry_after: Some(after), reasons, .. }
            if *after == Duration::from_secs(17) && reasons.is_empty()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the server refused: `RATE_LIMITED` (status 429): too many attempts with this licence key; \
         try again in 17 s"
    );

    // Without the header (or with an HTTP date), the body's number is used.
    let mut dated = problem(429, &body);
    dated.retry_after = Some("Wed, 21 Oct 2026 07:28:00 GMT".to_owned());
    assert!(matches!(
        read_answer(URL, dated, &key()).unwrap_err(),
        OnlineError::Refused { retry_after: Some(after), .. } if after == Duration::from_secs(16)
    ));
}

#[test]
fn problem_content_type_is_recognised_with_parameters_and_any_case() {
    let body = json!({"code": "DEVICE_LIMIT_REACHED", "detail": "all 2 device seat(s) are taken"});
    let read = read_answer(
        URL,
        answer(
            409,
            "Application/Problem+JSON; charset=utf-8",
            &body.to_string(),
        ),
        &key(),
    );
    assert!(matches!(
        read.unwrap_err(),
        OnlineError::Refused { status: 409, code, .. } if code == "DEVICE_LIMIT_REACHED"
    ));
}

#[test]
fn a_licence_key_echoed_by_the_server_is_not_repeated() {
    let body = json!({"code": "LICENSE_KEY_UNKNOWN", "detail": format!("`{SECRET}` is not known")});
    let err = read_answer(URL, problem(404, &body), &key()).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("XWR4T"), "{shown}");
    assert!(shown.contains("`<licence key>` is not known"), "{shown}");
}

#[test]
fn answers_that_are_not_from_licet_are_bad_answers() {
    let cases = [
        (
            answer(200, "text/html", "<html>welcome</html>"),
            "status 200 without a licence file in `armored`: expected value at line 1 column 1",
        ),
        (
            answer(201, "application/json", r#"{"license": "e30.e30.sig"}"#),
            "status 201 without a licence file in `armored`: missing field `armored` at line 1 column 26",
        ),
        (
            answer(404, "text/html", "<html>not found</html>"),
            "status 404 without a problem document",
        ),
        (
            answer(400, "application/problem+json", "{}"),
            "status 400 with an unreadable problem document: missing field `code` at line 1 column 2",
        ),
    ];
    for (answer, reason) in cases {
        let err = read_answer(URL, answer, &key()).unwrap_err();
        assert!(
            matches!(&err, OnlineError::BadAnswer { reason: found, .. } if found == reason),
            "{err:?}"
        );
    }

    let mut moved = answer(301, "text/html", "");
    moved.location = Some("https://licet.test/v1/licenses/refresh".to_owned());
    assert_eq!(
        read_answer(URL, moved, &key()).unwrap_err().to_string(),
        "unexpected answer from `http://licet.test/v1/licenses/refresh`: status 301 redirecting \
         to `https://licet.test/v1/licenses/refresh`; use that address if it is the licet \
         server's; check that this is the licet server's address"
    );
}

#[test]
fn a_gateway_that_cannot_reach_licet_means_unreachable() {
    for status in [502, 503, 504] {
        let err = read_answer(
            URL,
            answer(status, "text/html", "<h1>Bad gateway</h1>"),
            &key(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, OnlineError::Unreachable { reason, .. }
                if *reason == format!("a proxy or gateway answered status {status}")),
            "{err:?}"
        );
    }
    // licet's own 503 is a problem document: a refusal with its code.
    let own = problem(
        503,
        &json!({"code": "DATABASE_UNAVAILABLE", "detail": "the database is unavailable"}),
    );
    assert!(matches!(
        read_answer(URL, own, &key()).unwrap_err(),
        OnlineError::Refused { status: 503, .. }
    ));
}

#[test]
fn server_addresses_join_paths_and_need_a_scheme() {
    assert_eq!(
        endpoint(" https://licet.example.com/ ", REFRESH_PATH).unwrap(),
        "https://licet.example.com/v1/licenses/refresh"
    );
    assert_eq!(
        endpoint("http://10.0.0.5:8080", ACTIVATIONS_PATH).unwrap(),
        "http://10.0.0.5:8080/v1/activations"
    );
    let err = endpoint("licet.example.com", REFRESH_PATH).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid server address `licet.example.com`: expected an `http://` or `https://` URL"
    );
}

#[test]
fn a_server_not_listening_is_unreachable_and_nothing_is_written() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    let keys = TrustedKeys::from(jwks());
    let server = format!("http://127.0.0.1:{port}");

    let err = refresh(&server, &key(), "sha256:ab", &state, &keys, 1_764_800_000).unwrap_err();
    let OnlineError::Unreachable { url, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(url, &format!("{server}/v1/licenses/refresh"));
    assert!(reason.contains("refused"), "{reason}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("XWR4T"), "{shown}");
    assert!(!state.license_path().exists());
    assert_eq!(state.high_water_mark().unwrap(), None);
}
