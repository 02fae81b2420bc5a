use std::path::Path;

use super::*;
use crate::policy::{BundleFile, BundleSource};

fn shipped_bundle() -> PolicyBundle {
    PolicyBundle::compile(BundleSource::embedded()).unwrap()
}

fn shipped_suite() -> Suite {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tests");
    Suite::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

fn parse(files: &[(&str, &str)]) -> Result<Suite, SuiteError> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    Suite::parse(&files)
}

/// A small fixture and one case at `now` expecting `expect`.
fn one_case(now: &str, expect: &str) -> String {
    format!(
        r#"
fixtures:
  small:
    tenant: {{ id: t }}
    catalogue: {{ cad.view: cad }}
    entitlements:
      - id: e
        product: cad
        features: [cad.view]
        environments: [prod]
        starts_at: 2026-01-01
        expires_at: 2026-07-01
        grace: 7d
    principals:
      - {{ type: Device, id: d }}
cases:
  - name: after grace
    fixture: small
    request:
      principal: {{ type: Device, id: d }}
      feature: cad.view
      product_version: 1.0.0
      environment: prod
    now: {now}
    expect: {expect}
"#
    )
}

#[test]
fn shipped_suites_pass_and_cover_every_policy_and_code() {
    let report = shipped_suite().run(&shipped_bundle(), None);
    let failures: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert!(failures.is_empty(), "{}", report.render_text());
    assert_eq!((report.passed, report.failed), (61, 0));

    let coverage = report.coverage.as_ref().unwrap();
    assert_eq!(coverage.gaps, vec![], "{}", report.render_text());
    // 25 policies less the exempt guardrail; 16 forbid codes and NOT_ENTITLED; IN_GRACE.
    assert_eq!(
        (coverage.policies, coverage.reasons, coverage.advice),
        (24, 17, 1)
    );
    let exempt: Vec<&str> = coverage.exempt.iter().map(|e| e.policy.as_str()).collect();
    assert_eq!(exempt, vec!["tenant.isolation"]);
    assert!(report.succeeded());
    assert!(
        report
            .render_text()
            .ends_with("coverage: complete (24 policies, 17 reason codes, 1 advice code; `tenant.isolation` exempt: a principal is always looked up within the tenant of the request, so no request can reach it)\n61 passed, 0 failed\n"),
        "{}",
        report.render_text()
    );
}

#[test]
fn grace_boundaries_are_pinned_by_the_shipped_suite() {
    let report = shipped_suite().run(&shipped_bundle(), Some("grace"));
    let answer = |name: &str| {
        let case = report.cases.iter().find(|c| c.name == name).unwrap();
        let got = case.got.as_ref().unwrap();
        (got.decision, got.reasons.clone(), got.advice.clone())
    };
    let grace = vec!["IN_GRACE".to_string()];
    assert_eq!(
        answer("the instant of expiry is allowed in grace"),
        (Decision::Allow, vec![], grace.clone())
    );
    assert_eq!(
        answer("the last second of grace is allowed in grace"),
        (Decision::Allow, vec![], grace)
    );
    assert_eq!(
        answer("the first second after grace is EXPIRED"),
        (Decision::Deny, vec!["EXPIRED".to_string()], vec![])
    );
}

#[test]
fn the_shipped_suites_catch_a_grace_period_that_ends_one_instant_late() {
    let mut source = BundleSource::embedded();
    let term = source
        .policies
        .iter_mut()
        .find(|f| f.path == "policies/term.cedar")
        .unwrap();
    let expired = "context.now >= context.entitlement.expires_at.offset(context.entitlement.grace)";
    assert!(term.content.contains(expired));
    term.content = term.content.replace(
        expired,
        "context.now > context.entitlement.expires_at.offset(context.entitlement.grace)",
    );
    let report = shipped_suite().run(&PolicyBundle::compile(source).unwrap(), None);
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![
            "the first second after grace is EXPIRED",
            "without grace the instant of expiry is EXPIRED",
            "a grace of 12 hours is EXPIRED after 12 hours",
        ]
    );
    assert!(!report.succeeded());
}

