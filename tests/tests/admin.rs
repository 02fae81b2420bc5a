//! The admin API for the commercial data and the second-admin approval flow, on SQLite and on
//! PostgreSQL: every test body runs once per backend.

mod common;

use common::{
    ACME_ADMIN_TOKEN, ACME_AUDITOR_TOKEN, ADMIN_TOKEN, AUDITOR_TOKEN, Answer, Backend,
    SECOND_ADMIN_TOKEN, TestApp, spawn,
};
use serde_json::{Value, json};

const T: &str = "/v1/admin/tenants";

/// Products `cad` (cad.view, cad.edit) and `sim` (sim.solve), tenants `acme` and `globex`, and
/// users `u-1`…`u-3` of `acme`, all through the API; each creation names its record's address.
async fn catalogue(app: &TestApp) {
    for product in [
        json!({ "id": "cad", "name": "CAD", "releases": [{ "version": "2.0.0" }],
                "features": [{ "id": "cad.view", "name": "View" }, { "id": "cad.edit", "name": "Edit" }] }),
        json!({ "id": "sim", "name": "Sim", "features": [{ "id": "sim.solve", "name": "Solve" }] }),
    ] {
        let answer = app
            .post_as(ADMIN_TOKEN, "/v1/admin/products", &product)
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let id = product["id"].as_str().unwrap();
        assert_eq!(
            answer.location.as_deref(),
            Some(format!("/v1/admin/products/{id}").as_str())
        );
    }
    for tenant in ["acme", "globex"] {
        let answer = app
            .post_as(ADMIN_TOKEN, T, &json!({ "id": tenant, "name": tenant }))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        assert_eq!(answer.location, Some(format!("{T}/{tenant}")));
    }
    for user in ["u-1", "u-2", "u-3"] {
        let body = json!({ "id": user, "display_name": user });
        let answer = app
            .post_as(ADMIN_TOKEN, &format!("{T}/acme/users"), &body)
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        assert_eq!(answer.location, Some(format!("{T}/acme/users/{user}")));
    }
}

/// A valid entitlement of `cad` with `seats`, for prod only.
fn entitlement(id: &str, seats: i64) -> Value {
    json!({
        "id": id, "product": "cad", "model": "named_user", "seats": seats,
        "features": ["cad.view"], "environments": ["prod"],
        "starts_at": "2020-01-01", "expires_at": "2099-01-01T00:00:00Z",
        "min_version": "1.0.0", "max_version": "3.0.0",
        "reason": "new contract", "ticket": "CRM-1",
    })
}

async fn decide(app: &TestApp, env: &str) -> Answer {
    app.decide(&json!({
        "tenant": "acme",
        "principal": { "type": "User", "id": "u-1" },
        "action": "use",
        "resource": { "type": "Feature", "id": "cad.view" },
        "context": { "product_version": "2.0.0", "environment": env },
    }))
    .await
}

