//! Licence files and revocation lists signed with the test key.

use chrono::TimeZone as _;
use serde_json::json;

use super::*;
use crate::armor::armor;
use crate::error::{ArmorError, VerifyError};
use crate::revocation::{RevocationEntry, verify_revocations};
use crate::test_support::{
    FINGERPRINT, LICENSE_CHECKIN_BY, LICENSE_EXP, LICENSE_IAT, jwks, license_claims,
    revocation_claims, sign_parts, sign_token,
};

/// A time at which the fixture licence and revocation list are both valid.
const NOW: i64 = LICENSE_IAT + 7_200;

fn keys() -> TrustedKeys {
    TrustedKeys::from(jwks())
}

fn verify_at(token: &str, now: i64) -> Result<LicenseClaims, LicenseError> {
    verify_license(token, &keys(), &LicenseCheck::at(now))
}

fn expected_claims() -> LicenseClaims {
    LicenseClaims {
        iss: "licet".into(),
        kind: "license".into(),
        jti: "3f0c2a8e-5b7d-4e1f-9a6c-2d4b8e0f1a3c".into(),
        iat: LICENSE_IAT,
        exp: LICENSE_EXP,
        checkin_by: LICENSE_CHECKIN_BY,
        mode: LicenseMode::Online,
        nonce: None,
        tenant: "acme".into(),
        license_key: "lk-acme-1".into(),
        device: "dev-1".into(),
        fingerprint: FINGERPRINT.into(),
        entitlement: Entitlement {
            id: "ent-acme-cad".into(),
            product: "cad".into(),
            model: "device".into(),
            seats: 5,
            features: vec!["cad.export".into(), "cad.view".into()],
            environments: vec!["prod".into(), "test".into()],
            starts_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            expires_at: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
            grace_seconds: 1_209_600,
            min_version: Some("2.0.0".into()),
            max_version: None,
            extra: Map::new(),
        },
        extra: Map::new(),
    }
}

/// A verified revocation list of tenant `acme` with `entries`.
fn revocations(entries: Value) -> RevocationList {
    verify_revocations(&sign_token(&revocation_claims(entries)), &keys(), NOW).unwrap()
}

fn verify_with_list(token: &str, list: &RevocationList) -> Result<LicenseClaims, LicenseError> {
    let check = LicenseCheck {
        revocations: Some(list),
        ..LicenseCheck::at(NOW)
    };
    verify_license(token, &keys(), &check)
}

#[test]
fn good_file_verifies_and_returns_the_claims() {
    let token = sign_token(&license_claims());
    let claims = verify_at(&token, NOW).unwrap();
    assert_eq!(claims, expected_claims());
    assert!(claims.entitlement.grants("cad.export"));
    assert!(!claims.entitlement.grants("cad.render"));
    // Serializing gives back the signed JSON.
    assert_eq!(serde_json::to_value(&claims).unwrap(), license_claims());
}

#[test]
fn armoured_and_bare_forms_both_verify() {
    let token = sign_token(&license_claims());
    let armoured = armor(ArmorKind::License, &token, &["licence for acme", ""]);
    assert_eq!(
        armoured.lines().nth(2),
        Some("-----BEGIN LICET LICENSE-----")
    );
    assert_eq!(armoured.lines().nth(3).unwrap().len(), 64, "{armoured}");
    let mangled = armoured.replace('\n', "\r\n    ");
    for text in [token.clone(), format!("\n {token} \n"), armoured, mangled] {
        assert_eq!(verify_at(&text, NOW).unwrap(), expected_claims(), "{text}");
    }
}

#[test]
fn unknown_claims_are_kept() {
    let mut json = license_claims();
    json["aud"] = "cad-suite".into();
    json["entitlement"]["tier"] = "gold".into();
    let claims = verify_at(&sign_token(&json), NOW).unwrap();
    assert_eq!(claims.extra.get("aud"), Some(&json!("cad-suite")));
    assert_eq!(claims.entitlement.extra.get("tier"), Some(&json!("gold")));
    assert_eq!(serde_json::to_value(&claims).unwrap(), json);
}

