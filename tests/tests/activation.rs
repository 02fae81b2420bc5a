//! Activation end to end over HTTP, on SQLite and PostgreSQL: licence keys, the device limit,
//! licence files that verify with an independent client, refresh, offline activation,
//! revocation lists, device transfers with their history, and the per-key rate limit.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{ADMIN_TOKEN, AUDITOR_TOKEN, Backend, TestApp, device_request};
use serde_json::{Value, json};

async fn activate(app: &TestApp, key: &str, fingerprint: &str) -> common::Answer {
    app.post_json(
        "/v1/activations",
        &json!({ "license_key": key, "fingerprint": fingerprint, "name": "bench", "metadata": { "os": "linux" } }),
    )
    .await
}

/// The claims of a licence file, after verifying it against the server's JWKS with
/// licet-client, an implementation that shares no code with the server.
async fn verified_claims(app: &TestApp, token: &str) -> Value {
    let jwks = app.get("/.well-known/jwks.json").await;
    let jwks = licet_client::Jwks::from_json(&jwks.text).unwrap();
    let (_, claims) = licet_client::verify_jws(token, &jwks).unwrap();
    claims
}

async fn device_count(app: &TestApp) -> usize {
    let list = app
        .get_as(
            AUDITOR_TOKEN,
            "/v1/admin/tenants/acme/devices?entitlement=ent-two",
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().len()
}

async fn activation_to_the_limit(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, key_id) = app.new_license_key("ent-two").await;
    assert_eq!(key.len(), 29);

    let first = activate(&app, &key, "sha256:aaaa").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let device = first.body["device"]["id"].as_str().unwrap();
    assert_eq!(
        first.location,
        Some(format!("/v1/admin/tenants/acme/devices/{device}"))
    );
    let second = activate(&app, &key, "sha256:bbbb").await;
    assert_eq!(second.status, 201, "{}", second.text);

    // One over the limit: a clear code, nothing registered.
    let third = activate(&app, &key, "sha256:cccc").await;
    assert_eq!(third.status, 409, "{}", third.text);
    assert_eq!(third.body["code"], "DEVICE_LIMIT_REACHED");
    assert!(third.content_type.starts_with("application/problem+json"));
    assert_eq!(device_count(&app).await, 2);

    // The same fingerprint again is the same device, not a third seat.
    let again = activate(&app, &key, "sha256:aaaa").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.location, None);
    assert_eq!(again.body["device"]["id"], first.body["device"]["id"]);
    assert_eq!(device_count(&app).await, 2);

    // The file is a JWS over the entitlement's terms, bound to the fingerprint.
    let claims = verified_claims(&app, first.body["license"].as_str().unwrap()).await;
    assert_eq!(claims["kind"], "license");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["license_key"], key_id.as_str());
    assert_eq!(claims["fingerprint"], "sha256:aaaa");
    assert_eq!(claims["mode"], "online");
    assert_eq!(claims["entitlement"]["id"], "ent-two");
    assert_eq!(
        claims["entitlement"]["features"],
        json!(["cad.export", "cad.view"])
    );
    assert_eq!(claims["entitlement"]["environments"], json!(["prod"]));
    assert_eq!(claims["entitlement"]["min_version"], "2.0.0");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["checkin_by"].as_i64().unwrap() - iat, 72 * 3600);
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 30 * 86_400);
    // The armoured form carries the same token.
    let armored = first.body["armored"].as_str().unwrap();
    assert!(armored.starts_with("-----BEGIN LICET LICENSE-----\n"));
    let body: String = armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(body, first.body["license"].as_str().unwrap());

    // The activated device decides at once.
    let device = first.body["device"]["id"].as_str().unwrap();
    let decided = app
        .decide(&device_request(
            "acme",
            device,
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(decided.body["decision"], "allow", "{}", decided.text);
}

#[actix_web::test]
async fn activation_to_the_limit_on_sqlite() {
    activation_to_the_limit(Backend::Sqlite).await;
}

#[actix_web::test]
async fn activation_to_the_limit_on_postgres() {
    activation_to_the_limit(Backend::Postgres).await;
}

async fn keys_are_forgiving_and_refusals_name_every_reason(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let typed = format!(" {} ", key.to_lowercase().replace('-', " - "));
    let answer = activate(&app, &typed, "sha256:aaaa").await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let squashed = key.replace('-', "");
    assert_eq!(activate(&app, &squashed, "sha256:aaaa").await.status, 200);

    let malformed = activate(&app, "not-a-key", "sha256:aaaa").await;
    assert_eq!(
        (malformed.status, malformed.body["code"].as_str()),
        (422, Some("LICENSE_KEY_MALFORMED"))
    );
    let unknown = activate(&app, "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "sha256:aaaa").await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("LICENSE_KEY_UNKNOWN"))
    );

    // A key for a contract that ended long ago, revoked as well: both reasons at once.
    let (old_key, old_id) = app.new_license_key("ent-old").await;
    let revoked = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/license-keys/{old_id}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.body["status"], "revoked");
    let refused = activate(&app, &old_key, "sha256:dddd").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.body["code"], "ACTIVATION_REFUSED");
    assert_eq!(
        refused.body["reasons"],
        json!(["ENTITLEMENT_EXPIRED", "LICENSE_KEY_REVOKED"])
    );
    assert_eq!(device_count(&app).await, 1);

    // The key list never shows a key or its hash.
    let keys = app
        .get_as(AUDITOR_TOKEN, "/v1/admin/tenants/acme/license-keys")
        .await;
    assert_eq!(keys.body["items"].as_array().unwrap().len(), 2);
    assert!(
        !keys.text.contains(&key) && !keys.text.contains("hash"),
        "{}",
        keys.text
    );
}