/// Audit events of `acme` with `action`.
async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    let answer = app
        .get_as(AUDITOR_TOKEN, "/v1/audit/events?tenant=acme&limit=1000")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn an_entitlement_made_through_the_api_allows_a_decision(app: TestApp) {
    catalogue(&app).await;
    assert_eq!(
        decide(&app, "prod").await.body["reasons"],
        json!(["NOT_ENTITLED"])
    );

    let answer = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements"),
            &entitlement("e-1", 5),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.location, Some(format!("{T}/acme/entitlements/e-1")));
    assert_eq!(answer.body["starts_at"], "2020-01-01T00:00:00Z");
    assert_eq!(answer.body["seats_assigned"], 0);

    let decision = decide(&app, "prod").await;
    assert_eq!(decision.body["decision"], "allow", "{}", decision.text);
    assert_eq!(decision.body["entitlement"], "e-1");

    let created = events(&app, "entitlement.create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["actor"], "test-admin");
    assert_eq!(created[0]["reason"], "new contract");
    assert_eq!(created[0]["ticket"], "CRM-1");
    assert!(
        created[0]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(created[0]["after"]["seats"], 5);

    let read = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/e-1"))
        .await;
    assert_eq!(read.body["features"], json!(["cad.view"]));
    let product = app.get_as(AUDITOR_TOKEN, "/v1/admin/products/cad").await;
    assert_eq!(product.body["features"].as_array().unwrap().len(), 2);
    assert_eq!(product.body["releases"][0]["version"], "2.0.0");

    // A direct change (no approval needed) is seen by the next decision.
    let path = format!("{T}/acme/entitlements/e-1");
    let changed = app
        .patch_as(ADMIN_TOKEN, &path, &json!({ "status": "suspended" }))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(decide(&app, "prod").await.body["decision"], "deny");
}

#[actix_web::test]
async fn an_entitlement_made_through_the_api_allows_a_decision_on_sqlite() {
    an_entitlement_made_through_the_api_allows_a_decision(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn an_entitlement_made_through_the_api_allows_a_decision_on_postgres() {
    an_entitlement_made_through_the_api_allows_a_decision(spawn(Backend::Postgres)).await;
}

async fn validation_lists_every_problem_and_writes_nothing(app: TestApp) {
    catalogue(&app).await;
    let bad = json!({
        "id": "e-bad", "product": "cad", "model": "subscription", "seats": 0,
        "features": ["cad.view", "cad.nope", "sim.solve"], "environments": [],
        "starts_at": "2026-02-01", "expires_at": "2026-01-01", "grace_days": -1,
        "min_version": "3.0.0", "max_version": "2.0.0",
    });
    let answer = app
        .post_as(ADMIN_TOKEN, &format!("{T}/acme/entitlements"), &bad)
        .await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["code"], "VALIDATION_FAILED");
    let errors: Vec<&str> = answer.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for field in [
        "field `model`",
        "field `seats`",
        "feature `cad.nope` is not defined",
        "feature `sim.solve` belongs to product `sim`",
        "field `environments`",
        "field `expires_at`",
        "field `grace_days`",
        "field `max_version`",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{field} in {errors:?}"
        );
    }
    assert_eq!(errors.len(), 8, "{errors:?}");

    let unknown = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements"),
            &json!({ "colour": "red" }),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (422, Some("INVALID_REQUEST"))
    );

    // Roles come from an import file only; the message says so.
    let developer = json!({ "id": "u-dev", "display_name": "Dev", "roles": ["dev"] });
    let refused = app
        .post_as(ADMIN_TOKEN, &format!("{T}/acme/users"), &developer)
        .await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );
    assert_eq!(
        refused.body["errors"][0],
        "tenant `acme`, user `u-dev`, field `roles`: role `dev` is not defined; roles are \
         defined under `roles:` of a file loaded with `licet import`",
        "{}",
        refused.text
    );

    let listed = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements"))
        .await;
    assert_eq!(listed.body, json!({ "items": [], "next": null }));
    assert!(events(&app, "entitlement.create").await.is_empty());
}

#[actix_web::test]
async fn validation_lists_every_problem_and_writes_nothing_on_sqlite() {
    validation_lists_every_problem_and_writes_nothing(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn validation_lists_every_problem_and_writes_nothing_on_postgres() {
    validation_lists_every_problem_and_writes_nothing(spawn(Backend::Postgres)).await;
}

async fn existing_ids_are_conflicts(app: TestApp) {
    catalogue(&app).await;
    let ent = format!("{T}/acme/entitlements");
    assert_eq!(
        app.post_as(ADMIN_TOKEN, &ent, &entitlement("e-1", 1))
            .await
            .status,
        201
    );
    let cases = [
        (
            T.to_string(),
            json!({ "id": "acme", "name": "Again" }),
            "TENANT_EXISTS",
        ),
        (
            "/v1/admin/products".into(),
            json!({ "id": "cad", "name": "Again" }),
            "PRODUCT_EXISTS",
        ),
        (
            "/v1/admin/products/sim/features".into(),
            json!({ "id": "cad.view", "name": "Again" }),
            "FEATURE_EXISTS",
        ),
        (
            format!("{T}/acme/users"),
            json!({ "id": "u-1", "display_name": "Again" }),
            "USER_EXISTS",
        ),
        (ent.clone(), entitlement("e-1", 1), "ENTITLEMENT_EXISTS"),
    ];
    for (path, body, code) in cases {
        let answer = app.post_as(ADMIN_TOKEN, &path, &body).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (409, Some(code)),
            "{path}"
        );
    }
    let missing = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/nope"))
        .await;
    assert_eq!(
        (missing.status, missing.body["code"].as_str()),
        (404, Some("ENTITLEMENT_NOT_FOUND"))
    );
    let missing = app.get_as(AUDITOR_TOKEN, &format!("{T}/nope/users")).await;
    assert_eq!(missing.body["code"], "TENANT_NOT_FOUND");

    // Under an unknown tenant, the tenant is what is missing, not the entitlement or seat.
    let gone = format!("{T}/nope/entitlements/e-1");
    let answers = [
        app.get_as(AUDITOR_TOKEN, &gone).await,
        app.get_as(AUDITOR_TOKEN, &format!("{gone}/seats")).await,
        app.post_as(
            ADMIN_TOKEN,
            &format!("{gone}/seats"),
            &json!({ "user": "u-1" }),
        )
        .await,
        app.send_as(
            "DELETE",
            ADMIN_TOKEN,
            &format!("{gone}/seats/u-1"),
            &json!({}),
        )
        .await,
    ];
    for answer in answers {
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (404, Some("TENANT_NOT_FOUND")),
            "{}",
            answer.text
        );
    }
}

