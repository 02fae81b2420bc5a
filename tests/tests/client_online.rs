//! licet-client's online activation and refresh against the real server, on SQLite and
//! PostgreSQL: the licence file lands in the state directory, a refresh replaces it, and the
//! server's refusals (a deactivated device, the device limit) reach the application as
//! `OnlineError::Refused` with their codes while the stored file stays as it was.

mod common;

use common::{ADMIN_TOKEN, Backend, TestApp};
use licet_client::{
    Jwks, LicenseClaims, LicenseKey, OnlineError, StateDir, TrustedKeys, verify_license,
};
use serde_json::json;

/// A running server with the contract, its keys as the client loads them, and a fresh
/// licence key for the two-seat entitlement with its public id.
struct Setup {
    app: TestApp,
    keys: TrustedKeys,
    key: LicenseKey,
    key_id: String,
}

async fn setup(backend: Backend) -> Setup {
    let app = common::spawn_with_contract(backend).await;
    let jwks = app.get("/.well-known/jwks.json").await;
    let keys = TrustedKeys::from(Jwks::from_json(&jwks.text).unwrap());
    let (key, key_id) = app.new_license_key("ent-two").await;
    Setup {
        key: LicenseKey::new(&key),
        key_id,
        keys,
        app,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A state directory of its own for one machine.
fn machine() -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path().join("licet")).unwrap();
    (dir, state)
}

impl Setup {
    /// `licet_client::activate` off the async runtime (it blocks).
    async fn activate(
        &self,
        fingerprint: &str,
        state: &StateDir,
    ) -> Result<LicenseClaims, OnlineError> {
        let (server, key, keys, state) = (
            self.app.base.clone(),
            self.key.clone(),
            self.keys.clone(),
            state.clone(),
        );
        let fingerprint = fingerprint.to_string();
        actix_web::rt::task::spawn_blocking(move || {
            licet_client::activate(
                &server,
                &key,
                &fingerprint,
                "bench",
                Some(json!({ "os": "linux" })),
                &state,
                &keys,
                now(),
            )
        })
        .await
        .unwrap()
    }

    /// `licet_client::refresh` off the async runtime.
    async fn refresh(
        &self,
        fingerprint: &str,
        state: &StateDir,
    ) -> Result<LicenseClaims, OnlineError> {
        let (server, key, keys, state) = (
            self.app.base.clone(),
            self.key.clone(),
            self.keys.clone(),
            state.clone(),
        );
        let fingerprint = fingerprint.to_string();
        actix_web::rt::task::spawn_blocking(move || {
            licet_client::refresh(&server, &key, &fingerprint, &state, &keys, now())
        })
        .await
        .unwrap()
    }

    /// The claims of the licence file stored in `state`, verified as an application would.
    fn stored_claims(&self, state: &StateDir, fingerprint: &str) -> LicenseClaims {
        let text = std::fs::read_to_string(state.license_path()).unwrap();
        let check = licet_client::LicenseCheck {
            fingerprint: Some(fingerprint),
            ..licet_client::LicenseCheck::at(now())
        };
        verify_license(&text, &self.keys, &check).unwrap()
    }
}

