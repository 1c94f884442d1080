//! Health, metrics, OpenAPI and the JSON 404.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[actix_web::test]
async fn health_names_every_backend() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (s, b) = app.call(Method::GET, "/api/health", None, None).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["status"], "ok");
        let kinds: Vec<&str> =
            ["database", "kv", "queue"].iter().map(|k| b["backends"][k]["kind"].as_str().unwrap()).collect();
        match set {
            BackendSet::Embedded => assert_eq!(kinds, ["sqlite", "redb", "local"]),
            BackendSet::Postgres => assert_eq!(kinds, ["postgres", "redis", "rabbitmq"]),
            BackendSet::MySql => assert_eq!(kinds, ["mysql", "redis", "rabbitmq"]),
        }
    }
}

#[actix_web::test]
async fn health_is_503_when_a_backend_is_down() {
    let app = spawn_app(BackendSet::Embedded).await;
    app.state.b.db.clone().close().await.unwrap();
    let (s, b) = app.call(Method::GET, "/api/health", None, None).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(b["backends"]["database"]["ok"], false);
    assert_eq!(b["backends"]["kv"]["ok"], true);
}

#[actix_web::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app(BackendSet::Embedded).await;
    app.call(Method::GET, "/api/health", None, None).await;
    let res = app.http.get(format!("{}/metrics", app.addr)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    for m in [
        "liveroom_http_requests_total",
        "liveroom_http_request_duration_seconds",
        "liveroom_ws_connections",
        "liveroom_room_commands_total",
    ] {
        assert!(text.contains(m), "{m} missing");
    }
}

#[actix_web::test]
async fn openapi_describes_the_paths_without_auth() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (s, b) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(b["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/auth/sms",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/rooms",
        "/api/rooms/{id}",
        "/api/rooms/{id}/im",
        "/api/rooms/{id}/mutes",
        "/api/rooms/{id}/mutes/{user_id}",
        "/api/rooms/{id}/kicks",
        "/api/rooms/{id}/bans",
        "/api/rooms/{id}/bans/{user_id}",
        "/api/rooms/{id}/slow-mode",
        "/api/rooms/{id}/messages/{seq}",
        "/api/wallet",
        "/api/wallet/products",
        "/api/wallet/recharges",
        "/api/wallet/trades",
        "/api/wallet/earnings",
        "/api/payments/notify",
        "/api/gifts",
        "/api/rooms/{id}/gifts",
        "/api/rooms/{id}/ranking",
        "/api/rooms/{id}/pk",
        "/api/rooms/{id}/pk/join",
        "/api/rooms/{id}/pk/leave",
        "/api/red-packet/applications",
        "/api/admin/red-packet/applications",
        "/api/admin/red-packet/applications/{id}/approve",
        "/api/admin/red-packet/applications/{id}/reject",
        "/api/rooms/{id}/rain/prepare",
        "/api/rooms/{id}/rain/start",
        "/api/rooms/{id}/rain/grab",
        "/api/products",
        "/api/admin/products",
        "/api/admin/products/{id}/approve",
        "/api/admin/products/{id}/reject",
        "/api/rooms/{id}/products",
        "/api/rooms/{id}/cart",
        "/api/rooms/{id}/cart/items",
        "/api/rooms/{id}/cart/items/{product_id}",
        "/api/rooms/{id}/orders",
        "/api/orders",
        "/api/orders/{id}",
        "/api/orders/{id}/pay",
        "/api/health",
        "/api/openapi.json",
    ] {
        assert!(b["paths"].get(p).is_some(), "{p} missing");
    }
}

#[actix_web::test]
async fn unknown_api_paths_are_json_404() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (s, b) = app.call(Method::GET, "/api/nope", None, None).await;
    assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
}

#[actix_web::test]
async fn responses_carry_a_request_id_and_security_headers() {
    let app = spawn_app(BackendSet::Embedded).await;
    let res = app.http.get(format!("{}/api/health", app.addr)).send().await.unwrap();
    let h = res.headers();
    assert!(h.get("x-request-id").is_some());
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.get("content-security-policy").is_some());
}