#[test]
fn a_wrong_expectation_reports_the_case_what_it_expected_and_what_it_got() {
    let text = one_case("2026-07-08T00:00:00Z", "{ decision: allow }");
    let suite = parse(&[("suites/wrong.yaml", &text)]).unwrap();
    let report = suite.run(&shipped_bundle(), Some("after"));
    assert_eq!((report.passed, report.failed), (0, 1));
    assert!(!report.succeeded());
    assert_eq!(
        report.render_text(),
        "FAIL  wrong.yaml  after grace\n\
         \x20       at suites/wrong.yaml:17\n\
         \x20       expected  allow  reasons: none  advice: none\n\
         \x20       got       deny   reasons: EXPIRED  advice: none\n\
         \x20       policies  term.expired\n\
         coverage: not checked, a filter selects only some cases\n\
         0 passed, 1 failed\n"
    );
}

#[test]
fn the_json_report_carries_expected_got_and_policies() {
    let text = one_case(
        "2026-07-01T00:00:00Z",
        "{ decision: allow, advice: [IN_GRACE] }",
    );
    let report = parse(&[("ok.yaml", &text)])
        .unwrap()
        .run(&shipped_bundle(), Some("after"));
    let json = serde_json::to_value(&report).unwrap();
    let case = &json["cases"][0];
    assert_eq!(case["passed"], true);
    assert_eq!(case["expected"]["decision"], "allow");
    assert_eq!(case["got"]["advice"], serde_json::json!(["IN_GRACE"]));
    assert_eq!(case["got"]["entitlement"], "e");
    assert_eq!(
        case["got"]["policies"],
        serde_json::json!(["entitlement.grants-feature", "term.in-grace"])
    );
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 0);
}

#[test]
fn an_unknown_key_names_the_file_line_case_and_key() {
    let text = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: deny, reason: [EXPIRED] }",
    );
    let err = parse(&[("bad.yaml", &text)]).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    let problem = &err.problems[0];
    assert_eq!(
        (problem.file.as_str(), problem.line, problem.case.as_deref()),
        ("bad.yaml", 25, Some("after grace"))
    );
    assert!(
        problem
            .message
            .starts_with("cases[0].expect: unknown field `reason`, expected one of"),
        "{err}"
    );
}

#[test]
fn malformed_values_are_each_named_with_their_case_and_field() {
    let base = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: deny, reasons: [EXPIRED] }",
    );
    let broken = [
        ("now: 2026-07-08T00:00:00Z", "now: next tuesday"),
        ("grace: 7d", "grace: 7 days"),
        ("product_version: 1.0.0", "product_version: 1.0.x"),
    ];
    let mut files = Vec::new();
    for (i, (from, to)) in broken.iter().enumerate() {
        let text = base
            .replace("fixtures:\n  small:", &format!("fixtures:\n  small{i}:"))
            .replace("fixture: small", &format!("fixture: small{i}"))
            .replace(from, to);
        files.push((format!("f{i}.yaml"), text));
    }
    files.push((
        "f3.yaml".into(),
        base.replace("fixtures:\n  small:", "fixtures:\n  other:")
            .replace("fixture: small", "fixture: missing"),
    ));
    let err = Suite::parse(&files).unwrap_err();
    let messages: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        vec![
            "f0.yaml:17: case `after grace`: `now`: `next tuesday` is not an RFC 3339 time such as `2026-07-01T00:00:00Z`",
            "f1.yaml:17: case `after grace`: entitlement `e`, `grace`: `7 days` is not a duration such as `7d`, `12h`, `30m`, `45s` or `1d12h`",
            "f2.yaml:17: case `after grace`: `request`: field `context.product_version`: `1.0.x` is not a semantic version such as `2.4.1`",
            "f3.yaml:17: case `after grace`: fixture `missing` is not defined in any suite file",
        ]
    );
    assert!(
        err.to_string()
            .starts_with("policy tests refused, 4 problem(s):")
    );
}