#[actix_web::test]
async fn existing_ids_are_conflicts_on_sqlite() {
    existing_ids_are_conflicts(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn existing_ids_are_conflicts_on_postgres() {
    existing_ids_are_conflicts(spawn(Backend::Postgres)).await;
}

async fn the_seat_limit_holds_under_concurrent_assignments(app: TestApp) {
    catalogue(&app).await;
    let ent = format!("{T}/acme/entitlements");
    assert_eq!(
        app.post_as(ADMIN_TOKEN, &ent, &entitlement("e-1", 2))
            .await
            .status,
        201
    );
    let seats = format!("{ent}/e-1/seats");

    // Three users ask at once for two seats: exactly two get one.
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = ["u-1", "u-2", "u-3"]
        .into_iter()
        .map(|user| {
            let (app, seats) = (app.clone(), seats.clone());
            actix_web::rt::spawn(async move {
                app.post_as(ADMIN_TOKEN, &seats, &json!({ "user": user }))
                    .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        if answer.status == 409 {
            assert_eq!(answer.body["code"], "SEAT_LIMIT_REACHED");
        }
        statuses.push(answer.status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 409]);

    let held = app.get_as(AUDITOR_TOKEN, &seats).await;
    let holders: Vec<String> = held.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(holders.len(), 2);
    assert_eq!(events(&app, "seat.assign").await.len(), 2);

    let again = app
        .post_as(ADMIN_TOKEN, &seats, &json!({ "user": holders[0] }))
        .await;
    assert_eq!(again.body["code"], "SEAT_ALREADY_ASSIGNED");
    let fewer = app
        .patch_as(ADMIN_TOKEN, &format!("{ent}/e-1"), &json!({ "seats": 1 }))
        .await;
    assert_eq!(
        (fewer.status, fewer.body["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );

    let released = app
        .send_as(
            "DELETE",
            ADMIN_TOKEN,
            &format!("{seats}/{}", holders[0]),
            &json!({ "reason": "left the company" }),
        )
        .await;
    assert_eq!(released.status, 204, "{}", released.text);
    let release = events(&app, "seat.release").await;
    assert_eq!(release[0]["reason"], "left the company");
    let third = if holders.contains(&"u-3".to_string()) {
        "u-1"
    } else {
        "u-3"
    };
    let seat = app
        .post_as(ADMIN_TOKEN, &seats, &json!({ "user": third }))
        .await;
    assert_eq!(seat.status, 201, "{}", seat.text);
    assert_eq!(seat.location, Some(format!("{seats}/{third}")));
    let fourth = json!({ "id": "u-4", "display_name": "Four" });
    let made = app
        .post_as(ADMIN_TOKEN, &format!("{T}/acme/users"), &fourth)
        .await;
    assert_eq!(made.status, 201);
    let full = app
        .post_as(ADMIN_TOKEN, &seats, &json!({ "user": "u-4" }))
        .await;
    assert_eq!(full.body["code"], "SEAT_LIMIT_REACHED");
    let unknown = app
        .post_as(ADMIN_TOKEN, &seats, &json!({ "user": "u-9" }))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("USER_NOT_FOUND"))
    );
}

#[actix_web::test]
async fn the_seat_limit_holds_under_concurrent_assignments_on_sqlite() {
    the_seat_limit_holds_under_concurrent_assignments(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn the_seat_limit_holds_under_concurrent_assignments_on_postgres() {
    the_seat_limit_holds_under_concurrent_assignments(spawn(Backend::Postgres)).await;
}

async fn tokens_are_held_to_their_role_and_tenant(app: TestApp) {
    catalogue(&app).await;
    assert_eq!(
        app.get_as(AUDITOR_TOKEN, T).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for (status, answer) in [
        (
            403,
            app.post_as(AUDITOR_TOKEN, T, &json!({ "id": "x", "name": "X" }))
                .await,
        ),
        (
            403,
            app.patch_as(AUDITOR_TOKEN, &format!("{T}/acme"), &json!({ "name": "X" }))
                .await,
        ),
        (
            403,
            app.post_as(
                AUDITOR_TOKEN,
                &format!("{T}/acme/entitlements"),
                &entitlement("e", 1),
            )
            .await,
        ),
        (
            401,
            app.post_as("licet_nope", T, &json!({ "id": "x", "name": "X" }))
                .await,
        ),
    ] {
        assert_eq!(answer.status, status, "{}", answer.text);
    }

    // A 401 tells the caller how to authenticate (RFC 6750).
    let wrong = app.get_as("licet_nope", T).await;
    assert_eq!(
        (wrong.status, wrong.www_authenticate.as_deref()),
        (401, Some(r#"Bearer error="invalid_token""#))
    );
    let missing = app.get(T).await;
    assert_eq!(
        (missing.status, missing.www_authenticate.as_deref()),
        (401, Some("Bearer"))
    );
    assert_eq!(missing.body["code"], "UNAUTHENTICATED");

    // A token limited to acme sees acme only, and may not create tenants or products.
    let own = app.get_as(ACME_AUDITOR_TOKEN, T).await;
    assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(own.body["items"][0]["id"], "acme");
    assert_eq!(
        app.get_as(ACME_AUDITOR_TOKEN, &format!("{T}/globex"))
            .await
            .status,
        403
    );
    assert_eq!(
        app.get_as(ACME_AUDITOR_TOKEN, &format!("{T}/globex/users"))
            .await
            .status,
        403
    );
    let other = app
        .post_as(
            ACME_ADMIN_TOKEN,
            &format!("{T}/globex/entitlements"),
            &entitlement("e", 1),
        )
        .await;
    assert_eq!(other.status, 403);
    let mine = app
        .post_as(
            ACME_ADMIN_TOKEN,
            &format!("{T}/acme/entitlements"),
            &entitlement("e", 1),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    assert_eq!(
        app.post_as(ACME_ADMIN_TOKEN, T, &json!({ "id": "x", "name": "X" }))
            .await
            .status,
        403
    );
    let off = app
        .patch_as(
            ACME_ADMIN_TOKEN,
            &format!("{T}/acme"),
            &json!({ "require_approval": true }),
        )
        .await;
    assert_eq!(off.status, 403);
}

#[actix_web::test]
async fn tokens_are_held_to_their_role_and_tenant_on_sqlite() {
    tokens_are_held_to_their_role_and_tenant(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn tokens_are_held_to_their_role_and_tenant_on_postgres() {
    tokens_are_held_to_their_role_and_tenant(spawn(Backend::Postgres)).await;
}

/// GET of `path` with the auditor token: 200, and the body.
async fn read(app: &TestApp, path: &str) -> Value {
    let answer = app.get_as(AUDITOR_TOKEN, path).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.text);
    answer.body
}

/// Every `Location` a creation answers can be read with GET, and shows what was created; an
/// unknown tenant or record is a 404 naming which, and a token of another tenant is refused.
async fn every_created_record_is_read_at_its_location(app: TestApp) {
    catalogue(&app).await;
    assert_eq!(read(&app, &format!("{T}/acme")).await["id"], "acme");
    assert_eq!(read(&app, "/v1/admin/products/sim").await["id"], "sim");

    let feature = app
        .post_as(
            ADMIN_TOKEN,
            "/v1/admin/products/sim/features",
            &json!({ "id": "sim.mesh", "name": "Mesh" }),
        )
        .await;
    assert_eq!(feature.status, 201, "{}", feature.text);
    let product = read(&app, feature.location.as_deref().unwrap()).await;
    assert!(
        product["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "sim.mesh"),
        "{product}"
    );

    let body = json!({ "id": "u-4", "display_name": "Ada", "email": "ada@example.com" });
    let user = app
        .post_as(ADMIN_TOKEN, &format!("{T}/acme/users"), &body)
        .await;
    assert_eq!(user.status, 201, "{}", user.text);
    let location = user.location.clone().unwrap();
    assert_eq!(location, format!("{T}/acme/users/u-4"));
    let shown = read(&app, &location).await;
    assert_eq!(shown, user.body);
    assert_eq!(
        (&shown["id"], &shown["display_name"], &shown["email"]),
        (&json!("u-4"), &json!("Ada"), &json!("ada@example.com"))
    );
    assert_eq!(shown["status"], "active");
    let users = read(&app, &format!("{T}/acme/users")).await;
    assert_eq!(users["items"][3], shown);

    let made = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements"),
            &entitlement("e-1", 2),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let shown = read(&app, made.location.as_deref().unwrap()).await;
    assert_eq!((&shown["id"], &shown["seats"]), (&json!("e-1"), &json!(2)));

    let seats = format!("{T}/acme/entitlements/e-1/seats");
    let seat = app
        .post_as(ADMIN_TOKEN, &seats, &json!({ "user": "u-4" }))
        .await;
    assert_eq!(seat.status, 201, "{}", seat.text);
    let location = seat.location.clone().unwrap();
    assert_eq!(location, format!("{seats}/u-4"));
    let shown = read(&app, &location).await;
    assert_eq!(shown, seat.body);
    assert_eq!(shown["user"], "u-4");
    assert!(shown["assigned_at"].is_string(), "{shown}");
    assert_eq!(read(&app, &seats).await["items"], json!([shown.clone()]));

    // A token limited to acme reads acme's records and no other tenant's.
    let own = app.get_as(ACME_AUDITOR_TOKEN, &location).await;
    assert_eq!((own.status, &own.body), (200, &shown));
    let own = app
        .get_as(ACME_AUDITOR_TOKEN, &format!("{T}/acme/users/u-4"))
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    for path in [
        format!("{T}/globex/users/u-4"),
        format!("{T}/globex/entitlements/e-1/seats/u-4"),
    ] {
        let other = app.get_as(ACME_AUDITOR_TOKEN, &path).await;
        assert_eq!(
            (other.status, other.body["code"].as_str()),
            (403, Some("FORBIDDEN")),
            "{path}"
        );
    }

    // A seat given back is gone from its address.
    let released = app
        .send_as("DELETE", ADMIN_TOKEN, &location, &json!({}))
        .await;
    assert_eq!(released.status, 204, "{}", released.text);

    for (path, code) in [
        (format!("{T}/acme/users/nobody"), "USER_NOT_FOUND"),
        (format!("{T}/nobody/users/u-4"), "TENANT_NOT_FOUND"),
        (format!("{seats}/u-4"), "SEAT_NOT_FOUND"),
        (format!("{seats}/u-1"), "SEAT_NOT_FOUND"),
        (
            format!("{T}/acme/entitlements/nope/seats/u-4"),
            "ENTITLEMENT_NOT_FOUND",
        ),
        (
            format!("{T}/nobody/entitlements/e-1/seats/u-4"),
            "TENANT_NOT_FOUND",
        ),
    ] {
        let missing = app.get_as(AUDITOR_TOKEN, &path).await;
        assert_eq!(
            (missing.status, missing.body["code"].as_str()),
            (404, Some(code)),
            "{path}: {}",
            missing.text
        );
    }
    let query = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/users/u-4?limit=1"))
        .await;
    assert_eq!(
        (query.status, query.body["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
}

#[actix_web::test]
async fn every_created_record_is_read_at_its_location_on_sqlite() {
    every_created_record_is_read_at_its_location(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn every_created_record_is_read_at_its_location_on_postgres() {
    every_created_record_is_read_at_its_location(spawn(Backend::Postgres)).await;
}

/// `acme` with entitlement `e-1` (prod only) and approval switched on.
async fn approval_required(app: &TestApp) {
    catalogue(app).await;
    let ent = format!("{T}/acme/entitlements");
    assert_eq!(
        app.post_as(ADMIN_TOKEN, &ent, &entitlement("e-1", 5))
            .await
            .status,
        201
    );
    let on = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme"),
            &json!({ "require_approval": true, "reason": "SOX" }),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    assert_eq!(on.body["require_approval"], true);
    let switched = events(app, "tenant.require_approval").await;
    assert_eq!(switched[0]["after"], json!({ "require_approval": true }));
}

/// Asks for `e-1` to cover `test` too; answers the pending change.
async fn request_test_environment(app: &TestApp) -> Value {
    let answer = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements/e-1"),
            &json!({ "environments": ["prod", "test"], "expires_at": "2100-01-01", "reason": "renewal" }),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["status"], "pending");
    assert_eq!(answer.body["kind"], "entitlement.update");
    assert_eq!(
        answer.body["object"],
        json!({ "type": "entitlement", "id": "e-1" })
    );
    assert_eq!(answer.body["requested_by"], "test-admin");
    assert_eq!(
        answer.body["payload"]["after"]["environments"],
        json!(["prod", "test"])
    );
    answer.body
}

async fn a_second_admin_approves_a_change_before_decisions_see_it(app: TestApp) {
    approval_required(&app).await;
    let change = request_test_environment(&app).await;
    let id = change["id"].as_str().unwrap();

    // Pending: nothing applied.
    assert_eq!(
        decide(&app, "test").await.body["reasons"],
        json!(["ENVIRONMENT_NOT_ENTITLED"])
    );
    let stored = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/e-1"))
        .await;
    assert_eq!(stored.body["environments"], json!(["prod"]));
    let pending = app
        .get_as(
            AUDITOR_TOKEN,
            "/v1/admin/changes?tenant=acme&status=pending",
        )
        .await;
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(events(&app, "change.request").await.len(), 1);

    let own = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (own.status, own.body["code"].as_str()),
        (403, Some("SELF_APPROVAL"))
    );
    let auditor = app
        .post_as(
            AUDITOR_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(auditor.status, 403);

    let approved = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({ "note": "checked the contract" }),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["decided_by"], "second-admin");
    assert_eq!(approved.body["decision_note"], "checked the contract");

    let decision = decide(&app, "test").await;
    assert_eq!(decision.body["decision"], "allow", "{}", decision.text);

    let again = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("CHANGE_ALREADY_DECIDED"))
    );

    let approve = events(&app, "change.approve").await;
    assert_eq!(approve.len(), 1);
    assert_eq!(approve[0]["actor"], "second-admin");
    let update = events(&app, "entitlement.update").await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0]["actor"], "test-admin");
    assert_eq!(update[0]["reason"], "renewal");
    assert_eq!(update[0]["request_id"], approve[0]["request_id"]);
    assert_eq!(update[0]["after"]["expires_at"], "2100-01-01T00:00:00");
}

#[actix_web::test]
async fn a_second_admin_approves_a_change_before_decisions_see_it_on_sqlite() {
    a_second_admin_approves_a_change_before_decisions_see_it(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn a_second_admin_approves_a_change_before_decisions_see_it_on_postgres() {
    a_second_admin_approves_a_change_before_decisions_see_it(spawn(Backend::Postgres)).await;
}

async fn a_rejected_change_leaves_the_entitlement_unchanged(app: TestApp) {
    approval_required(&app).await;
    let change = request_test_environment(&app).await;
    let id = change["id"].as_str().unwrap();
    let before = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/e-1"))
        .await;

    let rejected = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/reject"),
            &json!({ "note": "no PO" }),
        )
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.body["status"], "rejected");

    let after = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/e-1"))
        .await;
    assert_eq!(after.body, before.body);
    assert_eq!(
        decide(&app, "test").await.body["reasons"],
        json!(["ENVIRONMENT_NOT_ENTITLED"])
    );
    assert_eq!(events(&app, "change.reject").await.len(), 1);
    assert!(events(&app, "entitlement.update").await.is_empty());
    let late = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(late.body["code"], "CHANGE_ALREADY_DECIDED");

    // A new entitlement waits too.
    let created = app
        .post_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements"),
            &entitlement("e-2", 1),
        )
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    assert_eq!(created.body["kind"], "entitlement.create");
    let missing = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/acme/entitlements/e-2"))
        .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn a_rejected_change_leaves_the_entitlement_unchanged_on_sqlite() {
    a_rejected_change_leaves_the_entitlement_unchanged(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn a_rejected_change_leaves_the_entitlement_unchanged_on_postgres() {
    a_rejected_change_leaves_the_entitlement_unchanged(spawn(Backend::Postgres)).await;
}

/// Asks, as the first admin, to switch approval of `acme` off and rename it; answers the
/// pending change.
async fn request_approval_off(app: &TestApp) -> Value {
    let answer = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme"),
            &json!({ "require_approval": false, "name": "Acme Corp", "reason": "audit closed" }),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["status"], "pending");
    assert_eq!(answer.body["kind"], "tenant.update");
    assert_eq!(
        answer.body["object"],
        json!({ "type": "tenant", "id": "acme" })
    );
    assert_eq!(
        answer.body["payload"]["after"]["require_approval"],
        json!(false)
    );
    assert_eq!(answer.body["payload"]["after"]["name"], "Acme Corp");
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(
        answer.location.as_deref(),
        Some(format!("/v1/admin/changes/{id}").as_str())
    );
    answer.body
}

async fn switching_approval_off_waits_for_a_second_admin(app: TestApp) {
    approval_required(&app).await;
    let change = request_approval_off(&app).await;
    let id = change["id"].as_str().unwrap();

    // Pending: the tenant is unchanged and entitlement changes still wait.
    let tenant = app.get_as(AUDITOR_TOKEN, &format!("{T}/acme")).await;
    assert_eq!(tenant.body["require_approval"], true);
    assert_eq!(tenant.body["name"], "acme");
    let waiting = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements/e-1"),
            &json!({ "seats": 6 }),
        )
        .await;
    assert_eq!(waiting.status, 202, "{}", waiting.text);

    let own = app
        .post_as(
            ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (own.status, own.body["code"].as_str()),
        (403, Some("SELF_APPROVAL"))
    );
    let limited = app
        .post_as(
            ACME_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (limited.status, limited.body["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );

    let approved = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{id}/approve"),
            &json!({ "note": "audit report seen" }),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["status"], "approved");
    let tenant = app.get_as(AUDITOR_TOKEN, &format!("{T}/acme")).await;
    assert_eq!(tenant.body["require_approval"], false);
    assert_eq!(tenant.body["name"], "Acme Corp");

    let switched = events(&app, "tenant.require_approval").await;
    let off: Vec<&Value> = switched
        .iter()
        .filter(|e| e["after"] == json!({ "require_approval": false }))
        .collect();
    assert_eq!(off.len(), 1);
    assert_eq!(off[0]["actor"], "test-admin");
    assert_eq!(off[0]["reason"], "audit closed");
    assert_eq!(
        events(&app, "change.approve").await[0]["actor"],
        "second-admin"
    );

    // Now a single admin changes entitlements directly.
    let direct = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme/entitlements/e-1"),
            &json!({ "seats": 7 }),
        )
        .await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    assert_eq!(direct.body["seats"], 7);
}

#[actix_web::test]
async fn switching_approval_off_waits_for_a_second_admin_on_sqlite() {
    switching_approval_off_waits_for_a_second_admin(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn switching_approval_off_waits_for_a_second_admin_on_postgres() {
    switching_approval_off_waits_for_a_second_admin(spawn(Backend::Postgres)).await;
}

async fn a_rejected_or_outdated_approval_switch_keeps_approval_on(app: TestApp) {
    approval_required(&app).await;
    let first = request_approval_off(&app).await;
    let first = first["id"].as_str().unwrap();

    // The tenant changed after the request: approving it is refused.
    let renamed = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme"),
            &json!({ "name": "Acme Ltd" }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let outdated = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{first}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (outdated.status, outdated.body["code"].as_str()),
        (409, Some("CHANGE_OUTDATED"))
    );

    let rejected = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{first}/reject"),
            &json!({ "note": "no" }),
        )
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.body["status"], "rejected");
    let tenant = app.get_as(AUDITOR_TOKEN, &format!("{T}/acme")).await;
    assert_eq!(tenant.body["require_approval"], true);
    assert_eq!(tenant.body["name"], "Acme Ltd");
    assert_eq!(events(&app, "change.reject").await.len(), 1);

    // Switching it on again while it is on changes nothing and needs no one else.
    let on = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{T}/acme"),
            &json!({ "require_approval": true }),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    let late = app
        .post_as(
            SECOND_ADMIN_TOKEN,
            &format!("/v1/admin/changes/{first}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(late.body["code"], "CHANGE_ALREADY_DECIDED");
}

#[actix_web::test]
async fn a_rejected_or_outdated_approval_switch_keeps_approval_on_on_sqlite() {
    a_rejected_or_outdated_approval_switch_keeps_approval_on(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn a_rejected_or_outdated_approval_switch_keeps_approval_on_on_postgres() {
    a_rejected_or_outdated_approval_switch_keeps_approval_on(spawn(Backend::Postgres)).await;
}

async fn bodies_are_read_strictly_and_lists_are_sets(app: TestApp) {
    catalogue(&app).await;
    let ent = format!("{T}/acme/entitlements");
    let mut twice = entitlement("e-1", 2);
    twice["environments"] = json!(["test", "prod", "prod"]);
    twice["features"] = json!(["cad.view", "cad.view"]);
    let created = app.post_as(ADMIN_TOKEN, &ent, &twice).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["environments"], json!(["prod", "test"]));
    assert_eq!(created.body["features"], json!(["cad.view"]));
    let patched = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{ent}/e-1"),
            &json!({ "environments": ["prod", "prod"] }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let stored = app.get_as(AUDITOR_TOKEN, &format!("{ent}/e-1")).await;
    assert_eq!(stored.body["environments"], json!(["prod"]));

    // The import stores them the same way.
    app.import_text(
        r#"
products:
  - id: cad
    name: CAD
    features:
      - { id: cad.view, name: View }
      - { id: cad.edit, name: Edit }
tenants:
  - id: initech
    name: Initech
    entitlements:
      - { id: e-9, product: cad, model: device, seats: 1, features: [cad.view, cad.view], environments: [prod, prod], starts_at: "2020-01-01", expires_at: "2099-01-01" }
"#,
    )
    .await;
    let imported = app
        .get_as(AUDITOR_TOKEN, &format!("{T}/initech/entitlements/e-9"))
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text);
    assert_eq!(imported.body["environments"], json!(["prod"]));
    assert_eq!(imported.body["features"], json!(["cad.view"]));

    // `null` is refused on a PATCH field that cannot be empty, accepted on a version bound.
    for (path, body, field) in [
        (format!("{ent}/e-1"), json!({ "seats": null }), "seats"),
        (
            format!("{ent}/e-1"),
            json!({ "features": null }),
            "features",
        ),
        (format!("{T}/acme"), json!({ "name": null }), "name"),
        (
            format!("{T}/acme"),
            json!({ "require_approval": null }),
            "require_approval",
        ),
    ] {
        let answer = app.patch_as(ADMIN_TOKEN, &path, &body).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("INVALID_REQUEST")),
            "{}",
            answer.text
        );
        assert_eq!(
            answer.body["detail"],
            format!(
                "the request does not have the expected shape: `{field}` may not be null; \
                 leave a field out to keep its stored value"
            )
        );
    }
    let stored = app.get_as(AUDITOR_TOKEN, &format!("{ent}/e-1")).await;
    assert_eq!(stored.body["seats"], 2);
    let unbounded = app
        .patch_as(
            ADMIN_TOKEN,
            &format!("{ent}/e-1"),
            &json!({ "max_version": null }),
        )
        .await;
    assert_eq!(unbounded.status, 200, "{}", unbounded.text);
    assert_eq!(unbounded.body["max_version"], Value::Null);

    // An unknown field names every field the body may have.
    let unknown = app
        .post_as(
            ADMIN_TOKEN,
            T,
            &json!({ "id": "x", "name": "X", "extra": 1 }),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert_eq!(
        unknown.body["detail"],
        "the request does not have the expected shape: unknown field `extra`, expected one of \
         `id`, `name`, `status`, `require_approval`, `reason`, `ticket`"
    );
}

#[actix_web::test]
async fn bodies_are_read_strictly_and_lists_are_sets_on_sqlite() {
    bodies_are_read_strictly_and_lists_are_sets(spawn(Backend::Sqlite)).await;
}

#[actix_web::test]
async fn bodies_are_read_strictly_and_lists_are_sets_on_postgres() {
    bodies_are_read_strictly_and_lists_are_sets(spawn(Backend::Postgres)).await;
}

#[actix_web::test]
async fn the_openapi_document_is_served_as_json() {
    let app = spawn(Backend::Sqlite);
    let answer = app.get("/v1/openapi.json").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.body["openapi"], "3.1.0");
    assert!(answer.body["paths"]["/v1/admin/changes/{id}/approve"]["post"].is_object());
    let wrong = app.post_json("/v1/openapi.json", &json!({})).await;
    assert_eq!(
        (wrong.status, wrong.allow.as_deref()),
        (405, Some("GET, HEAD"))
    );
}
