//! The `licet` binary: import, migrate, policy check and test, and refusing a broken bundle at
//! start.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{copy_bundle, licet, text};

const CONTRACTS: &str = r#"
products:
  - id: cad
    name: Draftwise CAD
    releases: [{ version: 3.0.0 }]
    features:
      - { id: cad.view, name: View }
      - { id: cad.export, name: Export }
tenants:
  - id: acme
    name: Acme
    users:
      - { id: u-1, display_name: Ada }
    entitlements:
      - id: e-1
        product: cad
        model: device
        seats: 5
        features: [cad.view, cad.export]
        environments: [prod]
        starts_at: 2026-01-01
        expires_at: 2027-01-01T00:00:00Z
        grace_days: 14
        min_version: 2.0.0
        max_version: 4.0.0
    devices:
      - { id: d-1, fingerprint: fp-1, name: One, entitlement: e-1 }
      - { id: d-2, fingerprint: fp-2, name: Two, status: revoked }
"#;

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contracts.yaml");
    std::fs::write(&file, CONTRACTS).unwrap();
    let path = file.to_str().unwrap();

    let first = licet(dir.path(), &["import", path]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout).trim(),
        format!(
            "{path}: created: 2 devices, 1 entitlement, 2 features, 1 product, 1 release, 1 tenant, 1 user; updated: nothing; unchanged: nothing"
        )
    );

    let second = licet(dir.path(), &["import", path]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(
        text(&second.stdout).trim(),
        format!(
            "{path}: created: nothing; updated: nothing; unchanged: 2 devices, 1 entitlement, 2 features, 1 product, 1 release, 1 tenant, 1 user"
        )
    );

    let changed = CONTRACTS.replace("seats: 5", "seats: 6");
    std::fs::write(&file, changed).unwrap();
    let dry = licet(dir.path(), &["import", "--dry-run", path]);
    assert!(
        text(&dry.stdout).contains("updated: 1 entitlement"),
        "{}",
        text(&dry.stdout)
    );
    let third = licet(dir.path(), &["import", path]);
    assert!(
        text(&third.stdout).contains("updated: 1 entitlement;"),
        "{}",
        text(&third.stdout)
    );
}

