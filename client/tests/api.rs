//! Exercises the public library API as a dependent crate would: key rotation
//! with two keys in one JWKS, and a token whose `kid` names the wrong key.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use licet_client::{
    Decision, DecisionClaims, Header, Jwks, Principal, Resource, VerifyError, VerifyOptions,
    verify_decision, verify_decision_with_options, verify_jws,
};
use rsa::PrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};

const IAT: i64 = 1_767_225_600;
const EXP: i64 = IAT + 120;

/// Two keys, generated once for this test binary: the current and the next
/// signing key during a rotation.
fn keys() -> &'static [PrivateKey; 2] {
    static KEYS: OnceLock<[PrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap(),
            PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap(),
        ]
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwk(kid: &str, key: &PrivateKey) -> Value {
    let public = key.as_public_key();
    json!({
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64(&public.n().to_be_bytes_trimmed_vartime()),
        "e": b64(&public.e().to_be_bytes_trimmed_vartime()),
    })
}

fn jwks() -> Jwks {
    let [old, new] = keys();
    let json = json!({"keys": [jwk("2026-01", old), jwk("2026-02", new)]});
    Jwks::from_json(&json.to_string()).unwrap()
}

/// Signs `claims` with `key`, labelling the token with `kid`.
fn sign(kid: &str, key: &PrivateKey, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.pkcs1v15_sign::<sha2::Sha256>(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

fn claims() -> Value {
    json!({
        "iss": "licet",
        "tenant": "globex",
        "principal": {"type": "User", "id": "u-19"},
        "action": "use",
        "resource": {"type": "Feature", "id": "render.4k"},
        "decision": "allow",
        "reasons": [],
        "advice": [],
        "policy_version": "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
        "request_id": "8e1f0a4c-7d2b-4c3a-9e5f-6a7b8c9d0e1f",
        "iat": IAT,
        "exp": EXP
    })
}

#[test]
fn both_keys_of_a_rotation_verify() {
    let [old, new] = keys();
    let jwks = jwks();
    assert_eq!(jwks.kids().collect::<Vec<_>>(), ["2026-01", "2026-02"]);
    let expected = DecisionClaims {
        iss: "licet".into(),
        tenant: "globex".into(),
        principal: Principal {
            kind: "User".into(),
            id: "u-19".into(),
        },
        action: "use".into(),
        resource: Resource {
            kind: "Feature".into(),
            id: "render.4k".into(),
        },
        decision: Decision::Allow,
        reasons: vec![],
        advice: vec![],
        policy_version: "sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
            .into(),
        request_id: "8e1f0a4c-7d2b-4c3a-9e5f-6a7b8c9d0e1f".into(),
        iat: IAT,
        exp: EXP,
        nonce: None,
        extra: Map::new(),
    };
    for (kid, key) in [("2026-01", old), ("2026-02", new)] {
        let token = sign(kid, key, &claims());
        assert_eq!(verify_decision(&token, &jwks, IAT).unwrap(), expected);
    }
}

#[test]
fn token_labelled_with_the_other_kid_is_a_bad_signature() {
    let [old, _] = keys();
    let token = sign("2026-02", old, &claims());
    assert_eq!(
        verify_decision(&token, &jwks(), IAT).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn re_signed_tampered_claims_with_a_foreign_key_fail() {
    // An attacker edits the decision and signs with their own key, reusing a known kid.
    let attacker = &keys()[1];
    let only_old =
        Jwks::from_json(&json!({"keys": [jwk("2026-01", &keys()[0])]}).to_string()).unwrap();
    let mut forged = claims();
    forged["decision"] = json!("allow");
    forged["exp"] = json!(i64::MAX);
    let token = sign("2026-01", attacker, &forged);
    assert_eq!(
        verify_decision(&token, &only_old, IAT).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn verify_jws_serves_other_token_kinds() {
    let [_, new] = keys();
    let licence = json!({"iss": "licet", "kind": "licence", "seats": 5});
    let token = sign("2026-02", new, &licence);
    let (header, payload) = verify_jws(&token, &jwks()).unwrap();
    assert_eq!(
        header,
        Header {
            alg: "RS256".into(),
            typ: Some("JWT".into()),
            kid: "2026-02".into(),
        }
    );
    assert_eq!(payload, licence);
    // Not a decision: its `kind` claim says so.
    assert_eq!(
        verify_decision(&token, &jwks(), IAT).unwrap_err(),
        VerifyError::WrongKind("licence".into())
    );
}

#[test]
fn leeway_via_options() {
    let [old, _] = keys();
    let token = sign("2026-01", old, &claims());
    let options = VerifyOptions { leeway_seconds: 30 };
    assert!(verify_decision_with_options(&token, &jwks(), EXP + 29, options).is_ok());
    assert_eq!(
        verify_decision_with_options(&token, &jwks(), EXP + 30, options).unwrap_err(),
        VerifyError::Expired {
            exp: EXP,
            now: EXP + 30
        }
    );
}