#[test]
fn a_file_that_does_not_parse_is_the_only_problem_reported() {
    let fixtures = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: deny, reasons: [EXPIRED] }",
    )
    .replace("fixtures:", "fixtures:\n  broken: [")
    .replacen("cases:", "unused:", 1);
    let user = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: deny, reasons: [EXPIRED] }",
    );
    let user = &user[user.find("cases:").unwrap()..];
    let err = parse(&[("a.yaml", &fixtures), ("b.yaml", user)]).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].file, "a.yaml");
}

#[test]
fn contradictory_expectations_and_duplicate_names_are_refused() {
    let text = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: allow, reasons: [EXPIRED] }",
    );
    let err = parse(&[("a.yaml", &text)]).unwrap_err();
    assert!(
        err.problems[0]
            .message
            .contains("an allow has no `reasons`"),
        "{err}"
    );

    let text = one_case(
        "2026-07-08T00:00:00Z",
        "{ decision: deny, reasons: [EXPIRED] }",
    );
    let twice = format!(
        "{text}{}",
        &text[text.find("  - name:").unwrap()..].replace("\ncases:", "")
    );
    let err = parse(&[("a.yaml", &twice), ("b.yaml", &text)]).unwrap_err();
    let messages: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        vec![
            "b.yaml:3: fixture `small` is already defined in a.yaml",
            "a.yaml:26: case `after grace`: the name is already used by the case at line 17; names are unique within a file",
        ]
    );
}

#[test]
fn a_policy_or_code_no_case_reaches_is_a_coverage_gap() {
    let mut source = BundleSource::embedded();
    source.policies.push(BundleFile {
        path: "policies/lab.cedar".into(),
        content: "@id(\"lab.closed\")\n@reason(\"LAB_CLOSED\")\nforbid (principal, action == Licet::Action::\"use\", resource)\nwhen { context.environment == \"lab\" };\n".into(),
    });
    let bundle = PolicyBundle::compile(source).unwrap();
    let report = shipped_suite().run(&bundle, None);
    assert_eq!(report.failed, 0, "{}", report.render_text());
    assert!(!report.succeeded());
    let text = report.render_text();
    assert!(
        text.contains(
            "coverage: FAIL, 2 gap(s)\n  policy `lab.closed` (policies/lab.cedar:1) determines the answer of no case\n  reason `LAB_CLOSED` is expected by no case\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("61 passed, 0 failed; coverage incomplete\n"),
        "{text}"
    );
}

#[test]
fn a_stale_exemption_is_a_coverage_gap() {
    let mut files: Vec<(String, String)> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/tests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), text)
            })
            .collect();
    files.push((
        "extra.yaml".into(),
        "exempt:\n  - { policy: term.expired, why: testing }\n  - { policy: gone.away, why: testing }\n".into(),
    ));
    let report = Suite::parse(&files).unwrap().run(&shipped_bundle(), None);
    let gaps: Vec<&str> = report
        .coverage
        .as_ref()
        .unwrap()
        .gaps
        .iter()
        .map(|g| g.message.as_str())
        .collect();
    assert_eq!(
        gaps,
        vec![
            "extra.yaml exempts policy `term.expired`, but a case reaches it; remove the exemption",
            "extra.yaml exempts policy `gone.away`, which is not in the bundle; remove the exemption",
        ]
    );
}

#[test]
fn a_filter_that_selects_nothing_fails() {
    let report = shipped_suite().run(&shipped_bundle(), Some("no such case"));
    assert!(report.cases.is_empty());
    assert!(!report.succeeded());
    assert!(
        report
            .render_text()
            .starts_with("no case name or file name contains `no such case`\n"),
        "{}",
        report.render_text()
    );
}

#[test]
fn a_missing_or_empty_folder_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = Suite::load_dir(dir.path()).unwrap_err();
    assert_eq!(
        err.problems[0].to_string(),
        format!(
            "{}: the folder holds no `*.yaml` test suites",
            dir.path().display()
        )
    );
    let missing = dir.path().join("nope");
    let err = Suite::load_dir(&missing).unwrap_err();
    assert!(
        err.problems[0]
            .to_string()
            .starts_with(&format!("{}: cannot read the folder:", missing.display())),
        "{err}"
    );
}
