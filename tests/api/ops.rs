//! Health, metrics, OpenAPI and the JSON 404.

use crate::helpers::*;
use reqwest::Method;

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
        "/api/rooms/{id}/bans/{user_id}",
        "/api/rooms/{id}/slow-mode",
        "/api/rooms/{id}/messages/{seq}",
        "/api/wallet",
        "/api/wallet/products",
        "/api/wallet/recharges",
        "/api/wallet/trades",
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
