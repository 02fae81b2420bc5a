//! Starting the real application on port 0 against a fresh SQLite file or a fresh PostgreSQL
//! database, and talking to it over HTTP.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Once;

use actix_web::web;
use diesel::{Connection, RunQueryDsl};
use licet::config::Config;
use licet::startup::{Application, build_state};
use licet::state::AppState;
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running application and what it needs to live.
pub struct TestApp {
    pub base: String,
    pub state: web::Data<AppState>,
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

/// The server that PostgreSQL tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("LICET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Creates an empty database on the test server and returns its URL.
pub fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("licet_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
        panic!("PostgreSQL is needed at `{admin}` (set LICET_TEST_POSTGRES_URL): {e}")
    });
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .unwrap();
    let (path, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), None), |(p, q)| (p, Some(q)));
    let (base, _) = path.rsplit_once('/').unwrap();
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A configuration for a test: its own data folder and database, a free port.
pub fn test_config(backend: Backend, dir: &tempfile::TempDir) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.server.workers = 2;
    config.server.data_dir = dir.path().to_path_buf();
    config.server.shutdown_timeout_seconds = 1;
    config.database.url = Some(match backend {
        Backend::Sqlite => format!("sqlite://{}/licet.db", dir.path().display()),
        Backend::Postgres => fresh_postgres_database(),
    });
    config.database.pool_size = 4;
    config.access.tokens = test_tokens();
    config
}

static KEY_ONCE: Once = Once::new();

/// One signing key for every test of a binary: key generation is slow in debug builds.
fn shared_key(dir: &tempfile::TempDir) {
    let cache = std::env::temp_dir().join("licet-test-signing-key.pem");
    KEY_ONCE.call_once(|| {
        if !cache.exists() {
            let scratch = tempfile::tempdir().unwrap();
            let path = scratch.path().join("k.pem");
            licet::signing::LocalSigner::load_or_create(&path, 2048).unwrap();
            std::fs::copy(&path, &cache).unwrap();
        }
    });
    let target = dir.path().join("signing-key.pem");
    std::fs::copy(&cache, &target).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// Starts the application with `adjust` applied to the test configuration.
pub fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(backend, &dir);
    adjust(&mut config);
    shared_key(&dir);
    let database_url = config.database_url();
    let state = web::Data::new(build_state(config).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::serve(state.clone(), listener).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        state,
        dir,
        database_url,
    }
}

/// Drops the database a PostgreSQL test created, so that test runs leave nothing behind.
impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.database_url.starts_with("postgres") {
            return;
        }
        let path = self.database_url.split('?').next().unwrap_or_default();
        let Some(name) = path
            .rsplit('/')
            .next()
            .filter(|n| n.starts_with("licet_test_"))
        else {
            return;
        };
        if let Ok(mut conn) = diesel::PgConnection::establish(&postgres_admin_url()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {})
}

/// An HTTP answer reduced to what tests check.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub allow: Option<String>,
    pub www_authenticate: Option<String>,
    pub location: Option<String>,
    pub body: Value,
    pub text: String,
}

/// An HTTP client that returns error statuses as answers.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (allow, location) = (header("allow"), header("location"));
    let www_authenticate = header("www-authenticate");
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        allow,
        www_authenticate,
        location,
        body,
        text,
    }
}

impl TestApp {
    /// Imports the demo data set for today through the running application's state.
    pub async fn load_demo(&self) {
        let text = licet::licensing::demo::data(chrono::Utc::now().date_naive()).unwrap();
        self.import_text(&text).await;
    }

    /// Imports YAML through the application's state, as an in-process change would.
    pub async fn import_text(&self, text: &str) {
        let data = licet::licensing::import::parse("test.yaml", text).unwrap();
        licet::licensing::import::apply(&self.state, "test.yaml", data)
            .await
            .unwrap();
    }

    /// Runs a blocking HTTP call off the async runtime.
    async fn call(&self, f: impl FnOnce(ureq::Agent) -> Answer + Send + 'static) -> Answer {
        actix_web::rt::task::spawn_blocking(move || f(agent()))
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Answer {
        let url = format!("{}{path}", self.base);
        self.call(move |a| answer(a.get(&url).call().unwrap()))
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(path, "application/json", body.to_string())
            .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: String) -> Answer {
        let url = format!("{}{path}", self.base);
        let content_type = content_type.to_string();
        self.call(move |a| {
            answer(
                a.post(&url)
                    .header("content-type", &content_type)
                    .send(body.as_bytes())
                    .unwrap(),
            )
        })
        .await
    }

    /// GET with `Authorization: Bearer <token>`.
    pub async fn get_as(&self, token: &str, path: &str) -> Answer {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        self.call(move |a| answer(a.get(&url).header("authorization", &auth).call().unwrap()))
            .await
    }

    /// POST a JSON body with `Authorization: Bearer <token>`.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Answer {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let body = body.to_string();
        self.call(move |a| {
            answer(
                a.post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .send(body.as_bytes())
                    .unwrap(),
            )
        })
        .await
    }

