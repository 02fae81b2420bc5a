//! The state directory: clock high-water mark, file modes, and the offline
//! request and install flow, with files signed by the test key.

use serde_json::{Value, json};

use super::*;
use crate::activation::LicenseKey;
use crate::error::ArmorError;
use crate::license::CLOCK_TOLERANCE_SECONDS;
use crate::test_support::{
    FINGERPRINT, LICENSE_EXP, LICENSE_IAT, jwks, license_claims, revocation_claims, sign_token,
};

const NOW: i64 = LICENSE_IAT + 7_200;

fn keys() -> TrustedKeys {
    TrustedKeys::from(jwks())
}

fn fresh() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path().join("licet")).unwrap();
    (dir, state)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The offline answer the server would sign for `request`.
fn offline_response(request: &ActivationRequest) -> Value {
    let mut claims = license_claims();
    claims["mode"] = "offline".into();
    claims["checkin_by"] = LICENSE_EXP.into();
    claims["nonce"] = request.nonce.clone().into();
    claims["fingerprint"] = request.fingerprint.clone().into();
    claims
}

fn pending(state: &StateDir) -> ActivationRequest {
    let request = ActivationRequest::new(
        LicenseKey::new("K7MQ2-XWR4T-ABCDE-FGH23-456PQ"),
        FINGERPRINT,
        "ws-01",
    )
    .unwrap();
    state.save_pending_request(&request).unwrap();
    request
}

#[test]
#[cfg(unix)]
fn directory_is_created_0700_and_files_written_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("licet");
    let state = StateDir::open(&path).unwrap();
    assert_eq!(mode(&path), 0o700);
    state.raise_high_water_mark(NOW).unwrap();
    assert_eq!(mode(&path.join(CLOCK_FILE)), 0o600);
    // Only the state file: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, [CLOCK_FILE]);
    // Opening an existing directory leaves it as it is.
    assert_eq!(
        StateDir::open(&path).unwrap().high_water_mark().unwrap(),
        Some(NOW)
    );
}

#[test]
fn a_file_in_place_of_the_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    std::fs::write(&path, "").unwrap();
    let err = StateDir::open(&path).unwrap_err();
    assert!(
        matches!(&err, StateError::Directory { path: p, .. } if *p == path),
        "{err}"
    );
}

#[test]
fn first_check_passes_and_sets_the_mark() {
    let (_dir, state) = fresh();
    assert_eq!(state.high_water_mark().unwrap(), None);
    let token = sign_token(&license_claims());
    let claims = state
        .verify_license(&token, &keys(), &LicenseCheck::at(NOW))
        .unwrap();
    assert_eq!(claims.device, "dev-1");
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW));
    let written: Value =
        serde_json::from_slice(&std::fs::read(state.path().join(CLOCK_FILE)).unwrap()).unwrap();
    assert_eq!(written, json!({"v": 1, "high_water": NOW}));
}

#[test]
fn the_mark_is_the_later_of_now_and_iat() {
    // A clock a little behind the server, within the tolerance: the file's
    // `iat` becomes the mark.
    let (_dir, state) = fresh();
    let token = sign_token(&license_claims());
    let now = LICENSE_IAT - 100;
    state
        .verify_license(&token, &keys(), &LicenseCheck::at(now))
        .unwrap();
    assert_eq!(state.high_water_mark().unwrap(), Some(LICENSE_IAT));
}

#[test]
fn clock_rolled_back_behind_the_mark_is_refused() {
    let (_dir, state) = fresh();
    let token = sign_token(&license_claims());
    let later = NOW + 86_400;
    state.raise_high_water_mark(later).unwrap();

    let rolled_back = later - CLOCK_TOLERANCE_SECONDS - 1;
    let err = state
        .verify_license(&token, &keys(), &LicenseCheck::at(rolled_back))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::License(LicenseError::ClockRolledBack { now, latest_seen })
                if now == rolled_back && latest_seen == later
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "clock rolled back: now {rolled_back} is more than 300 s before {later}, a time already seen; correct the system clock"
        )
    );
    assert_eq!(state.high_water_mark().unwrap(), Some(later));

    // Within the tolerance: accepted, and the mark is not lowered.
    let slightly_behind = later - CLOCK_TOLERANCE_SECONDS;
    state
        .verify_license(&token, &keys(), &LicenseCheck::at(slightly_behind))
        .unwrap();
    assert_eq!(state.high_water_mark().unwrap(), Some(later));

    // A normal forward check passes and raises the mark.
    state
        .verify_license(&token, &keys(), &LicenseCheck::at(later + 60))
        .unwrap();
    assert_eq!(state.high_water_mark().unwrap(), Some(later + 60));
}