async fn activate_stores_the_licence_and_refresh_replaces_it(backend: Backend) {
    let setup = setup(backend).await;
    let (_dir, state) = machine();
    assert!(!state.license_path().exists());

    let activated = setup.activate("sha256:aaaa", &state).await.unwrap();
    assert_eq!(activated.fingerprint, "sha256:aaaa");
    assert_eq!(activated.tenant, "acme");
    assert_eq!(activated.license_key, setup.key_id);
    assert_eq!(activated.entitlement.id, "ent-two");
    assert_eq!(activated.mode, licet_client::LicenseMode::Online);
    assert_eq!(setup.stored_claims(&state, "sha256:aaaa"), activated);
    assert!(state.high_water_mark().unwrap().unwrap() >= activated.iat);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(state.license_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let refreshed = setup.refresh("sha256:aaaa", &state).await.unwrap();
    assert_ne!(refreshed.jti, activated.jti);
    assert!(refreshed.iat >= activated.iat);
    assert_eq!(refreshed.device, activated.device);
    assert_eq!(setup.stored_claims(&state, "sha256:aaaa"), refreshed);
}

#[actix_web::test]
async fn activate_stores_the_licence_and_refresh_replaces_it_on_sqlite() {
    activate_stores_the_licence_and_refresh_replaces_it(Backend::Sqlite).await;
}

#[actix_web::test]
async fn activate_stores_the_licence_and_refresh_replaces_it_on_postgres() {
    activate_stores_the_licence_and_refresh_replaces_it(Backend::Postgres).await;
}

async fn a_deactivated_device_is_refused_and_keeps_its_file(backend: Backend) {
    let setup = setup(backend).await;
    let (_dir, state) = machine();
    let activated = setup.activate("sha256:aaaa", &state).await.unwrap();
    let before = std::fs::read_to_string(state.license_path()).unwrap();

    let off = setup
        .app
        .post_as(
            ADMIN_TOKEN,
            &format!(
                "/v1/admin/tenants/acme/devices/{}/deactivate",
                activated.device
            ),
            &json!({ "reason": "machine retired" }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);

    let err = setup.refresh("sha256:aaaa", &state).await.unwrap_err();
    let OnlineError::Refused {
        status,
        code,
        reasons,
        retry_after,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*status, code.as_str()), (403, "ACTIVATION_REFUSED"));
    assert_eq!(reasons, &["DEVICE_INACTIVE"]);
    assert_eq!(*retry_after, None);
    let message = err.to_string();
    assert!(
        message.starts_with("the server refused: `ACTIVATION_REFUSED` (status 403): "),
        "{message}"
    );
    assert!(
        message.ends_with("; reasons: `DEVICE_INACTIVE`"),
        "{message}"
    );
    assert!(!message.contains(setup.key.expose()), "{message}");
    assert_eq!(
        std::fs::read_to_string(state.license_path()).unwrap(),
        before
    );
}

#[actix_web::test]
async fn a_deactivated_device_is_refused_and_keeps_its_file_on_sqlite() {
    a_deactivated_device_is_refused_and_keeps_its_file(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_deactivated_device_is_refused_and_keeps_its_file_on_postgres() {
    a_deactivated_device_is_refused_and_keeps_its_file(Backend::Postgres).await;
}

async fn a_third_machine_is_over_the_device_limit(backend: Backend) {
    let setup = setup(backend).await;
    let (_one, first) = machine();
    let (_two, second) = machine();
    let (_three, third) = machine();
    setup.activate("sha256:aaaa", &first).await.unwrap();
    setup.activate("sha256:bbbb", &second).await.unwrap();

    let err = setup.activate("sha256:cccc", &third).await.unwrap_err();
    assert!(
        matches!(&err, OnlineError::Refused { status: 409, code, .. }
            if code == "DEVICE_LIMIT_REACHED"),
        "{err:?}"
    );
    assert!(!third.license_path().exists());

    // The same machine again is the same device, not a third seat.
    let again = setup.activate("sha256:aaaa", &first).await.unwrap();
    assert_eq!(again.fingerprint, "sha256:aaaa");
}

#[actix_web::test]
async fn a_third_machine_is_over_the_device_limit_on_sqlite() {
    a_third_machine_is_over_the_device_limit(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_third_machine_is_over_the_device_limit_on_postgres() {
    a_third_machine_is_over_the_device_limit(Backend::Postgres).await;
}

/// No database is involved before the connection, so one backend is enough.
#[actix_web::test]
async fn a_server_that_is_not_listening_is_unreachable() {
    let setup = setup(Backend::Sqlite).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_dir, state) = machine();
    let (key, keys, state_dir) = (setup.key.clone(), setup.keys.clone(), state.clone());
    let server = format!("http://127.0.0.1:{port}");
    let result = actix_web::rt::task::spawn_blocking(move || {
        licet_client::refresh(&server, &key, "sha256:aaaa", &state_dir, &keys, now())
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(&err, OnlineError::Unreachable { url, .. }
            if *url == format!("http://127.0.0.1:{port}/v1/licenses/refresh")),
        "{err:?}"
    );
    assert!(!state.license_path().exists());
}
