//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API, hand-written in
//! `service/openapi.json` and compiled in.
//!
//! A test compares the document with the routes [`super::configure`] registers, in both
//! directions, so that a route cannot be added or removed without the document following.

use actix_web::HttpResponse;

/// The document, as kept in the repository.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// `GET /v1/openapi.json`
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("service/openapi.json is not valid JSON")
    }

    /// (METHOD, path) of every operation in the document.
    fn documented(doc: &Value) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("`paths` is an object") {
            for method in METHODS {
                if item.get(method).is_some() {
                    found.insert((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
        found
    }

    /// (METHOD, path) of every registered route; HEAD goes with GET and is left out.
    fn registered() -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, methods) in crate::api::route_table() {
            for method in methods.into_iter().filter(|m| *m != "HEAD") {
                found.insert((method.to_string(), path.clone()));
            }
        }
        found
    }

    #[test]
    fn every_registered_route_is_documented_and_every_documented_route_is_registered() {
        let (doc, served) = (documented(&document()), registered());
        let undocumented: Vec<_> = served.difference(&doc).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from service/openapi.json: {undocumented:?}"
        );
        let unserved: Vec<_> = doc.difference(&served).collect();
        assert!(
            unserved.is_empty(),
            "documented routes that configure() does not register: {unserved:?}"
        );
    }

    #[test]
    fn every_operation_declares_its_path_parameters_and_answers() {
        let doc = document();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1."))
        );
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let wanted: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let declared: BTreeSet<&str> = [&item["parameters"], &op["parameters"]]
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .map(|p| resolve(&doc, p))
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert_eq!(declared, wanted, "{method} {path}: path parameters");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path}: no responses"
                );
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                assert!(
                    ids.insert(id.to_string()),
                    "operationId `{id}` is used twice"
                );
            }
        }
    }

    /// Every operation with a JSON body declares the answers to a body the server refuses, and
    /// every 201 or 202 the `Location` header the server sends with it.
    #[test]
    fn bodies_declare_their_refusals_and_creations_their_location() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let responses = &op["responses"];
                if op.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        let answer = resolve(&doc, &responses[status]);
                        assert!(
                            answer["description"].is_string(),
                            "{method} {path}: a JSON body but no {status} answer"
                        );
                    }
                }
                for status in ["201", "202"] {
                    let Some(answer) = responses.get(status) else {
                        continue;
                    };
                    let location = resolve(&doc, &resolve(&doc, answer)["headers"]["Location"]);
                    assert!(
                        location["schema"]["type"] == "string",
                        "{method} {path}: {status} without a `Location` header"
                    );
                }
            }
        }
    }

    /// Where a 201 answer's `Location` points when it is not the created record's own path
    /// under the path the operation was posted to: a feature belongs to its product, and an
    /// activation registers a device that the admin API reads.
    const LOCATION_ELSEWHERE: [(&str, &str); 3] = [
        (
            "/v1/admin/products/{product}/features",
            "/v1/admin/products/{product}",
        ),
        (
            "/v1/activations",
            "/v1/admin/tenants/{tenant}/devices/{device}",
        ),
        (
            "/v1/activations/offline",
            "/v1/admin/tenants/{tenant}/devices/{device}",
        ),
    ];

    /// Every `Location` a creation answers can be read back with GET: for a POST to `X` that
    /// answers 201, `X/{id}` has a GET operation (or the path [`LOCATION_ELSEWHERE`] names);
    /// a 202 names a pending change, `/v1/admin/changes/{id}`.
    #[test]
    fn every_created_location_answers_get() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let readable = |path: &str| {
            paths
                .get(path)
                .is_some_and(|item| item.get("get").is_some())
        };
        let mut checked = 0;
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                if op["responses"].get("202").is_some() {
                    assert!(readable("/v1/admin/changes/{id}"), "{method} {path}: 202");
                }
                if op["responses"].get("201").is_none() {
                    continue;
                }
                assert_eq!(method, "post", "{path}: a 201 from {method}");
                checked += 1;
                if let Some((_, target)) = LOCATION_ELSEWHERE.iter().find(|(p, _)| p == path) {
                    assert!(readable(target), "POST {path}: no GET {target}");
                    continue;
                }
                let record: Vec<&String> = paths
                    .keys()
                    .filter(|p| {
                        p.strip_prefix(path.as_str())
                            .and_then(|rest| rest.strip_prefix("/{"))
                            .is_some_and(|rest| rest.ends_with('}') && !rest.contains('/'))
                    })
                    .collect();
                assert!(
                    record.iter().any(|p| readable(p)),
                    "POST {path} answers 201 but no `{path}/{{id}}` answers GET"
                );
            }
        }
        assert!(checked >= 9, "only {checked} creations were checked");
    }

    /// The `Problem` schema names every member a problem body can carry.
    #[actix_web::test]
    async fn the_problem_schema_names_every_member_the_server_sends() {
        use actix_web::ResponseError;

        let problem = crate::error::ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "ACTIVATION_REFUSED",
            "refused",
        )
        .with_errors(vec!["the licence key was revoked".into()])
        .with_reasons(vec!["LICENSE_KEY_REVOKED".into()])
        .with_retry_after(3);
        let body = actix_web::body::to_bytes(problem.error_response().into_body())
            .await
            .unwrap();
        let sent: Value = serde_json::from_slice(&body).unwrap();
        let doc = document();
        let schema = &doc["components"]["schemas"]["Problem"]["properties"];
        for member in sent.as_object().unwrap().keys() {
            assert!(
                schema[member]["description"].is_string() || schema[member]["type"].is_string(),
                "problem member `{member}` is not in the `Problem` schema"
            );
        }
        for member in ["errors", "reasons", "retry_after_seconds"] {
            assert!(
                schema[member]["description"].is_string(),
                "`{member}` is not described"
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let target = r.strip_prefix('#').map(|p| doc.pointer(p));
            assert!(matches!(target, Some(Some(_))), "`{r}` does not resolve");
        }
    }

    fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
            None => value,
        }
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