#[test]
fn expiry_is_exclusive_and_wins_over_checkin() {
    let mut offline = license_claims();
    offline["mode"] = "offline".into();
    offline["nonce"] = "n-1".into();
    offline["checkin_by"] = LICENSE_EXP.into();
    let token = sign_token(&offline);
    assert_eq!(
        verify_at(&token, LICENSE_EXP - 1).unwrap().mode,
        LicenseMode::Offline
    );
    assert_eq!(
        verify_at(&token, LICENSE_EXP).unwrap_err(),
        LicenseError::Expired {
            exp: LICENSE_EXP,
            now: LICENSE_EXP
        }
    );
    // An online file past both deadlines is expired, not merely overdue.
    let online = sign_token(&license_claims());
    assert_eq!(
        verify_at(&online, LICENSE_EXP + 10).unwrap_err(),
        LicenseError::Expired {
            exp: LICENSE_EXP,
            now: LICENSE_EXP + 10
        }
    );
}

#[test]
fn checkin_overdue_is_distinct_from_expired() {
    let token = sign_token(&license_claims());
    assert!(verify_at(&token, LICENSE_CHECKIN_BY - 1).is_ok());
    let err = verify_at(&token, LICENSE_CHECKIN_BY).unwrap_err();
    assert_eq!(
        err,
        LicenseError::CheckinOverdue {
            checkin_by: LICENSE_CHECKIN_BY,
            now: LICENSE_CHECKIN_BY
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "licence check-in overdue since {LICENSE_CHECKIN_BY} (now {LICENSE_CHECKIN_BY}); refresh the licence file"
        )
    );
}

#[test]
fn fingerprint_binding() {
    let token = sign_token(&license_claims());
    let ours = LicenseCheck {
        fingerprint: Some(FINGERPRINT),
        ..LicenseCheck::at(NOW)
    };
    assert!(verify_license(&token, &keys(), &ours).is_ok());
    let other = LicenseCheck {
        fingerprint: Some("sha256:0000"),
        ..LicenseCheck::at(NOW)
    };
    assert_eq!(
        verify_license(&token, &keys(), &other).unwrap_err(),
        LicenseError::FingerprintMismatch {
            expected: "sha256:0000".into(),
            found: FINGERPRINT.into(),
        }
    );
}

#[test]
fn clock_behind_the_files_issue_time_is_refused() {
    let token = sign_token(&license_claims());
    assert!(verify_at(&token, LICENSE_IAT - CLOCK_TOLERANCE_SECONDS).is_ok());
    let now = LICENSE_IAT - CLOCK_TOLERANCE_SECONDS - 1;
    assert_eq!(
        verify_at(&token, now).unwrap_err(),
        LicenseError::ClockRolledBack {
            now,
            latest_seen: LICENSE_IAT
        }
    );
}

#[test]
fn a_decision_or_a_revocation_list_is_not_a_licence() {
    let decision = json!({
        "iss": "licet", "tenant": "acme", "decision": "allow",
        "iat": LICENSE_IAT, "exp": LICENSE_EXP
    });
    assert_eq!(
        verify_at(&sign_token(&decision), NOW).unwrap_err(),
        LicenseError::WrongKind {
            expected: "license",
            found: None
        }
    );
    let list = sign_token(&revocation_claims(json!([])));
    let err = verify_at(&list, NOW).unwrap_err();
    assert_eq!(
        err,
        LicenseError::WrongKind {
            expected: "license",
            found: Some("revocations".into())
        }
    );
    assert_eq!(
        err.to_string(),
        "wrong kind of token: expected `license`, found `revocations`"
    );
    assert_eq!(
        verify_revocations(&sign_token(&license_claims()), &keys(), NOW).unwrap_err(),
        LicenseError::WrongKind {
            expected: "revocations",
            found: Some("license".into())
        }
    );
}

