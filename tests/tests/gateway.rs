//! A segmented network: machines that cannot reach licet directly go through an internal HTTP
//! forward proxy (here Debian's `tinyproxy`, configured as docs/licensing.md shows) that may
//! reach licet and nothing else. Activation, refresh, the JWKS and the revocation list all work
//! through it with no code of ours beyond the client's ordinary proxy setting.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Backend};
use serde_json::{Value, json};

/// A tinyproxy process that forwards only to 127.0.0.1, logging to a file.
struct Proxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tinyproxy() -> String {
    let found = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    found
        .map(str::to_string)
        .expect("tinyproxy is needed for the gateway test (scripts/test installs Debian's package)")
}

fn start_proxy(dir: &std::path::Path) -> Proxy {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Only licet's host may be reached: everything else is refused by the proxy.
    std::fs::write(dir.join("allowed"), "^127\\.0\\.0\\.1$\n").unwrap();
    let config = dir.join("tinyproxy.conf");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nLogLevel Connect\nMaxClients 20\nFilter \"{}\"\nFilterDefaultDeny Yes\nFilterExtended Yes\n",
            dir.join("allowed").display()
        ),
    )
    .unwrap();
    let log = dir.join("tinyproxy.log");
    let child = Command::new(tinyproxy())
        .arg("-d")
        .arg("-c")
        .arg(&config)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "tinyproxy did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Proxy { child, port, log }
}

/// An HTTP client that sends everything through the proxy, as a machine in the segment would.
fn through(proxy: &Proxy) -> ureq::Agent {
    let proxy = ureq::Proxy::new(&format!("http://127.0.0.1:{}", proxy.port)).unwrap();
    ureq::Agent::config_builder()
        .proxy(Some(proxy))
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut response = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes()),
        _ => agent.get(url).call(),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The request lines tinyproxy logged.
fn proxied_requests(proxy: &Proxy) -> Vec<String> {
    let file = std::fs::File::open(&proxy.log).unwrap();
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.split_once("): ").map(|(_, r)| r.to_string()))
        .filter(|r| r.starts_with("CONNECT ") || r.starts_with("GET ") || r.starts_with("POST "))
        .collect()
}

#[actix_web::test]
async fn machines_behind_a_forward_proxy_activate_refresh_and_verify() {
    let app = common::spawn(Backend::Sqlite);
    app.load_demo().await;
    let made = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/tenants/acme/license-keys",
            &json!({ "entitlement": "ent-acme-cad" }),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let key = made.body["key"].as_str().unwrap().to_string();
    let proxy = start_proxy(app.dir.path());
    let base = app.base.clone();

    let (proxy, seen) = actix_web::rt::task::spawn_blocking(move || {
        let agent = through(&proxy);
        let activation =
            json!({ "license_key": key, "fingerprint": "sha256:segment-7", "name": "plant floor" });
        let (status, activated) = call(
            &agent,
            "POST",
            &format!("{base}/v1/activations"),
            Some(&activation),
        );
        assert_eq!(status, 201, "{activated}");
        let refresh = json!({ "license_key": key, "fingerprint": "sha256:segment-7" });
        let (status, refreshed) = call(
            &agent,
            "POST",
            &format!("{base}/v1/licenses/refresh"),
            Some(&refresh),
        );
        assert_eq!(status, 200, "{refreshed}");
        let (status, jwks) = call(
            &agent,
            "GET",
            &format!("{base}/.well-known/jwks.json"),
            None,
        );
        assert_eq!(status, 200);
        let (status, list) = call(
            &agent,
            "GET",
            &format!("{base}/v1/revocations?tenant=acme"),
            None,
        );
        assert_eq!(status, 200, "{list}");

        // The file fetched through the proxy verifies offline against the JWKS.
        let jwks = licet_client::Jwks::from_json(&jwks.to_string()).unwrap();
        let token = refreshed["license"].as_str().unwrap();
        let (_, claims) = licet_client::verify_jws(token, &jwks).unwrap();
        assert_eq!(claims["fingerprint"], "sha256:segment-7");

        // The proxy lets nothing else through: another host name is refused by its filter.
        let port = base.rsplit(':').next().unwrap().to_string();
        let refused = agent
            .get(&format!("http://localhost:{port}/healthz"))
            .call();
        let refused = refused.expect_err("the proxy must refuse hosts other than licet's");
        assert!(refused.to_string().contains("403"), "{refused}");
        let seen = proxied_requests(&proxy);
        (proxy, seen)
    })
    .await
    .unwrap();

    // The calls went through the proxy: ureq tunnels through it with CONNECT.
    let port = app.base.rsplit(':').next().unwrap();
    let tunnel = format!("CONNECT 127.0.0.1:{port} ");
    assert!(
        seen.iter().any(|l| l.starts_with(&tunnel)),
        "`{tunnel}` not in the proxy's log: {seen:?}"
    );
    drop(proxy);
}
