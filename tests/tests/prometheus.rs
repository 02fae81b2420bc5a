//! A real Prometheus scrapes a running licet under a short load: every recording rule of
//! `prometheus/rules/` evaluates to data, every query of the dashboards in `grafana/dashboards/`
//! returns at least one series, and a refused policy reload fires its alert. Windows far longer
//! than the test (3 and 30 days) are evaluated over the few seconds of samples there are, which
//! `rate()` accepts from two samples on, so no rule or query is left out.
//!
//! It needs the `prometheus` binary (Debian package `prometheus`, which `scripts/test` installs),
//! or its path in `LICET_TEST_PROMETHEUS`.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Backend, TestApp, device_request};
use serde_json::{Value, json};

/// Grafana's template variables in dashboard queries, and what the test puts in their place.
const TEMPLATE_VARIABLES: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("${__rate_interval}", "1m"),
    ("$__interval", "15s"),
    ("${instance:regex}", ".*"),
    ("${instance}", ".*"),
    ("$instance", ".*"),
];

/// How long licet answers traffic before the queries.
const LOAD: Duration = Duration::from_secs(6);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A Prometheus server with its own storage, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (host:port) every second as job `licet`, with the
    /// repository's rules evaluated every second.
    fn start(target: &str) -> Self {
        let binary = std::env::var("LICET_TEST_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let dir = tempfile::tempdir().unwrap();
        let rules = repository().join("prometheus/rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}/*.yml\n\
             scrape_configs:\n  - job_name: licet\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("prometheus.log");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `{binary}` ({e}): this test needs Prometheus; install Debian's \
                     `prometheus` package (`apt-get install prometheus`, as scripts/test does) or \
                     set LICET_TEST_PROMETHEUS to its binary"
                )
            });
        let mut prometheus = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        prometheus.wait_until_ready();
        prometheus
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prometheus exited ({status}):\n{}", self.log_text());
            }
            let ready = common::agent()
                .get(format!("{}/-/ready", self.base))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("Prometheus was not ready within 30 s:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `data` of a successful API answer.
    fn api(&self, path: &str, query: Option<&str>) -> Value {
        let mut request = common::agent().get(format!("{}{path}", self.base));
        if let Some(query) = query {
            request = request.query("query", query);
        }
        let text = request.call().unwrap().body_mut().read_to_string().unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "success", "{path} {query:?}: {text}");
        body["data"].clone()
    }

    /// The `ALERTS` series of `alert` once it fires (within 20 s).
    fn wait_for_alert(&self, alert: &str) -> Value {
        let expr = format!(r#"ALERTS{{alertname="{alert}",alertstate="firing"}}"#);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(series) = self.query(&expr).pop() {
                return series;
            }
            assert!(
                Instant::now() < deadline,
                "{alert} did not fire within 20 s"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The series an instant query returns.
    fn query(&self, expr: &str) -> Vec<Value> {
        self.api("/api/v1/query", Some(expr))["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The value of one series of an instant query answer.
fn value(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Allowed and denied decisions, a request licet refuses, licence refreshes and the other
/// routes, for `LOAD`.
async fn drive(app: &TestApp) {
    // An active entitlement, and an expired one.
    let allowed_request = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
    let denied_request = device_request("initech", "i-node-1", "sim.solve", "2.0.0", "prod");
    // A machine activates, then refreshes its licence file as the load goes on.
    let (key, _) = app.new_license_key("ent-acme-cad").await;
    let machine = json!({"license_key": key, "fingerprint": "sha256:scraped-machine"});
    let activated = app
        .post_json(
            "/v1/activations",
            &json!({"license_key": key, "fingerprint": "sha256:scraped-machine", "name": "ws"}),
        )
        .await;
    assert_eq!(activated.status, 201, "{}", activated.text);
    let started = Instant::now();
    let (mut allowed, mut denied, mut refreshed) = (0, 0, 0);
    while started.elapsed() < LOAD {
        let refresh = app.post_json("/v1/licenses/refresh", &machine).await;
        refreshed += usize::from(refresh.status == 200);
        let allow = app.decide(&allowed_request).await;
        allowed += usize::from(allow.body["decision"] == "allow");
        let deny = app.decide(&denied_request).await;
        denied += usize::from(deny.body["decision"] == "deny");
        let invalid = app
            .post_raw("/v1/decisions", "application/json", "{".into())
            .await;
        assert_eq!(invalid.status, 400, "{}", invalid.text);
        for path in [
            "/readyz",
            "/v1/policies/active",
            "/.well-known/jwks.json",
            "/v1/revocations?tenant=acme",
        ] {
            assert_eq!(app.get(path).await.status, 200, "{path}");
        }
    }
    let reload = app
        .post_as(ADMIN_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await;
    assert_eq!(reload.status, 200, "{}", reload.text);
    assert!(
        allowed > 10 && denied > 10 && refreshed > 10,
        "{allowed} allowed, {denied} denied, {refreshed} licence files refreshed"
    );
}

/// The recording rules Prometheus loaded, once each has been evaluated without error.
fn evaluated_recording_rules(prometheus: &Prometheus) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let groups = prometheus.api("/api/v1/rules", None)["groups"].clone();
        let rules: Vec<Value> = groups
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let files: BTreeSet<String> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["file"].as_str().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = std::fs::read_dir(repository().join("prometheus/rules"))
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(".yml"))
            .collect();
        assert_eq!(files, expected, "Prometheus loaded other rule files");

        let broken: Vec<&Value> = rules.iter().filter(|r| r["health"] == "err").collect();
        assert!(broken.is_empty(), "rules that fail: {broken:#?}");
        let recorded: Vec<String> = rules
            .iter()
            .filter(|r| r["type"] == "recording")
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        let missing: Vec<&String> = recorded
            .iter()
            .filter(|name| prometheus.query(name).is_empty())
            .collect();
        if missing.is_empty() && rules.iter().all(|r| r["health"] == "ok") {
            return recorded;
        }
        assert!(
            Instant::now() < deadline,
            "recording rules without data after 30 s: {missing:?}\n{}",
            prometheus.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The names of the `record:` entries of the repository's rule files.
fn recording_rules_in_files() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repository().join("prometheus/rules")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        names.extend(
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("- record:"))
                .map(|name| name.trim().to_string()),
        );
    }
    names
}

/// Every `expr` of every panel target of a Grafana dashboard, rows included.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                let title = panel["title"].as_str().unwrap_or_default().to_string();
                queries.push((title, expr.to_string()));
            }
        }
    }
    queries
}