#[actix_web::test]
async fn keys_are_forgiving_and_refusals_name_every_reason_on_sqlite() {
    keys_are_forgiving_and_refusals_name_every_reason(Backend::Sqlite).await;
}

#[actix_web::test]
async fn keys_are_forgiving_and_refusals_name_every_reason_on_postgres() {
    keys_are_forgiving_and_refusals_name_every_reason(Backend::Postgres).await;
}

async fn deactivation_refresh_and_revocation_list(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, key_id) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:aaaa").await;
    let device = first.body["device"]["id"].as_str().unwrap().to_string();

    let refreshed = app
        .post_json(
            "/v1/licenses/refresh",
            &json!({ "license_key": key, "fingerprint": "sha256:aaaa" }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let claims = verified_claims(&app, refreshed.body["license"].as_str().unwrap()).await;
    assert_eq!(claims["device"], device.as_str());

    let off = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/devices/{device}/deactivate"),
            &json!({ "reason": "machine retired", "ticket": "OPS-7" }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["status"], "inactive");
    // Decisions see it at once, and the file cannot be refreshed.
    let decided = app
        .decide(&device_request(
            "acme",
            &device,
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(decided.body["reasons"], json!(["DEVICE_INACTIVE"]));
    let refused = app
        .post_json(
            "/v1/licenses/refresh",
            &json!({ "license_key": key, "fingerprint": "sha256:aaaa" }),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["reasons"], json!(["DEVICE_INACTIVE"]));

    // The signed revocation list names the device and its fingerprint, then the key.
    let revoked = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/license-keys/{key_id}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200);
    let list = app.get("/v1/revocations?tenant=acme").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let claims = verified_claims(&app, list.body["token"].as_str().unwrap()).await;
    assert_eq!(claims["kind"], "revocations");
    assert_eq!(claims["tenant"], "acme");
    let entries = claims["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (
            &entries[0]["kind"],
            &entries[0]["id"],
            &entries[0]["fingerprint"]
        ),
        (&json!("device"), &json!(device), &json!("sha256:aaaa"))
    );
    assert_eq!(
        (&entries[1]["kind"], &entries[1]["id"]),
        (&json!("license_key"), &json!(key_id))
    );
    assert_eq!(
        app.get("/v1/revocations?tenant=globex").await.body["entries"],
        json!([])
    );
    assert_eq!(app.get("/v1/revocations?tenant=nobody").await.status, 404);

    // Audit events tell who did what and why.
    let events = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/events?tenant=acme")
        .await;
    let actions: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "license_key.create",
        "device.activate",
        "device.deactivate",
        "license_key.revoke",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}

#[actix_web::test]
async fn deactivation_refresh_and_revocation_list_on_sqlite() {
    deactivation_refresh_and_revocation_list(Backend::Sqlite).await;
}

#[actix_web::test]
async fn deactivation_refresh_and_revocation_list_on_postgres() {
    deactivation_refresh_and_revocation_list(Backend::Postgres).await;
}

async fn transfer_keeps_history_within_the_limit(backend: Backend) {
    let app = common::spawn_with(backend, |c| c.activation.transfers_per_period = 1);
    app.import_text(&common::activation_contract()).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:old").await;
    let device = first.body["device"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/admin/tenants/acme/devices/{device}");

    let moved = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{path}/replace"),
            &json!({ "fingerprint": "sha256:new", "reason": "mainboard swap" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(
        (
            moved.body["id"].as_str(),
            moved.body["fingerprint"].as_str()
        ),
        (Some(device.as_str()), Some("sha256:new"))
    );

    // The old machine can no longer refresh; the new one can, as the same device.
    let old = app
        .post_json(
            "/v1/licenses/refresh",
            &json!({ "license_key": key, "fingerprint": "sha256:old" }),
        )
        .await;
    assert_eq!(
        old.body["reasons"],
        json!(["DEVICE_NOT_ACTIVATED"]),
        "{}",
        old.text
    );
    let new = app
        .post_json(
            "/v1/licenses/refresh",
            &json!({ "license_key": key, "fingerprint": "sha256:new" }),
        )
        .await;
    assert_eq!(new.status, 200, "{}", new.text);
    assert_eq!(new.body["device"]["id"], device.as_str());

    // A second move within the period is refused and changes nothing.
    let again = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{path}/replace"),
            &json!({ "fingerprint": "sha256:third" }),
        )
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("TRANSFER_LIMIT_REACHED")),
        "{}",
        again.text
    );

    let seen = app.get_as(AUDITOR_TOKEN, &path).await;
    assert_eq!(seen.body["fingerprint"], "sha256:new");
    let history: Vec<(&str, &Value)> = seen.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), &e["detail"]))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].0, "activated");
    assert_eq!(history[1].0, "transferred");
    assert_eq!(history[1].1["from_fingerprint"], "sha256:old");
    assert_eq!(history[1].1["to_fingerprint"], "sha256:new");
    assert_eq!(history[1].1["reason"], "mainboard swap");

    // The old binding is on the revocation list.
    let list = app.get("/v1/revocations?tenant=acme").await;
    assert_eq!(list.body["entries"][0]["fingerprint"], "sha256:old");
}