#[test]
fn a_failed_check_does_not_raise_the_mark() {
    let (_dir, state) = fresh();
    state.raise_high_water_mark(NOW).unwrap();
    let token = sign_token(&license_claims());
    let err = state
        .verify_license(&token, &keys(), &LicenseCheck::at(LICENSE_EXP + 10))
        .unwrap_err();
    assert!(
        matches!(err, CheckError::License(LicenseError::Expired { .. })),
        "{err}"
    );
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW));
}

#[test]
fn a_verified_revocation_list_raises_the_mark_to_its_iat() {
    let (_dir, state) = fresh();
    let claims = revocation_claims(json!([]));
    let iat = claims["iat"].as_i64().unwrap();
    let list = state
        .verify_revocations(&sign_token(&claims), &keys(), iat - 10)
        .unwrap();
    assert_eq!(list.tenant, "acme");
    assert_eq!(state.high_water_mark().unwrap(), Some(iat));
}

#[test]
fn a_corrupt_state_file_is_an_error_not_a_reset() {
    let (_dir, state) = fresh();
    let path = state.path().join(CLOCK_FILE);
    std::fs::write(&path, "{\"v\":1,\"high_wat").unwrap();
    let token = sign_token(&license_claims());
    let err = state
        .verify_license(&token, &keys(), &LicenseCheck::at(NOW))
        .unwrap_err();
    let CheckError::State(StateError::Corrupt {
        path: reported,
        reason,
    }) = &err
    else {
        panic!("expected a corrupt state file, got {err:?}");
    };
    assert_eq!(*reported, path);
    assert!(reason.starts_with("EOF while parsing"), "{reason}");
    assert!(
        err.to_string()
            .starts_with(&format!("state file `{}` is corrupt: ", path.display())),
        "{err}"
    );
    // Left as it was for someone to look at.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"v\":1,\"high_wat"
    );

    std::fs::write(&path, r#"{"v":2,"high_water":5}"#).unwrap();
    assert!(matches!(
        state.high_water_mark().unwrap_err(),
        StateError::Corrupt { reason, .. }
            if reason == "unsupported version 2; this client reads version 1"
    ));
}

#[test]
#[cfg(unix)]
fn an_unreadable_state_file_is_an_error() {
    let (_dir, state) = fresh();
    // A directory where the file should be cannot be read as one.
    std::fs::create_dir(state.path().join(CLOCK_FILE)).unwrap();
    assert!(matches!(
        state.high_water_mark().unwrap_err(),
        StateError::Read { .. }
    ));
}

#[test]
fn install_round_trip() {
    let (_dir, state) = fresh();
    let request = pending(&state);
    let stored = state.pending_request().unwrap().unwrap();
    assert_eq!(stored.nonce, request.nonce);
    assert_eq!(stored.fingerprint, FINGERPRINT);
    assert_eq!(stored.name, "ws-01");
    // The licence key itself is not kept.
    let pending_text = std::fs::read_to_string(state.path().join(PENDING_REQUEST_FILE)).unwrap();
    assert!(!pending_text.contains("XWR4T"), "{pending_text}");

    // The server reads the request and signs an offline licence for it.
    let received = ActivationRequest::from_armored(&request.to_armored()).unwrap();
    let response = armor(
        ArmorKind::License,
        &sign_token(&offline_response(&received)),
        &["for ws-01"],
    );
    let claims = state.install(&response, &keys(), NOW).unwrap();
    assert_eq!(claims.mode, LicenseMode::Offline);
    assert_eq!(claims.nonce.as_deref(), Some(request.nonce.as_str()));

    let installed = std::fs::read_to_string(state.license_path()).unwrap();
    assert!(
        installed.starts_with(
            "licet licence for tenant `acme`, product `cad`, device `dev-1`\nvalid until 2026-01-03T00:26:40Z\n\n-----BEGIN LICET LICENSE-----\n"
        ),
        "{installed}"
    );
    let check = LicenseCheck {
        fingerprint: Some(FINGERPRINT),
        ..LicenseCheck::at(NOW + 1)
    };
    assert_eq!(
        state.verify_license(&installed, &keys(), &check).unwrap(),
        claims
    );
    assert_eq!(state.pending_request().unwrap(), None);
    assert!(!state.path().join(PENDING_REQUEST_FILE).exists());
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW + 1));
    #[cfg(unix)]
    assert_eq!(mode(&state.license_path()), 0o600);
}

#[test]
fn a_response_for_another_fingerprint_is_refused() {
    let (_dir, state) = fresh();
    let request = pending(&state);
    let mut response = offline_response(&request);
    response["fingerprint"] = "sha256:another-machine".into();
    let err = state
        .install(&sign_token(&response), &keys(), NOW)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CheckError::License(LicenseError::FingerprintMismatch { expected, found })
                if expected == FINGERPRINT && found == "sha256:another-machine"
        ),
        "{err}"
    );
    assert!(!state.license_path().exists());
    assert!(state.pending_request().unwrap().is_some());
}