    /// A JSON body with `Authorization: Bearer <token>` and any method (PATCH, DELETE).
    pub async fn send_as(&self, method: &str, token: &str, path: &str, body: &Value) -> Answer {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body.to_string())
            .unwrap();
        self.call(move |a| answer(a.run(request).unwrap())).await
    }

    /// PATCH a JSON body with `Authorization: Bearer <token>`.
    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.send_as("PATCH", token, path, body).await
    }

    /// Waits until the decision log holds `count` rows (it is written off the request path).
    pub async fn logged_decisions(&self, count: i64) -> i64 {
        use diesel::QueryDsl;
        let mut seen = 0;
        for _ in 0..100 {
            seen = self
                .state
                .db
                .run(|conn| {
                    licet::db::schema::decision_log::table
                        .count()
                        .get_result::<i64>(conn)
                        .map_err(licet::db::DbError::from)
                })
                .await
                .unwrap();
            if seen >= count {
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        seen
    }

    pub async fn decide(&self, body: &Value) -> Answer {
        self.post_json("/v1/decisions", body).await
    }
}

/// The admin token every test configuration admits.
pub const ADMIN_TOKEN: &str = "licet_test-admin-token";
/// A second admin token limited to nothing, to approve what the first one requested.
pub const SECOND_ADMIN_TOKEN: &str = "licet_test-second-admin-token";
/// An auditor token limited to nothing.
pub const AUDITOR_TOKEN: &str = "licet_test-auditor-token";
/// An admin token limited to the tenant `acme`.
pub const ACME_ADMIN_TOKEN: &str = "licet_test-acme-admin-token";
/// An auditor token limited to the tenant `acme`.
pub const ACME_AUDITOR_TOKEN: &str = "licet_test-acme-auditor-token";

fn test_tokens() -> Vec<licet::config::TokenConfig> {
    use licet::identity::token_hash;
    let token =
        |name: &str, role: &str, secret: &str, tenant: Option<&str>| licet::config::TokenConfig {
            name: name.into(),
            role: role.into(),
            sha256: token_hash(secret),
            tenant: tenant.map(str::to_string),
        };
    vec![
        token("test-admin", "admin", ADMIN_TOKEN, None),
        token("second-admin", "admin", SECOND_ADMIN_TOKEN, None),
        token("test-auditor", "auditor", AUDITOR_TOKEN, None),
        token("acme-auditor", "auditor", ACME_AUDITOR_TOKEN, Some("acme")),
        token("acme-admin", "admin", ACME_ADMIN_TOKEN, Some("acme")),
    ]
}

/// Copies the repository's policies and schema into `dir` (as `policies/` and
/// `schema.cedarschema`) and points `config` at the copy, so a test can change them.
pub fn own_policies(config: &mut Config, dir: &std::path::Path) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for entry in std::fs::read_dir(root.join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, policies.join(path.file_name().unwrap())).unwrap();
        }
    }
    let schema = dir.join("licet.cedarschema");
    std::fs::copy(root.join("schema/licet.cedarschema"), &schema).unwrap();
    config.policies.dir = Some(policies.clone());
    config.policies.schema = Some(schema);
    policies
}

/// A decision request for a device.
pub fn device_request(
    tenant: &str,
    device: &str,
    feature: &str,
    version: &str,
    env: &str,
) -> Value {
    serde_json::json!({
        "tenant": tenant,
        "principal": { "type": "Device", "id": device },
        "action": "use",
        "resource": { "type": "Feature", "id": feature },
        "context": { "product_version": version, "environment": env },
    })
}

/// A tenant `acme` with a two-seat device contract `ent-two` (versions 2 to 4, production, 7
/// days of grace) and a contract `ent-old` that ended a year ago, and a tenant `globex`.
pub fn activation_contract() -> String {
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| {
        (today + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    format!(
        r#"
products:
  - id: cad
    name: Draftwise CAD
    features:
      - {{ id: cad.view, name: View }}
      - {{ id: cad.export, name: Export }}
tenants:
  - id: acme
    name: Acme Engineering
    entitlements:
      - {{ id: ent-two, product: cad, model: device, seats: 2, features: [cad.view, cad.export], environments: [prod], starts_at: "{a}", expires_at: "{b}", grace_days: 7, min_version: 2.0.0, max_version: 4.0.0 }}
      - {{ id: ent-old, product: cad, model: device, seats: 5, features: [cad.view], environments: [prod], starts_at: "{c}", expires_at: "{d}" }}
  - id: globex
    name: Globex
"#,
        a = day(-10),
        b = day(100),
        c = day(-400),
        d = day(-365),
    )
}

/// A running application holding [`activation_contract`], with a rate limit loose enough
/// that tests never meet it unless they mean to.
pub async fn spawn_with_contract(backend: Backend) -> TestApp {
    let app = spawn_with(backend, |c| {
        c.activation.attempts_burst = 100;
        c.activation.attempts_per_minute = 1000;
    });
    app.import_text(&activation_contract()).await;
    app
}

impl TestApp {
    /// Makes a licence key of `acme` for `entitlement` through the admin API: the key as shown
    /// once, and its id.
    pub async fn new_license_key(&self, entitlement: &str) -> (String, String) {
        let made = self
            .post_as(
                ADMIN_TOKEN,
                "/v1/admin/tenants/acme/license-keys",
                &serde_json::json!({ "entitlement": entitlement, "reason": "new contract" }),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        let id = made.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            made.location,
            Some(format!("/v1/admin/tenants/acme/license-keys/{id}"))
        );
        (made.body["key"].as_str().unwrap().to_string(), id)
    }
}