#[actix_web::test]
async fn transfer_keeps_history_within_the_limit_on_sqlite() {
    transfer_keeps_history_within_the_limit(Backend::Sqlite).await;
}

#[actix_web::test]
async fn transfer_keeps_history_within_the_limit_on_postgres() {
    transfer_keeps_history_within_the_limit(Backend::Postgres).await;
}

/// An activation request as `licet-client request` writes it.
fn offline_request(key: &str, fingerprint: &str, nonce: &str) -> String {
    let json = json!({ "v": 1, "license_key": key, "fingerprint": fingerprint, "nonce": nonce, "name": "air-gapped", "created_at": "2026-12-03T18:00:00Z" });
    let body = URL_SAFE_NO_PAD.encode(json.to_string());
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN LICET ACTIVATION REQUEST-----\n{}\n-----END LICET ACTIVATION REQUEST-----\n",
        lines.join("\n")
    )
}

async fn offline_activation(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let nonce = "n0nce-of-the-request-0123456789";
    let answer = app
        .post_json(
            "/v1/activations/offline",
            &json!({ "request": offline_request(&key, "sha256:offline", nonce) }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let claims = verified_claims(&app, answer.body["license"].as_str().unwrap()).await;
    assert_eq!(
        (claims["mode"].as_str(), claims["nonce"].as_str()),
        (Some("offline"), Some(nonce))
    );
    assert_eq!(claims["fingerprint"], "sha256:offline");
    assert_eq!(claims["checkin_by"], claims["exp"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        90 * 86_400
    );

    let garbled = app
        .post_json("/v1/activations/offline", &json!({ "request": "-----BEGIN LICET ACTIVATION REQUEST-----\n!!!\n-----END LICET ACTIVATION REQUEST-----" }))
        .await;
    assert_eq!(
        (garbled.status, garbled.body["code"].as_str()),
        (422, Some("ACTIVATION_REQUEST_INVALID"))
    );
}

#[actix_web::test]
async fn offline_activation_on_sqlite() {
    offline_activation(Backend::Sqlite).await;
}

#[actix_web::test]
async fn offline_activation_on_postgres() {
    offline_activation(Backend::Postgres).await;
}

async fn attempts_per_key_are_limited(backend: Backend) {
    let app = common::spawn_with(backend, |c| {
        c.activation.attempts_burst = 3;
        c.activation.attempts_per_minute = 1;
    });
    app.import_text(&common::activation_contract()).await;
    let (key, _) = app.new_license_key("ent-two").await;
    for _ in 0..3 {
        assert_eq!(activate(&app, &key, "sha256:aaaa").await.status / 100, 2);
    }
    let limited = activate(&app, &key, "sha256:aaaa").await;
    assert_eq!(
        (limited.status, limited.body["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{}",
        limited.text
    );
    let retry = limited.body["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The same key typed another way is the same key; another key is not limited.
    let refresh = app
        .post_json(
            "/v1/licenses/refresh",
            &json!({ "license_key": key.to_lowercase(), "fingerprint": "sha256:aaaa" }),
        )
        .await;
    assert_eq!(refresh.status, 429);
    let (other, _) = app.new_license_key("ent-two").await;
    assert_eq!(activate(&app, &other, "sha256:bbbb").await.status, 201);

    // Operators see the outcomes.
    let metrics = app.get("/metrics").await.text;
    for line in [
        r#"licet_activations_total{kind="online",outcome="issued"} 4"#,
        r#"licet_activations_total{kind="online",outcome="RATE_LIMITED"} 1"#,
        r#"licet_activations_total{kind="refresh",outcome="RATE_LIMITED"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "`{line}` missing");
    }
}

#[actix_web::test]
async fn attempts_per_key_are_limited_on_sqlite() {
    attempts_per_key_are_limited(Backend::Sqlite).await;
}

#[actix_web::test]
async fn attempts_per_key_are_limited_on_postgres() {
    attempts_per_key_are_limited(Backend::Postgres).await;
}

async fn admin_routes_check_role_and_tenant(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let body = json!({ "entitlement": "ent-two" });
    let path = "/v1/admin/tenants/acme/license-keys";
    assert_eq!(app.post_as(AUDITOR_TOKEN, path, &body).await.status, 403);
    assert_eq!(app.post_json(path, &body).await.status, 401);
    let other = app
        .post_as(
            common::ACME_ADMIN_TOKEN,
            "/v1/admin/tenants/globex/license-keys",
            &body,
        )
        .await;
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let missing = app
        .post_as(ADMIN_TOKEN, path, &json!({ "entitlement": "nope" }))
        .await;
    assert_eq!(
        (missing.status, missing.body["code"].as_str()),
        (404, Some("ENTITLEMENT_NOT_FOUND")),
        "{}",
        missing.text
    );
    let gone = app
        .get_as(AUDITOR_TOKEN, "/v1/admin/tenants/acme/devices/nope")
        .await;
    assert_eq!(
        (gone.status, gone.body["code"].as_str()),
        (404, Some("DEVICE_NOT_FOUND"))
    );
    for list in ["devices", "license-keys"] {
        let unknown = app
            .get_as(AUDITOR_TOKEN, &format!("/v1/admin/tenants/nobody/{list}"))
            .await;
        assert_eq!(
            (unknown.status, unknown.body["code"].as_str()),
            (404, Some("TENANT_NOT_FOUND")),
            "{list}"
        );
    }

    // Every route under an unknown tenant names the tenant, not the record it looked for.
    let nobody = "/v1/admin/tenants/nobody";
    let writes = [
        (format!("{nobody}/license-keys"), body.clone()),
        (format!("{nobody}/license-keys/lk-1/revoke"), json!({})),
        (format!("{nobody}/devices/dev-1/deactivate"), json!({})),
        (format!("{nobody}/devices/dev-1/revoke"), json!({})),
        (
            format!("{nobody}/devices/dev-1/replace"),
            json!({ "fingerprint": "sha256:ffff" }),
        ),
    ];
    for (path, body) in writes {
        let unknown = app.post_as(ADMIN_TOKEN, &path, &body).await;
        assert_eq!(
            (unknown.status, unknown.body["code"].as_str()),
            (404, Some("TENANT_NOT_FOUND")),
            "{path}: {}",
            unknown.text
        );
        assert_eq!(unknown.body["detail"], "no tenant `nobody`", "{path}");
    }
    let unknown = app
        .get_as(AUDITOR_TOKEN, &format!("{nobody}/devices/dev-1"))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("TENANT_NOT_FOUND"))
    );
}

#[actix_web::test]
async fn admin_routes_check_role_and_tenant_on_sqlite() {
    admin_routes_check_role_and_tenant(Backend::Sqlite).await;
}

#[actix_web::test]
async fn admin_routes_check_role_and_tenant_on_postgres() {
    admin_routes_check_role_and_tenant(Backend::Postgres).await;
}

/// The `Location` of a new licence key and of a new device answers GET with what was made: the
/// key as its list shows it (its hint, never the key), the device with its history. Unknown
/// keys and tenants are 404s naming them, and a token of another tenant is refused.
async fn created_keys_and_devices_are_read_at_their_location(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let made = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/tenants/acme/license-keys",
            &json!({ "entitlement": "ent-two" }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_string();
    let location = made.location.clone().unwrap();
    assert_eq!(
        location,
        format!("/v1/admin/tenants/acme/license-keys/{id}")
    );
    let key = made.body["key"].as_str().unwrap().to_string();

    let read = app.get_as(AUDITOR_TOKEN, &location).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["tenant"], "acme");
    assert_eq!(read.body["entitlement"], "ent-two");
    assert_eq!(read.body["status"], "active");
    assert_eq!(read.body["hint"], made.body["hint"]);
    assert_eq!(read.body["created_at"], made.body["created_at"]);
    assert!(read.body.get("key").is_none(), "{}", read.text);
    assert!(!read.text.contains(&key), "the key itself was shown again");
    let list = app
        .get_as(AUDITOR_TOKEN, "/v1/admin/tenants/acme/license-keys")
        .await;
    assert_eq!(list.body["items"], json!([read.body.clone()]));
    let own = app.get_as(common::ACME_AUDITOR_TOKEN, &location).await;
    assert_eq!((own.status, &own.body), (200, &read.body));

    let revoked = app
        .post_as(ADMIN_TOKEN, &format!("{location}/revoke"), &json!({}))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let read = app.get_as(AUDITOR_TOKEN, &location).await;
    assert_eq!(read.body["status"], "revoked");
    assert_eq!(read.body["revoked_at"], revoked.body["revoked_at"]);

    let (key, _) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:aaaa").await;
    assert_eq!(first.status, 201, "{}", first.text);
    let device = app
        .get_as(AUDITOR_TOKEN, first.location.as_deref().unwrap())
        .await;
    assert_eq!(device.status, 200, "{}", device.text);
    assert_eq!(device.body["id"], first.body["device"]["id"]);
    assert_eq!(device.body["fingerprint"], "sha256:aaaa");
    assert_eq!(device.body["status"], "active");

    for (path, code) in [
        (
            "/v1/admin/tenants/acme/license-keys/lk-nope",
            "LICENSE_KEY_NOT_FOUND",
        ),
        (
            "/v1/admin/tenants/nobody/license-keys/lk-nope",
            "TENANT_NOT_FOUND",
        ),
        (
            "/v1/admin/tenants/nobody/license-keys/lk-1",
            "TENANT_NOT_FOUND",
        ),
    ] {
        let missing = app.get_as(AUDITOR_TOKEN, path).await;
        assert_eq!(
            (missing.status, missing.body["code"].as_str()),
            (404, Some(code)),
            "{path}: {}",
            missing.text
        );
    }
    let nobody = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/admin/tenants/nobody/license-keys/{id}"),
        )
        .await;
    assert_eq!(nobody.body["detail"], "no tenant `nobody`");
    let other = app
        .get_as(
            common::ACME_AUDITOR_TOKEN,
            &format!("/v1/admin/tenants/globex/license-keys/{id}"),
        )
        .await;
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert_eq!(app.get(&location).await.status, 401);
    let query = app
        .get_as(AUDITOR_TOKEN, &format!("{location}?entitlement=ent-two"))
        .await;
    assert_eq!(
        (query.status, query.body["code"].as_str()),
        (400, Some("INVALID_QUERY")),
        "{}",
        query.text
    );
}

#[actix_web::test]
async fn created_keys_and_devices_are_read_at_their_location_on_sqlite() {
    created_keys_and_devices_are_read_at_their_location(Backend::Sqlite).await;
}

#[actix_web::test]
async fn created_keys_and_devices_are_read_at_their_location_on_postgres() {
    created_keys_and_devices_are_read_at_their_location(Backend::Postgres).await;
}

/// The licence-file routes refuse a body as the OpenAPI document says: 400, 413, 415 and 422.
#[actix_web::test]
async fn licence_file_routes_refuse_bodies_they_cannot_read() {
    let app = common::spawn_with_contract(Backend::Sqlite).await;
    let huge = format!("{{\"license_key\": \"{}\"}}", "A".repeat(70_000));
    for route in [
        "/v1/activations",
        "/v1/activations/offline",
        "/v1/licenses/refresh",
    ] {
        let cases = [
            (
                app.post_raw(route, "application/json", "{\"license_key\": ".into())
                    .await,
                400,
                "MALFORMED_JSON",
            ),
            (
                app.post_raw(route, "application/json", huge.clone()).await,
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                app.post_raw(route, "text/plain", "{}".into()).await,
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                app.post_raw(route, "application/json", "[]".into()).await,
                422,
                "INVALID_REQUEST",
            ),
        ];
        for (answer, status, code) in cases {
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (status, Some(code)),
                "{route}: {}",
                answer.text
            );
            assert_eq!(answer.content_type, "application/problem+json");
        }
    }
}

/// The whole offline path with licet-client: request, upload, install; then the installed
/// file refused once expired, once revoked, and when the clock went back.
async fn offline_round_trip_with_licet_client(backend: Backend) {
    use licet_client::{
        ActivationRequest, CheckError, LicenseCheck, LicenseError, LicenseKey, StateDir,
        TrustedKeys,
    };
    let app = common::spawn_with_contract(backend).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let jwks = app.get("/.well-known/jwks.json").await;
    let keys = TrustedKeys::from(licet_client::Jwks::from_json(&jwks.text).unwrap());
    let client_dir = tempfile::tempdir().unwrap();
    let machine = StateDir::open(client_dir.path().join("state")).unwrap();

    let request = ActivationRequest::new(LicenseKey::new(&key), "sha256:machine-a", "lab").unwrap();
    machine.save_pending_request(&request).unwrap();

    // A response made for another machine with the same nonce is refused by its fingerprint.
    let forged = offline_request(&key, "sha256:machine-b", &request.nonce);
    let other = app
        .post_json("/v1/activations/offline", &json!({ "request": forged }))
        .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let now = chrono::Utc::now().timestamp();
    let refused = machine
        .install(other.body["armored"].as_str().unwrap(), &keys, now)
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CheckError::License(LicenseError::FingerprintMismatch { .. })
        ),
        "{refused:?}"
    );

    let answer = app
        .post_json(
            "/v1/activations/offline",
            &json!({ "request": request.to_armored() }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let armored = answer.body["armored"].as_str().unwrap();
    let claims = machine.install(armored, &keys, now).unwrap();
    assert_eq!(claims.fingerprint, "sha256:machine-a");
    let installed = std::fs::read_to_string(machine.license_path()).unwrap();
    let fingerprint = Some("sha256:machine-a");
    let check = |now| LicenseCheck {
        now,
        fingerprint,
        revocations: None,
    };
    machine
        .verify_license(&installed, &keys, &check(now))
        .unwrap();

    // Expired: the file's own end.
    let expired = licet_client::verify_license(&installed, &keys, &check(claims.exp + 1));
    assert!(
        matches!(expired, Err(LicenseError::Expired { .. })),
        "{expired:?}"
    );

    // The clock went back an hour past what this machine has already seen.
    let rolled = machine.verify_license(&installed, &keys, &check(now - 3600));
    assert!(
        matches!(
            rolled,
            Err(CheckError::License(LicenseError::ClockRolledBack { .. }))
        ),
        "{rolled:?}"
    );

    // Revoked: the device is deactivated and the signed list says so.
    let device = answer.body["device"]["id"].as_str().unwrap();
    let off = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/devices/{device}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    let list = app.get("/v1/revocations?tenant=acme").await;
    let list = licet_client::verify_revocations(list.body["armored"].as_str().unwrap(), &keys, now)
        .unwrap();
    let revoked = licet_client::verify_license(
        &installed,
        &keys,
        &LicenseCheck {
            now,
            fingerprint,
            revocations: Some(&list),
        },
    );
    assert!(
        matches!(revoked, Err(LicenseError::Revoked(_))),
        "{revoked:?}"
    );
}

#[actix_web::test]
async fn offline_round_trip_with_licet_client_on_sqlite() {
    offline_round_trip_with_licet_client(Backend::Sqlite).await;
}

#[actix_web::test]
async fn offline_round_trip_with_licet_client_on_postgres() {
    offline_round_trip_with_licet_client(Backend::Postgres).await;
}

/// The revocation list follows every way a device leaves service, and forgets a machine that
/// is back in service.
async fn revocations_follow_imports_reactivations_and_key_revocations(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, key_id) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:aaaa").await;
    let device = first.body["device"]["id"].as_str().unwrap().to_string();
    let entries = |list: &common::Answer| -> Vec<(String, String)> {
        list.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // Deactivated, then activated again at once: while inactive it is listed, once back it
    // is not, so the file it just received is not refused for being issued in the same second.
    let off = format!("/v1/admin/tenants/acme/devices/{device}/deactivate");
    assert_eq!(app.post_as(ADMIN_TOKEN, &off, &json!({})).await.status, 200);
    let listed = app.get("/v1/revocations?tenant=acme").await;
    assert_eq!(entries(&listed), [("device".to_string(), device.clone())]);
    assert_eq!(activate(&app, &key, "sha256:aaaa").await.status, 201);
    assert_eq!(entries(&app.get("/v1/revocations?tenant=acme").await), []);

    // An import that revokes a device lists it too, as does a device imported as revoked.
    app.import_text(&format!(
        "tenants:\n  - id: acme\n    name: Acme Engineering\n    devices:\n      - {{ id: {device}, fingerprint: \"sha256:aaaa\", name: bench, entitlement: ent-two, status: revoked }}\n      - {{ id: d-stolen, fingerprint: \"sha256:5701e\", name: Stolen laptop, status: revoked }}\n"
    ))
    .await;
    let listed = entries(&app.get("/v1/revocations?tenant=acme").await);
    assert!(
        listed.contains(&("device".to_string(), device.clone())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("device".to_string(), "d-stolen".to_string())),
        "{listed:?}"
    );

    // Revoking a key takes the machines it activated out of service at once.
    let second = activate(&app, &key, "sha256:bbbb").await;
    assert_eq!(second.status, 201, "{}", second.text);
    let other = second.body["device"]["id"].as_str().unwrap().to_string();
    let request = device_request("acme", &other, "cad.view", "2.4.1", "prod");
    assert_eq!(app.decide(&request).await.body["decision"], "allow");
    let revoked = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/license-keys/{key_id}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(
        app.decide(&request).await.body["reasons"],
        json!(["DEVICE_INACTIVE"])
    );
    let seen = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/admin/tenants/acme/devices/{other}"),
        )
        .await;
    assert_eq!(seen.body["status"], "inactive");
    assert_eq!(
        seen.body["history"][1]["detail"]["reason"],
        "licence key revoked"
    );
}

/// A device deactivated, activated again and then moved has revoked its first fingerprint twice;
/// the list names that fingerprint once, with the time of the move, which also covers every
/// file the earlier deactivation revoked.
async fn a_fingerprint_revoked_twice_is_listed_once(backend: Backend) {
    let app = common::spawn_with_contract(backend).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:aaaa").await;
    let device = first.body["device"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/admin/tenants/acme/devices/{device}");
    let off = app
        .post_as(ADMIN_TOKEN, &format!("{path}/deactivate"), &json!({}))
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(activate(&app, &key, "sha256:aaaa").await.status, 201);
    let moved = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{path}/replace"),
            &json!({ "fingerprint": "sha256:bbbb" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);

    let seen = app.get_as(AUDITOR_TOKEN, &path).await;
    let moved_at = seen.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "transferred")
        .and_then(|e| e["at"].as_str())
        .map(|at| {
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .timestamp()
        })
        .expect("a `transferred` event");
    let list = app.get("/v1/revocations?tenant=acme").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let listed: Vec<(&str, &str, i64)> = list.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap(),
                e["fingerprint"].as_str().unwrap(),
                e["revoked_at"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(device.as_str(), "sha256:aaaa", moved_at)]);
    let claims = verified_claims(&app, list.body["token"].as_str().unwrap()).await;
    assert_eq!(claims["entries"], list.body["entries"]);
}

#[actix_web::test]
async fn a_fingerprint_revoked_twice_is_listed_once_on_sqlite() {
    a_fingerprint_revoked_twice_is_listed_once(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_fingerprint_revoked_twice_is_listed_once_on_postgres() {
    a_fingerprint_revoked_twice_is_listed_once(Backend::Postgres).await;
}

#[actix_web::test]
async fn revocations_follow_imports_reactivations_and_key_revocations_on_sqlite() {
    revocations_follow_imports_reactivations_and_key_revocations(Backend::Sqlite).await;
}

#[actix_web::test]
async fn revocations_follow_imports_reactivations_and_key_revocations_on_postgres() {
    revocations_follow_imports_reactivations_and_key_revocations(Backend::Postgres).await;
}

#[actix_web::test]
async fn names_with_control_characters_and_unknown_statuses_are_refused() {
    let app = common::spawn_with_contract(Backend::Sqlite).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let answer = app
        .post_json(
            "/v1/activations",
            &json!({ "license_key": key, "fingerprint": "sha256:aaaa", "name": "a\tb\nc" }),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (422, Some("INVALID_REQUEST"))
    );
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("control characters")
    );
    let listed = app
        .get_as(AUDITOR_TOKEN, "/v1/admin/tenants/acme/devices?status=weird")
        .await;
    assert_eq!(
        (listed.status, listed.body["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
}

#[actix_web::test]
async fn an_activation_request_lists_every_bad_field() {
    let app = common::spawn_with_contract(Backend::Sqlite).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let answer = app
        .post_json(
            "/v1/activations",
            &json!({ "license_key": key, "fingerprint": "has spaces", "name": "   " }),
        )
        .await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (422, Some("INVALID_REQUEST")),
        "{}",
        answer.text
    );
    assert_eq!(
        answer.body["errors"],
        json!([
            "`fingerprint` must be 1 to 256 printable ASCII characters without spaces",
            "`name` must be 1 to 200 characters when given",
        ])
    );
    assert_eq!(
        answer.body["detail"],
        "`fingerprint` must be 1 to 256 printable ASCII characters without spaces; \
         `name` must be 1 to 200 characters when given"
    );
}

#[actix_web::test]
async fn nul_characters_are_refused_before_they_reach_postgres() {
    let app = common::spawn_with_contract(Backend::Postgres).await;
    let (key, _) = app.new_license_key("ent-two").await;
    let first = activate(&app, &key, "sha256:aaaa").await;
    let device = first.body["device"]["id"].as_str().unwrap().to_string();
    let off = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/tenants/acme/devices/{device}/deactivate"),
            &json!({ "reason": "a\u{0}b" }),
        )
        .await;
    assert_eq!(
        (off.status, off.body["code"].as_str()),
        (422, Some("INVALID_REQUEST")),
        "{}",
        off.text
    );
    let tenant = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/tenants",
            &json!({ "id": "t1", "name": "x\u{0}y" }),
        )
        .await;
    assert_eq!(tenant.status, 422, "{}", tenant.text);
    for path in [
        "/v1/revocations?tenant=ac%00me",
        "/v1/admin/tenants/ac%00me/devices",
    ] {
        let answer = app.get_as(AUDITOR_TOKEN, path).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{path}"
        );
    }
    // Nothing was written: the device is still active.
    let seen = app
        .get_as(
            AUDITOR_TOKEN,
            &format!("/v1/admin/tenants/acme/devices/{device}"),
        )
        .await;
    assert_eq!(seen.body["status"], "active");
}