#[test]
fn a_response_to_another_request_is_refused() {
    let (_dir, state) = fresh();
    let request = pending(&state);
    let mut response = offline_response(&request);
    response["nonce"] = "an-older-request".into();
    let err = state
        .install(&sign_token(&response), &keys(), NOW)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CheckError::License(LicenseError::NonceMismatch { expected, found })
                if *expected == request.nonce && found.as_deref() == Some("an-older-request")
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "offline licence answers another request: expected nonce `{}`, token carries `an-older-request`",
            request.nonce
        )
    );
    assert!(!state.license_path().exists());
}

#[test]
fn an_online_file_cannot_be_installed() {
    let (_dir, state) = fresh();
    let request = pending(&state);
    let mut response = offline_response(&request);
    response["mode"] = "online".into();
    let err = state
        .install(&sign_token(&response), &keys(), NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::License(LicenseError::WrongMode {
                expected: LicenseMode::Offline,
                found: LicenseMode::Online
            })
        ),
        "{err}"
    );
}

#[test]
fn install_without_a_pending_request_is_refused() {
    let (_dir, state) = fresh();
    let request = ActivationRequest::new(
        LicenseKey::new("K7MQ2-XWR4T-ABCDE-FGH23-456PQ"),
        FINGERPRINT,
        "ws",
    )
    .unwrap();
    let err = state
        .install(&sign_token(&offline_response(&request)), &keys(), NOW)
        .unwrap_err();
    assert!(
        matches!(&err, CheckError::State(StateError::NoPendingRequest { path }) if path == state.path()),
        "{err}"
    );
    let response = armor(ArmorKind::Revocations, "x.y.z", &[]);
    pending(&state);
    assert!(matches!(
        state.install(&response, &keys(), NOW).unwrap_err(),
        CheckError::License(LicenseError::Armor(ArmorError::WrongLabel { .. }))
    ));
}

#[test]
fn an_online_file_is_stored_armoured_and_replaces_the_last_one() {
    let (_dir, state) = fresh();
    let first = state
        .install_online(&sign_token(&license_claims()), &keys(), FINGERPRINT, NOW)
        .unwrap();
    assert_eq!(first.mode, LicenseMode::Online);
    let stored = std::fs::read_to_string(state.license_path()).unwrap();
    assert!(
        stored.starts_with(
            "licet licence for tenant `acme`, product `cad`, device `dev-1`\nvalid until 2026-01-03T00:26:40Z\n\n-----BEGIN LICET LICENSE-----\n"
        ),
        "{stored}"
    );
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW));
    #[cfg(unix)]
    assert_eq!(mode(&state.license_path()), 0o600);

    let mut newer = license_claims();
    newer["jti"] = "a-newer-file".into();
    newer["iat"] = (NOW + 60).into();
    let second = state
        .install_online(&sign_token(&newer), &keys(), FINGERPRINT, NOW + 60)
        .unwrap();
    assert_eq!(second.jti, "a-newer-file");
    let check = LicenseCheck::at(NOW + 61);
    let stored = std::fs::read_to_string(state.license_path()).unwrap();
    assert_eq!(
        state.verify_license(&stored, &keys(), &check).unwrap().jti,
        "a-newer-file"
    );
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW + 61));
}

#[test]
fn a_refused_online_file_leaves_the_stored_one_alone() {
    let (_dir, state) = fresh();
    state
        .install_online(&sign_token(&license_claims()), &keys(), FINGERPRINT, NOW)
        .unwrap();
    let before = std::fs::read_to_string(state.license_path()).unwrap();

    let mut other_machine = license_claims();
    other_machine["fingerprint"] = "sha256:another-machine".into();
    let err = state
        .install_online(&sign_token(&other_machine), &keys(), FINGERPRINT, NOW + 5)
        .unwrap_err();
    assert!(
        matches!(&err, CheckError::License(LicenseError::FingerprintMismatch { found, .. })
            if found == "sha256:another-machine"),
        "{err}"
    );

    let mut offline = license_claims();
    offline["mode"] = "offline".into();
    let err = state
        .install_online(&sign_token(&offline), &keys(), FINGERPRINT, NOW + 5)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::License(LicenseError::WrongMode {
                expected: LicenseMode::Online,
                found: LicenseMode::Offline
            })
        ),
        "{err}"
    );

    let err = state
        .install_online(
            &sign_token(&license_claims()),
            &keys(),
            FINGERPRINT,
            LICENSE_EXP,
        )
        .unwrap_err();
    assert!(
        matches!(err, CheckError::License(LicenseError::Expired { .. })),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(state.license_path()).unwrap(),
        before
    );
    assert_eq!(state.high_water_mark().unwrap(), Some(NOW));
}