fn substitute(expr: &str) -> String {
    TEMPLATE_VARIABLES
        .iter()
        .fold(expr.to_string(), |e, (name, value)| e.replace(name, value))
}

/// Runs `f` off the async runtime; a panic in it fails the test with its own message.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match actix_web::rt::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

#[actix_web::test]
async fn prometheus_evaluates_every_rule_and_dashboard_query_against_a_running_licet() {
    let mut policies = None;
    let app = common::spawn_with(Backend::Sqlite, |config| {
        let dir = config.server.data_dir.clone();
        policies = Some(common::own_policies(config, &dir));
        // One machine refreshes throughout the load: no per-key limit in the way.
        config.activation.attempts_per_minute = 100_000;
        config.activation.attempts_burst = 100_000;
    });
    app.load_demo().await;
    let target = app.base.trim_start_matches("http://").to_string();
    let prometheus = blocking(move || Prometheus::start(&target)).await;

    drive(&app).await;
    // Two more scrapes and evaluations see the last requests.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let prometheus = blocking(move || {
        check_rules(&prometheus);
        check_dashboards(&prometheus);
        prometheus
    })
    .await;

    // A refused policy bundle reaches Prometheus as an alert, with the labels of the metric.
    std::fs::write(
        policies.unwrap().join("broken.cedar"),
        "@id(\"broken\")\npermit (principal, action, resource) when { context.nope };\n",
    )
    .unwrap();
    let refused = app
        .post_as(ADMIN_TOKEN, "/v1/admin/policies/reload", &json!({}))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    let alert = blocking(move || prometheus.wait_for_alert("LicetPolicyReloadFailed")).await;
    assert_eq!(alert["metric"]["result"], "failed");
    assert_eq!(alert["metric"]["severity"], "ticket");
    assert_eq!(alert["metric"]["job"], "licet");
}

fn check_rules(prometheus: &Prometheus) {
    let up = prometheus.query(r#"up{job="licet"}"#);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(value(&up[0]), 1.0);

    let recorded = evaluated_recording_rules(prometheus);
    assert_eq!(
        recorded.iter().cloned().collect::<BTreeSet<_>>(),
        recording_rules_in_files(),
        "Prometheus did not load every recording rule"
    );
    for name in &recorded {
        for series in prometheus.query(name) {
            let v = value(&series);
            assert!(v.is_finite(), "{name} is {v} ({series})");
            if name.contains(":ratio_rate") {
                assert!((0.0..=1.0).contains(&v), "{name} is {v}");
            }
            if name.contains("licet_decision_errors") {
                assert_eq!(
                    v, 0.0,
                    "{name}: no decision request was answered with a 5xx"
                );
            }
            if name.contains("duration_seconds:p") {
                assert!(v > 0.0 && v <= 2.5, "{name} is {v}");
            }
        }
    }
    let quantile = |q: &str| {
        value(&prometheus.query(&format!("job:licet_decision_duration_seconds:{q}_rate5m"))[0])
    };
    assert!(quantile("p50") <= quantile("p95") && quantile("p95") <= quantile("p99"));
    let outcomes: BTreeSet<String> = prometheus
        .query("job_decision:licet_decision_duration_seconds:p99_rate5m")
        .iter()
        .map(|s| s["metric"]["decision"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outcomes, BTreeSet::from(["allow".into(), "deny".into()]));

    // Latency alerts depend on the build (a debug build may well be slower than 25 ms); the
    // others must stay silent for a healthy licet.
    let firing = prometheus.query(r#"ALERTS{alertname!~"LicetLatency.*"}"#);
    assert!(firing.is_empty(), "alerts for a healthy licet: {firing:#?}");
}

fn check_dashboards(prometheus: &Prometheus) {
    let folder = repository().join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "dashboards in {}: {files:?}",
        folder.display()
    );

    let mut empty = Vec::new();
    for file in &files {
        let dashboard: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let queries = dashboard_queries(&dashboard);
        assert!(queries.len() >= 4, "{}: {queries:?}", file.display());
        for (panel, expr) in queries {
            let expr = substitute(&expr);
            let unknown = expr
                .match_indices('$')
                .any(|(i, _)| !expr[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(!unknown, "unknown template variable in `{expr}`");
            if prometheus.query(&expr).is_empty() {
                let name = file.file_name().unwrap().to_string_lossy().to_string();
                empty.push(format!("{name}: {panel}: {expr}"));
            }
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
}