/// Sends `body` as-is with a JSON content type.
async fn send_raw(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut r = app
        .http
        .request(method, format!("{}{}", app.addr, path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[actix_web::test]
async fn hole13_every_body_that_is_not_an_object_of_the_documented_shape_gets_400() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (anchor, _) = app.new_user().await;
        let (viewer, viewer_id) = app.new_user().await;
        let (_, room) = app.post("/api/rooms", &anchor, json!({"title": "bodies", "kind": "normal"})).await;
        let room = room["id"].as_i64().unwrap();
        let (_, before) = app.get("/api/me", &viewer).await;

        // Not an object at all: arrays (which serde would take as the fields in order), null,
        // strings, numbers, booleans, and an object with something after it.
        let not_objects = [
            "[null, null]",
            "[]",
            r#"["13800000000"]"#,
            r#"["13800000000", "1000"]"#,
            "null",
            r#""x""#,
            "12",
            "-1",
            "true",
            r#"{"nickname": "x"} {"nickname": "y"}"#,
            r#"{"nickname": "x"} ]"#,
        ];
        let endpoints: Vec<(Method, String, Option<&str>, Vec<&str>)> = vec![
            (
                Method::PATCH,
                "/api/me".into(),
                Some(&viewer),
                vec![r#"{"nickname": 5}"#, r#"{"avatar": ["https://a"]}"#, r#"{"nickname": {}}"#],
            ),
            (Method::POST, "/api/auth/sms".into(), None, vec![r#"{"phone": 13800000000}"#, "{}", r#"{"phone": null}"#]),
            (
                Method::POST,
                "/api/auth/login".into(),
                None,
                vec![r#"{"phone": "13800000000", "code": 1000}"#, r#"{"phone": "13800000000"}"#],
            ),
            (
                Method::POST,
                "/api/rooms".into(),
                Some(&viewer),
                vec![r#"{"title": 1, "kind": "normal"}"#, r#"{"title": "t", "kind": 3}"#, r#"{"title": "t"}"#],
            ),
            (
                Method::POST,
                format!("/api/rooms/{room}/gifts"),
                Some(&viewer),
                vec![
                    r#"{"gift_id": "1"}"#,
                    r#"{"gift_id": 1, "count": 1.5}"#,
                    r#"{"gift_id": 1, "to": "x"}"#,
                    r#"{"gift_id": 9223372036854775808}"#,
                ],
            ),
            (
                Method::POST,
                "/api/wallet/recharges".into(),
                Some(&viewer),
                vec![r#"{"product_id": "1"}"#, r#"{"product_id": null}"#, "{}"],
            ),
            (
                Method::POST,
                format!("/api/rooms/{room}/mutes"),
                Some(&anchor),
                vec![r#"{"user_id": "1", "seconds": 60}"#, r#"{"user_id": 1, "seconds": true}"#],
            ),
            (
                Method::POST,
                format!("/api/rooms/{room}/kicks"),
                Some(&anchor),
                vec![r#"{"user_id": 1, "ban": "yes"}"#, r#"{"ban": true}"#],
            ),
            (
                Method::PUT,
                format!("/api/rooms/{room}/slow-mode"),
                Some(&anchor),
                vec![r#"{"seconds": "10"}"#, r#"{"seconds": [10]}"#],
            ),
            (
                Method::POST,
                "/api/red-packet/applications".into(),
                Some(&anchor),
                vec![r#"{"total_coins": "10", "packets": 1}"#, r#"{"total_coins": 10}"#],
            ),
            (
                Method::POST,
                "/api/products".into(),
                Some(&anchor),
                vec![r#"{"name": 1, "price": 1, "stock": 1}"#, r#"{"name": "a", "price": 1.25, "stock": 1}"#],
            ),
            (
                Method::POST,
                format!("/api/rooms/{room}/cart/items"),
                Some(&viewer),
                vec![r#"{"product_id": 1, "count": "2"}"#, r#"{"count": 2}"#],
            ),
        ];
        for (method, path, token, wrong_types) in endpoints {
            for body in not_objects.iter().copied().chain(wrong_types) {
                let (s, b) = send_raw(&app, method.clone(), &path, token, body).await;
                assert_eq!((s, code(&b)), (400, "invalid_input"), "{set:?} {method} {path} with {body}: {b}");
            }
        }

        // Nothing changed: the profile is as it was and the viewer was not muted or kicked.
        let (_, after) = app.get("/api/me", &viewer).await;
        assert_eq!(after, before, "{set:?}");
        let (s, _) = app.get(&format!("/api/rooms/{room}/im"), &viewer).await;
        assert_eq!(s, 200, "{set:?}: user {viewer_id} can still enter");
        // A well-formed object still works.
        let (s, b) = send_raw(&app, Method::PATCH, "/api/me", Some(&viewer), r#" {"nickname": "Ada"} "#).await;
        assert_eq!((s, b["nickname"].as_str()), (200, Some("Ada")), "{set:?}");
    }
}

#[actix_web::test]
async fn hole21_the_openapi_document_names_every_route_with_its_error_statuses() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (s, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
        assert_eq!(s, 200);
        let public = [
            "post /api/auth/sms",
            "post /api/auth/login",
            "get /api/gifts",
            "get /api/health",
            "get /api/openapi.json",
            "post /api/payments/notify",
        ];
        // Statuses particular to some operations, beyond the ones every operation of its kind has.
        let particular: &[(&str, &[&str])] = &[
            ("post /api/auth/sms", &["429"]),
            ("post /api/auth/login", &["401", "429"]),
            ("post /api/rooms", &["409"]),
            ("get /api/rooms/{id}/im", &["403", "409", "429"]),
            ("post /api/rooms/{id}/gifts", &["402", "409"]),
            ("post /api/rooms/{id}/orders", &["409", "429"]),
            ("post /api/orders/{id}/pay", &["402", "409", "410"]),
            ("post /api/rooms/{id}/rain/prepare", &["402", "403", "409"]),
            ("post /api/rooms/{id}/rain/start", &["409"]),
            ("post /api/rooms/{id}/rain/grab", &["409", "429"]),
            ("post /api/rooms/{id}/pk/join", &["403", "409"]),
            ("post /api/rooms/{id}/cart/items", &["409"]),
            ("post /api/rooms/{id}/mutes", &["409"]),
            ("get /api/admin/products", &["403"]),
            ("get /api/admin/red-packet/applications", &["403"]),
            ("post /api/payments/notify", &["401"]),
        ];
        let mut ops = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops += 1;
                let key = format!("{method} {path}");
                let statuses: Vec<&str> = op["responses"].as_object().unwrap().keys().map(String::as_str).collect();
                let mut want: Vec<&str> = vec![];
                if !public.contains(&key.as_str()) {
                    want.push("401");
                    assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()), "{key}: no security");
                    if method != "get" {
                        want.push("403");
                    }
                }
                if op.get("requestBody").is_some() {
                    want.extend(["400", "413"]);
                }
                if path.contains('{') {
                    want.extend(["400", "404"]);
                }
                if path != "/api/openapi.json" {
                    want.push("503");
                }
                if let Some((_, extra)) = particular.iter().find(|(k, _)| *k == key) {
                    want.extend(extra.iter());
                }
                for w in want {
                    assert!(statuses.contains(&w), "{set:?} {key} does not name {w} (names {statuses:?})");
                }
                for (status, r) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r["content"]["application/json"]["schema"].is_object(),
                            "{key} {status}: no body schema"
                        );
                    }
                    if status == "429" || (status == "503" && path != "/api/health") {
                        assert!(r["headers"].get("Retry-After").is_some(), "{key} {status}: no Retry-After");
                    }
                }
                // The route is really served: a request without a session reaches it (not the
                // fallback's 404 or 405).
                let concrete = path
                    .replace("{id}", "1")
                    .replace("{user_id}", "1")
                    .replace("{seq}", "1")
                    .replace("{product_id}", "1");
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                let (s, b) = app.call(m, &concrete, None, None).await;
                assert!(
                    s != 405 && b["error"]["message"] != "path not found",
                    "{set:?} {key} is documented but not served: {s} {b}"
                );
            }
        }
        assert!(ops >= 48, "{set:?}: only {ops} operations");
        // And a route the app serves is documented: a known path asked with another method
        // answers 405 naming the documented ones.
        let res = app.http.put(format!("{}/api/me", app.addr)).send().await.unwrap();
        assert_eq!(res.status(), 405);
        let allow = res.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allow.contains("GET") && allow.contains("PATCH"), "{allow}");
        let (s, b) = app.call(Method::GET, "/api/nope/1", None, None).await;
        assert_eq!((s.as_u16(), code(&b)), (404, "not_found"));
    }
}
