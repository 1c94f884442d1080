//! Phone-code login, sessions, profile, CSRF and bad input on the auth endpoints.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[actix_web::test]
async fn a_new_phone_logs_in_with_the_dev_code_and_gets_an_empty_wallet() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| s.auth.resend_after_s = 0).await;
        let (s, b) = app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": "13800000001"}))).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b, json!({"sent": true, "expires_in": 300, "dev_code": "1000"}));
        let (s, b) = app
            .call(Method::POST, "/api/auth/login", None, Some(json!({"phone": "13800000001", "code": "1000"})))
            .await;
        assert_eq!(s, 200, "{b}");
        let u = &b["user"];
        assert_eq!(u["phone"], "138****0001");
        assert_eq!(u["balance"], 0);
        assert_eq!(u["roles"], json!(["user"]));
        assert_eq!(u["privileges"], json!({"red_packet": false, "commerce": false}));
        let token = b["token"].as_str().unwrap();
        let (s, me) = app.get("/api/me", token).await;
        assert_eq!(s, 200);
        assert_eq!(me["id"], u["id"]);
        // Logging in again finds the same user.
        let (_, again) = app.login("13800000001").await;
        assert_eq!(again["id"], u["id"]);
    }
}

#[actix_web::test]
async fn a_second_code_request_within_a_minute_is_refused() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (s, _) = app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": "13800000002"}))).await;
        assert_eq!(s, 200);
        let res = app
            .http
            .post(format!("{}/api/auth/sms", app.addr))
            .json(&json!({"phone": "13800000002"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        let b: serde_json::Value = res.json().await.unwrap();
        assert_eq!(code(&b), "rate_limited");
    }
}

#[actix_web::test]
async fn a_code_works_once_and_wrong_codes_lock_the_phone() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        app.login("13800000003").await;
        // The code was used.
        let (s, b) = app
            .call(Method::POST, "/api/auth/login", None, Some(json!({"phone": "13800000003", "code": "1000"})))
            .await;
        assert_eq!((s.as_u16(), code(&b)), (401, "invalid_code"));

        app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": "13800000004"}))).await;
        // The fifth wrong answer above is the fourth here (the phone is fresh): four wrong...
        for _ in 0..5 {
            let (s, b) = app
                .call(Method::POST, "/api/auth/login", None, Some(json!({"phone": "13800000004", "code": "9999"})))
                .await;
            assert_eq!((s.as_u16(), code(&b)), (401, "invalid_code"));
        }
        // ...then even the right code gets 429.
        let (s, b) = app
            .call(Method::POST, "/api/auth/login", None, Some(json!({"phone": "13800000004", "code": "1000"})))
            .await;
        assert_eq!((s.as_u16(), code(&b)), (429, "rate_limited"));
    }
}

#[actix_web::test]
async fn logout_ends_the_token_at_once() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, _) = app.login("13800000005").await;
        let (s, _) = app.call(Method::POST, "/api/auth/logout", Some(&t), None).await;
        assert_eq!(s, 204);
        let (s, b) = app.get("/api/me", &t).await;
        assert_eq!((s.as_u16(), code(&b)), (401, "unauthorized"));
    }
}

#[actix_web::test]
async fn profile_changes_are_validated() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let (t, _) = app.login("13800000006").await;
        let (s, b) = app
            .call(
                Method::PATCH,
                "/api/me",
                Some(&t),
                Some(json!({"nickname": "  Ann  ", "avatar": "https://x.test/a.png"})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["nickname"], "Ann");
        assert_eq!(b["avatar"], "https://x.test/a.png");
        for (body, field) in [
            (json!({"nickname": ""}), "nickname"),
            (json!({"nickname": "x".repeat(21)}), "nickname"),
            (json!({"avatar": "http://x.test/a.png"}), "avatar"),
            (json!({"avatar": format!("https://{}", "a".repeat(300))}), "avatar"),
            (json!({"nickname": 5}), "nickname"),
        ] {
            let (s, b) = app.call(Method::PATCH, "/api/me", Some(&t), Some(body.clone())).await;
            assert_eq!(s, 400, "{body} -> {b}");
            assert_eq!(code(&b), "invalid_input");
            assert_eq!(b["error"]["field"], field, "{body}");
        }
        let (_, me) = app.get("/api/me", &t).await;
        assert_eq!(me["nickname"], "Ann", "nothing stored was lost");
    }
}