#[test]
fn an_invalid_import_writes_nothing_and_names_file_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    let broken = CONTRACTS
        .replace("expires_at: 2027-01-01T00:00:00Z", "expires_at: 2025-01-01")
        .replace("fp-2", "fp-1");
    std::fs::write(&file, broken).unwrap();
    let path = file.to_str().unwrap();

    let out = licet(dir.path(), &["import", path]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{path}: 2 problem(s) found, nothing was written")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}: tenant `acme`, entitlement `e-1`, field `expires_at`: `2025-01-01` must be later than starts_at `2026-01-01`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "tenant `acme`, device `d-2`, field `fingerprint`: `fp-1` appears more than once"
        ),
        "{stderr}"
    );

    // Nothing was written: the valid file now imports everything as new.
    std::fs::write(&file, CONTRACTS).unwrap();
    let out = licet(dir.path(), &["import", path]);
    assert!(
        text(&out.stdout).contains("created: 2 devices, 1 entitlement, 2 features, 1 product"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn migrate_reports_and_applies_pending_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let check = licet(dir.path(), &["migrate", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stdout).starts_with("pending: "),
        "{}",
        text(&check.stdout)
    );
    let run = licet(dir.path(), &["migrate"]);
    assert!(
        text(&run.stdout).starts_with("applied: "),
        "{}",
        text(&run.stdout)
    );
    let again = licet(dir.path(), &["migrate", "--check"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(text(&again.stdout).trim(), "no pending migrations");
}

#[test]
fn a_policy_that_breaks_the_schema_stops_the_start_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    let file = dir.path().join("policies/version.cedar");
    let original = std::fs::read_to_string(&file).unwrap();
    let broken = original.replace("context.product_version <", "context.product_versoin <");
    std::fs::write(&file, &broken).unwrap();
    let line = broken
        .lines()
        .position(|l| l.contains("product_versoin"))
        .unwrap()
        + 1;

    let out = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["serve"])
        .env("LICET__SERVER__DATA_DIR", dir.path())
        .env("LICET__SERVER__BIND", "127.0.0.1:0")
        .env("LICET__POLICIES__DIR", dir.path().join("policies"))
        .env(
            "LICET__POLICIES__SCHEMA",
            dir.path().join("licet.cedarschema"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("policy bundle refused, 1 problem(s):"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "policies/version.cedar:{line}: policy `version.out-of-range`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("product_versoin"), "{stderr}");
    assert!(
        !dir.path().join("licet.db").exists(),
        "nothing is created before the bundle is valid"
    );
}

#[test]
fn policy_check_prints_the_version_of_the_shipped_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = licet(dir.path(), &["policy", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: 25 policies in 7 files, version sha256:"),
        "{stdout}"
    );
}

/// `licet policy check` with the bundle copied to `dir` and `extra` added as `policies/zz.cedar`.
fn check_with_policy(dir: &Path, extra: &str) -> Output {
    copy_bundle(dir);
    std::fs::write(dir.join("policies/zz.cedar"), extra).unwrap();
    Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["policy", "check"])
        .env("LICET__SERVER__DATA_DIR", dir)
        .env("LICET__POLICIES__DIR", dir.join("policies"))
        .env("LICET__POLICIES__SCHEMA", dir.join("licet.cedarschema"))
        .env_remove("LICET_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn policy_check_refuses_an_invalid_policy_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_with_policy(
        dir.path(),
        "// a rule on an attribute the schema lacks\n@id(\"zz.colour\")\n@reason(\"COLOUR\")\nforbid (principal is Licet::Device, action, resource)\nwhen { principal.colour == \"red\" };\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("policies/zz.cedar:5: policy `zz.colour`"),
        "{stderr}"
    );
    assert!(stderr.contains("attribute `colour`"), "{stderr}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn policy_check_warns_about_a_policy_that_can_never_apply_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = check_with_policy(
        dir.path(),
        "// a condition that is never true\n\n@id(\"zz.never\")\n@reason(\"NEVER\")\nforbid (principal, action, resource)\nwhen { 1 == 2 };\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "warning: policies/zz.cedar:3: policy `zz.never`: for policy `zz.never`, policy is impossible: the policy expression evaluates to false for all valid requests"
        ),
        "{stdout}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("ok: 26 policies in 8 files, version sha256:")),
        "{stdout}"
    );
}

fn suites_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tests")
}

#[test]
fn policy_test_runs_the_shipped_suites_and_prints_one_line_per_case() {
    let dir = tempfile::tempdir().unwrap();
    let suites = suites_dir();
    let out = licet(
        dir.path(),
        &["policy", "test", "--dir", suites.to_str().unwrap()],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // File names are padded to the longest, `environment.yaml`.
    assert!(
        stdout.contains("\nok    term.yaml         the last second of grace is allowed in grace\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n61 passed, 0 failed\n"), "{stdout}");
}

const WRONG: &str = r#"
fixtures:
  one:
    tenant: { id: t }
    catalogue: { cad.view: cad }
    entitlements:
      - { id: e, product: cad, features: [cad.view], environments: [prod],
          starts_at: 2026-01-01, expires_at: 2027-01-01 }
    principals:
      - { type: Device, id: d, status: revoked }
cases:
  - name: a revoked device is allowed
    fixture: one
    request:
      principal: { type: Device, id: d }
      feature: cad.view
      product_version: 1.0.0
      environment: prod
    now: 2026-06-01T00:00:00Z
    expect: { decision: allow }
"#;

#[test]
fn policy_test_reports_a_wrong_expectation_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("wrong.yaml"), WRONG).unwrap();
    let out = licet(
        dir.path(),
        &["policy", "test", "--dir", dir.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for line in [
        "FAIL  wrong.yaml  a revoked device is allowed",
        "        expected  allow  reasons: none  advice: none",
        "        got       deny   reasons: DEVICE_REVOKED  advice: none",
        "        policies  principal.device-revoked",
        "coverage: FAIL, ",
        "0 passed, 1 failed; coverage incomplete",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }

    let json = licet(
        dir.path(),
        &[
            "policy",
            "test",
            "--dir",
            dir.path().to_str().unwrap(),
            "--filter",
            "revoked",
            "--format",
            "json",
        ],
    );
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["cases"][0]["got"]["reasons"][0], "DEVICE_REVOKED");
    assert!(report.get("coverage").is_none(), "{report}");
}

#[test]
fn policy_test_refuses_a_malformed_suite_file_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, WRONG.replace("now:", "when:")).unwrap();
    let out = licet(
        dir.path(),
        &["policy", "test", "--dir", dir.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: policy tests refused, 1 problem(s):\n  {}:19: case `a revoked device is allowed`: cases[0]: unknown field `when`",
            file.display()
        )),
        "{stderr}"
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn policy_test_outside_the_repository_says_where_the_suites_are() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["policy", "test"])
        .current_dir(dir.path())
        .env("LICET__SERVER__DATA_DIR", dir.path())
        .env_remove("LICET_CONFIG")
        .env_remove("LICET__POLICIES__DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: there is no policy test folder at `policies/tests`: the built-in bundle's suites \
         are not part of the binary; run this in the licet repository, or pass `--dir` the folder \
         of `*.yaml` suites (the repository's `policies/tests`)"
    );

    let nowhere = dir.path().join("nowhere");
    let out = licet(
        dir.path(),
        &["policy", "test", "--dir", nowhere.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "error: there is no policy test folder at `{}`; pass `--dir` a folder of `*.yaml` \
             suites",
            nowhere.display()
        )
    );
}