#[test]
fn tampered_or_foreign_files_are_refused() {
    // A longer `exp` under the signature of the genuine file.
    let genuine = sign_token(&license_claims());
    let mut forged = license_claims();
    forged["exp"] = json!(i64::MAX);
    let forged = sign_token(&forged);
    let (_, signature) = genuine.rsplit_once('.').unwrap();
    let (input, _) = forged.rsplit_once('.').unwrap();
    assert_eq!(
        verify_at(&format!("{input}.{signature}"), NOW).unwrap_err(),
        LicenseError::Token(VerifyError::BadSignature)
    );
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "elsewhere"});
    assert_eq!(
        verify_at(&sign_parts(&header, &license_claims()), NOW).unwrap_err(),
        LicenseError::Token(VerifyError::UnknownKey("elsewhere".into()))
    );
}

#[test]
fn broken_shapes_are_reported() {
    let mut incomplete = license_claims();
    incomplete.as_object_mut().unwrap().remove("device");
    assert_eq!(
        verify_at(&sign_token(&incomplete), NOW).unwrap_err(),
        LicenseError::InvalidClaims {
            what: "licence",
            reason: "missing field `device`".into()
        }
    );
    let mut bad_mode = license_claims();
    bad_mode["mode"] = "sometimes".into();
    assert!(matches!(
        verify_at(&sign_token(&bad_mode), NOW).unwrap_err(),
        LicenseError::InvalidClaims { what: "licence", reason } if reason.starts_with("unknown variant `sometimes`")
    ));
    let list = armor(ArmorKind::Revocations, &sign_token(&license_claims()), &[]);
    assert_eq!(
        verify_at(&list, NOW).unwrap_err(),
        LicenseError::Armor(ArmorError::WrongLabel {
            expected: "LICET LICENSE",
            found: "-----BEGIN LICET REVOCATIONS-----".into()
        })
    );
    assert_eq!(
        verify_at("  \n", NOW).unwrap_err(),
        LicenseError::Armor(ArmorError::Empty)
    );
    assert_eq!(
        verify_at("not-a-token", NOW).unwrap_err(),
        LicenseError::Token(VerifyError::Malformed(
            "expected 3 dot-separated parts, found 1".into()
        ))
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    // Expired, wrong fingerprint and revoked at once: expiry is reported.
    let token = sign_token(&license_claims());
    let list = revocations(json!([{"kind": "license_key", "id": "lk-acme-1", "revoked_at": NOW}]));
    let check = LicenseCheck {
        now: LICENSE_EXP,
        fingerprint: Some("sha256:other"),
        revocations: Some(&list),
    };
    assert!(matches!(
        verify_license(&token, &keys(), &check).unwrap_err(),
        LicenseError::Expired { .. }
    ));
    // Wrong fingerprint and revoked: the fingerprint is reported.
    let check = LicenseCheck { now: NOW, ..check };
    assert!(matches!(
        verify_license(&token, &keys(), &check).unwrap_err(),
        LicenseError::FingerprintMismatch { .. }
    ));
}

#[test]
fn revoked_by_licence_key() {
    let token = sign_token(&license_claims());
    let entry = RevocationEntry::LicenseKey {
        id: "lk-acme-1".into(),
        revoked_at: LICENSE_IAT,
    };
    let list = revocations(json!([
        {"kind": "license_key", "id": "lk-acme-2", "revoked_at": NOW},
        {"kind": "license_key", "id": "lk-acme-1", "revoked_at": LICENSE_IAT}
    ]));
    let err = verify_with_list(&token, &list).unwrap_err();
    assert_eq!(err, LicenseError::Revoked(entry));
    assert_eq!(
        err.to_string(),
        format!("licence revoked: licence key `lk-acme-1` revoked at {LICENSE_IAT}")
    );
}

#[test]
fn revoked_by_device_and_fingerprint() {
    let token = sign_token(&license_claims());
    let list = revocations(json!([
        {"kind": "device", "id": "dev-1", "fingerprint": FINGERPRINT, "revoked_at": NOW}
    ]));
    let err = verify_with_list(&token, &list).unwrap_err();
    assert_eq!(
        err,
        LicenseError::Revoked(RevocationEntry::Device {
            id: "dev-1".into(),
            fingerprint: FINGERPRINT.into(),
            revoked_at: NOW,
        })
    );
    assert_eq!(
        err.to_string(),
        format!(
            "licence revoked: device `dev-1` with fingerprint `{FINGERPRINT}` revoked at {NOW}"
        )
    );

    // The same device id with another fingerprint, or another device: not revoked.
    let list = revocations(json!([
        {"kind": "device", "id": "dev-1", "fingerprint": "sha256:old", "revoked_at": NOW},
        {"kind": "device", "id": "dev-2", "fingerprint": FINGERPRINT, "revoked_at": NOW}
    ]));
    assert_eq!(verify_with_list(&token, &list).unwrap(), expected_claims());
}

#[test]
fn a_file_issued_after_the_revocation_is_not_revoked() {
    // The device was revoked, then activated again: the new file is good.
    let token = sign_token(&license_claims());
    let list = revocations(json!([
        {"kind": "device", "id": "dev-1", "fingerprint": FINGERPRINT, "revoked_at": LICENSE_IAT - 1},
        {"kind": "license_key", "id": "lk-acme-1", "revoked_at": LICENSE_IAT - 1}
    ]));
    assert_eq!(verify_with_list(&token, &list).unwrap(), expected_claims());
}

#[test]
fn another_tenants_list_revokes_nothing_and_is_refused() {
    let token = sign_token(&license_claims());
    let mut claims = revocation_claims(json!([
        {"kind": "license_key", "id": "lk-acme-1", "revoked_at": NOW}
    ]));
    claims["tenant"] = "globex".into();
    let list = verify_revocations(&sign_token(&claims), &keys(), NOW).unwrap();
    let licence = verify_at(&token, NOW).unwrap();
    assert_eq!(list.revoking_entry(&licence), None);
    let err = verify_with_list(&token, &list).unwrap_err();
    assert_eq!(
        err,
        LicenseError::RevocationsForOtherTenant {
            list: "globex".into(),
            license: "acme".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "revocation list is for tenant `globex`, the licence for tenant `acme`"
    );
}

#[test]
fn revocation_list_verifies_until_it_is_stale() {
    let claims = revocation_claims(json!([
        {"kind": "license_key", "id": "lk-acme-9", "revoked_at": 100}
    ]));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    let armoured = armor(ArmorKind::Revocations, &sign_token(&claims), &["acme"]);
    let list = verify_revocations(&armoured, &keys(), exp - 1).unwrap();
    assert_eq!(
        list,
        RevocationList {
            iss: "licet".into(),
            kind: "revocations".into(),
            tenant: "acme".into(),
            iat,
            exp,
            entries: vec![RevocationEntry::LicenseKey {
                id: "lk-acme-9".into(),
                revoked_at: 100
            }],
            extra: Map::new(),
        }
    );
    assert_eq!(serde_json::to_value(&list).unwrap(), claims);
    let err = verify_revocations(&armoured, &keys(), exp).unwrap_err();
    assert_eq!(err, LicenseError::StaleRevocations { exp, now: exp });
    assert_eq!(
        err.to_string(),
        format!("stale revocation list: expired at {exp} (now {exp}); fetch a fresh one")
    );
    let early = iat - CLOCK_TOLERANCE_SECONDS - 1;
    assert_eq!(
        verify_revocations(&armoured, &keys(), early).unwrap_err(),
        LicenseError::ClockRolledBack {
            now: early,
            latest_seen: iat
        }
    );
}

#[test]
fn unknown_revocation_kinds_invalidate_the_list() {
    let claims = revocation_claims(json!([
        {"kind": "entitlement", "id": "ent-acme-cad", "revoked_at": 100}
    ]));
    assert!(matches!(
        verify_revocations(&sign_token(&claims), &keys(), NOW).unwrap_err(),
        LicenseError::InvalidClaims { what: "revocation list", reason }
            if reason.starts_with("unknown variant `entitlement`")
    ));
}
