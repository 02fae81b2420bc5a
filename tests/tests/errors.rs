//! Every bad input gets an `application/problem+json` answer with a stable code and status.

mod common;

use common::{Backend, device_request, spawn};
use serde_json::json;

#[actix_web::test]
async fn bad_inputs_get_problem_answers() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;

    let mut bad_version = device_request("acme", "d-7f3a", "cad.export", "2.x", "prod");
    let mut missing_context = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
    missing_context.as_object_mut().unwrap().remove("context");
    let mut printer = device_request("acme", "d-7f3a", "cad.export", "2.4.1", "prod");
    printer["principal"]["type"] = json!("Printer");
    // Serde would read a struct from an array; the API refuses anything but an object.
    let array_body = r#"["acme",{"type":"Device","id":"d-7f3a"},"use",{"type":"Feature","id":"cad.export"},{"product_version":"2.4.1","environment":"prod"},null]"#.to_string();
    let huge = format!("{{\"tenant\":\"{}\"}}", "a".repeat(70 * 1024));

    let cases = vec![
        (
            app.decide(&device_request(
                "nope",
                "d-7f3a",
                "cad.export",
                "2.4.1",
                "prod",
            ))
            .await,
            404,
            "TENANT_NOT_FOUND",
        ),
        (
            app.decide(&device_request(
                "acme",
                "g-ws-01",
                "cad.export",
                "3.1.0",
                "prod",
            ))
            .await,
            404,
            "PRINCIPAL_NOT_FOUND",
        ),
        (
            app.decide(&device_request(
                "acme", "d-7f3a", "cad.nope", "2.4.1", "prod",
            ))
            .await,
            404,
            "FEATURE_NOT_FOUND",
        ),
        (app.decide(&bad_version).await, 400, "INVALID_VERSION"),
        (
            app.post_raw("/v1/decisions", "application/json", "{\"tenant\": ".into())
                .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            app.post_raw("/v1/decisions", "application/json", huge)
                .await,
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            app.post_raw("/v1/decisions", "text/plain", "{}".into())
                .await,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (app.decide(&missing_context).await, 422, "INVALID_REQUEST"),
        (app.decide(&printer).await, 422, "INVALID_FIELD"),
        (app.get("/v1/decisions").await, 405, "METHOD_NOT_ALLOWED"),
        (app.get("/v1/nothing-here").await, 404, "NOT_FOUND"),
        (
            app.post_json("/healthz", &json!({})).await,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            app.post_raw("/v1/decisions", "application/json", array_body)
                .await,
            422,
            "INVALID_REQUEST",
        ),
    ];
    for (answer, status, code) in cases {
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            answer.text
        );
        assert_eq!(answer.content_type, "application/problem+json");
        assert_eq!(answer.body["status"], status);
        assert!(!answer.body["detail"].as_str().unwrap().is_empty());
    }

    bad_version["context"]["product_version"] = json!("two");
    let answer = app.decide(&bad_version).await;
    assert_eq!(
        answer.body["detail"],
        "field `context.product_version`: `two` is not a semantic version such as `2.4.1`"
    );
}

#[actix_web::test]
async fn the_service_keeps_answering_after_bad_input() {
    let app = spawn(Backend::Sqlite);
    app.load_demo().await;
    for _ in 0..3 {
        app.post_raw("/v1/decisions", "application/json", "[[[[".into())
            .await;
    }
    let answer = app
        .decide(&device_request(
            "acme",
            "d-7f3a",
            "cad.export",
            "2.4.1",
            "prod",
        ))
        .await;
    assert_eq!(answer.body["decision"], "allow");
}

#[actix_web::test]
async fn read_only_routes_name_the_allowed_methods() {
    let app = spawn(Backend::Sqlite);
    let answer = app.post_json("/metrics", &json!({})).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.allow.as_deref(), Some("GET, HEAD"));
    assert_eq!(
        app.post_json("/v1/policies/active", &json!({}))
            .await
            .allow
            .as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        app.get("/v1/decisions").await.allow.as_deref(),
        Some("POST")
    );
}

#[actix_web::test]
async fn a_body_that_never_finishes_is_answered_408_within_the_request_timeout() {
    use std::io::{Read, Write};

    let app = common::spawn_with(Backend::Sqlite, |c| c.server.request_timeout_seconds = 1);
    let address = app.base.trim_start_matches("http://").to_string();
    let started = std::time::Instant::now();
    let reply = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        stream
            .write_all(b"POST /v1/decisions HTTP/1.1\r\nhost: x\r\nx-request-id: slow-client-1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"tenant\"")
            .unwrap();
        let mut reply = vec![0; 4096];
        let n = stream.read(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"code\":\"REQUEST_TIMEOUT\""), "{reply}");
    assert!(reply.contains("x-request-id: slow-client-1\r\n"), "{reply}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