#[test]
fn policy_test_finds_the_suites_inside_the_configured_policy_folder() {
    let dir = tempfile::tempdir().unwrap();
    copy_bundle(dir.path());
    let run = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_licet"))
            .args(["policy", "test"])
            .env("LICET__SERVER__DATA_DIR", dir)
            .env("LICET__POLICIES__DIR", dir.join("policies"))
            .env("LICET__POLICIES__SCHEMA", dir.join("licet.cedarschema"))
            .env_remove("LICET_CONFIG")
            .output()
            .unwrap()
    };

    let missing = run(dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        text(&missing.stderr).trim(),
        format!(
            "error: there is no policy test folder at `{}` (`tests` inside `policies.dir`); create it or pass `--dir` a folder of `*.yaml` suites",
            dir.path().join("policies/tests").display()
        )
    );

    let tests = dir.path().join("policies/tests");
    std::fs::create_dir(&tests).unwrap();
    for entry in std::fs::read_dir(suites_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tests.join(path.file_name().unwrap())).unwrap();
    }
    let out = run(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).ends_with("\n61 passed, 0 failed\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_bad_configuration_value_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["serve"])
        .env("LICET__SIGNING__TOKEN_TTL_SECONDS", "0")
        .env("LICET__SERVER__DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: configuration key `signing.token_ttl_seconds` is not valid: must be between 1 and 86400"
    );
}

#[test]
fn json_logs_carry_one_line_per_request_with_route_status_and_request_id() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_licet"))
        .args(["serve"])
        .env("LICET__SERVER__DATA_DIR", dir.path())
        .env("LICET__SERVER__BIND", "127.0.0.1:0")
        .env("LICET__SERVER__WORKERS", "1")
        .env("LICET__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();

    let port = loop {
        let line = lines.next().expect("licet logs until it serves").unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        if event["message"] == "licet is serving" {
            break event["port"].as_u64().unwrap();
        }
    };
    let url = format!("http://127.0.0.1:{port}/v1/decisions");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = r#"{"tenant":"acme","principal":{"type":"Device","id":"d"},"action":"use","resource":{"type":"Feature","id":"f"},"context":{"product_version":"1.0.0","environment":"prod"}}"#;
    let response = agent
        .post(&url)
        .header("content-type", "application/json")
        .header("x-request-id", "trace-me-1")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "trace-me-1"
    );

    let access = loop {
        let line = lines.next().expect("an access line").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "request" {
            break event;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(access["route"], "/v1/decisions");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["status"], 404);
    assert_eq!(access["request_id"], "trace-me-1");
    assert_eq!(access["tenant"], "acme");
    assert!(access["latency_ms"].as_f64().unwrap() > 0.0);
}