#[actix_web::test]
async fn admins_come_from_configuration() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (_, u) = app.login("13141150122").await;
    assert_eq!(u["roles"], json!(["user", "admin"]));
}

#[actix_web::test]
async fn bad_input_gets_400_with_the_field_never_500() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
            ("/api/auth/sms", b"{".to_vec(), None),
            ("/api/auth/sms", b"[]".to_vec(), None),
            ("/api/auth/sms", b"".to_vec(), None),
            ("/api/auth/sms", br#"{}"#.to_vec(), Some("phone")),
            ("/api/auth/sms", br#"{"phone": 13800000000}"#.to_vec(), Some("phone")),
            ("/api/auth/sms", br#"{"phone": "2380000000"}"#.to_vec(), Some("phone")),
            ("/api/auth/sms", format!(r#"{{"phone": "{}"}}"#, "1".repeat(5000)).into_bytes(), Some("phone")),
            ("/api/auth/login", br#"{"phone": "13800000000"}"#.to_vec(), Some("code")),
            ("/api/auth/login", br#"{"phone": "13800000000", "code": "abc"}"#.to_vec(), Some("code")),
            ("/api/auth/login", br#"{"phone": null, "code": "1000"}"#.to_vec(), Some("phone")),
        ];
        for (path, body, field) in cases {
            let shown = String::from_utf8_lossy(&body).chars().take(60).collect::<String>();
            let (s, b) = app.post_raw(path, None, body).await;
            assert_eq!(s, 400, "{path} {shown} -> {b}");
            assert_eq!(code(&b), "invalid_input", "{path} {shown}");
            assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            if let Some(f) = field {
                assert_eq!(b["error"]["field"], f, "{path} {shown} -> {b}");
            }
        }
    }
}

#[actix_web::test]
async fn a_body_over_64_kib_gets_413_and_the_client_receives_it() {
    let app = spawn_app(BackendSet::Embedded).await;
    for size in [64 * 1024 + 1, 1024 * 1024, 4 * 1024 * 1024] {
        let body = format!(r#"{{"phone": "{}"}}"#, "1".repeat(size));
        let (s, b) = app.post_raw("/api/auth/sms", None, body.into_bytes()).await;
        assert_eq!(s, 413, "size {size}");
        assert_eq!(code(&b), "too_large");
    }
    // The server is fine afterwards.
    let (s, _) = app.call(Method::GET, "/api/health", None, None).await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn cookie_writes_need_the_same_origin() {
    let app = spawn_app(BackendSet::Embedded).await;
    let (t, _) = app.login("13800000007").await;
    let cookie = format!("session={t}");
    let patch = |origin: Option<String>, site: Option<&'static str>| {
        let mut r = app
            .http
            .patch(format!("{}/api/me", app.addr))
            .header("cookie", cookie.clone())
            .json(&json!({"nickname": "Bo"}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.send()
    };
    let res = patch(Some("https://evil.test".into()), None).await.unwrap();
    assert_eq!(res.status(), 403);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(code(&b), "csrf");
    assert_eq!(patch(None, Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(patch(None, None).await.unwrap().status(), 403);
    assert_eq!(patch(Some(app.addr.clone()), None).await.unwrap().status(), 200);
    assert_eq!(patch(None, Some("same-origin")).await.unwrap().status(), 200);
    // Reads with the cookie need no origin.
    let res = app.http.get(format!("{}/api/me", app.addr)).header("cookie", cookie.clone()).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn api_paths_need_auth() {
    let app = spawn_app(BackendSet::Embedded).await;
    for (m, p) in [(Method::GET, "/api/me"), (Method::PATCH, "/api/me"), (Method::POST, "/api/auth/logout")] {
        let (s, b) = app.call(m.clone(), p, None, None).await;
        assert_eq!((s.as_u16(), code(&b)), (401, "unauthorized"), "{p}");
        let (s, _) = app.call(m, p, Some("not-a-token"), None).await;
        assert_eq!(s, 401);
    }
}
