//! Phone-code login, sessions, profile, CSRF and bad input on the auth endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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

async fn try_login(app: &TestApp, phone: &str, code: &str) -> u16 {
    app.call(Method::POST, "/api/auth/login", None, Some(json!({"phone": phone, "code": code}))).await.0.as_u16()
}

#[actix_web::test]
async fn hole10_parallel_wrong_codes_are_counted_before_they_are_compared() {
    for set in backend_sets() {
        let app = spawn_app(set).await;
        let phone = "13800000021";
        app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": phone}))).await;
        let guesses = (0..20).map(|i| try_login(&app, phone, if i % 2 == 0 { "1234" } else { "9999" }));
        let mut res = futures_util::future::join_all(guesses).await;
        res.sort_unstable();
        let compared = res.iter().filter(|s| **s == 401).count();
        assert_eq!((compared, res.iter().filter(|s| **s == 429).count()), (5, 15), "{res:?}");
        assert_eq!(try_login(&app, phone, "1000").await, 429, "the right code is refused too");

        // Twenty at once with the right code among them: it only wins if it was among the
        // first five counted, so at most four wrong codes are compared before it. A login
        // clears the count (its code is used up, so later guesses can match nothing), and up to
        // five more wrong guesses are compared after it.
        let phone = "13800000022";
        app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": phone}))).await;
        let tries = (0..20).map(|i| try_login(&app, phone, if i == 10 { "1000" } else { "4321" }));
        let res = futures_util::future::join_all(tries).await;
        let ok = res.iter().filter(|s| **s == 200).count();
        let wrong = res.iter().filter(|s| **s == 401).count();
        assert!(ok <= 1 && wrong <= if ok == 1 { 4 + 5 } else { 5 }, "{res:?}");
        assert_eq!(res.iter().filter(|s| **s == 429).count(), 20 - ok - wrong, "{res:?}");

        // Four wrong codes, then the right one: the fifth attempt is still compared, and a
        // login clears the count.
        let phone = "13800000023";
        app.call(Method::POST, "/api/auth/sms", None, Some(json!({"phone": phone}))).await;
        for _ in 0..4 {
            assert_eq!(try_login(&app, phone, "9999").await, 401);
        }
        assert_eq!(try_login(&app, phone, "1000").await, 200);
        assert_eq!(try_login(&app, phone, "9999").await, 401, "counting starts again after a login");
    }
}

#[actix_web::test]
async fn hole11_code_requests_and_logins_are_limited_per_client_address() {
    for set in backend_sets() {
        let app = spawn_app_with(set, |s| {
            s.auth.sms_per_ip_per_hour = 3;
            s.auth.login_per_ip_per_minute = 4;
        })
        .await;
        let sms = |phone: String, forwarded: Option<&'static str>| {
            let mut r = app.http.post(format!("{}/api/auth/sms", app.addr)).json(&json!({"phone": phone}));
            if let Some(f) = forwarded {
                r = r.header("x-forwarded-for", f);
            }
            r.send()
        };
        for i in 0..3 {
            assert_eq!(sms(format!("1380000003{i}"), None).await.unwrap().status(), 200);
        }
        // A fourth phone from the same address, even claiming another one in a header nobody
        // configured as trusted.
        for forwarded in [None, Some("203.0.113.9")] {
            let res = sms("13800000039".into(), forwarded).await.unwrap();
            assert_eq!(res.status(), 429);
            assert!(res.headers().get("retry-after").is_some());
            let b: serde_json::Value = res.json().await.unwrap();
            assert_eq!(code(&b), "rate_limited");
        }
        // Logins: four attempts a minute from one address, whatever the phone.
        for i in 0..4 {
            assert_eq!(try_login(&app, &format!("1390000004{i}"), "9999").await, 401);
        }
        let res = app
            .http
            .post(format!("{}/api/auth/login", app.addr))
            .json(&json!({"phone": "13800000030", "code": "1000"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        let b: serde_json::Value = res.json().await.unwrap();
        assert_eq!(code(&b), "rate_limited");

        // Behind a trusted proxy, its header names the client (the proxy's own entry, last).
        let app = spawn_app_with(set, |s| {
            s.auth.sms_per_ip_per_hour = 2;
            s.server.trusted_proxy_header = "X-Forwarded-For".into();
        })
        .await;
        let sms = |phone: &'static str, forwarded: &'static str| {
            app.http
                .post(format!("{}/api/auth/sms", app.addr))
                .header("x-forwarded-for", forwarded)
                .json(&json!({"phone": phone}))
                .send()
        };
        assert_eq!(sms("13800000051", "198.51.100.1").await.unwrap().status(), 200);
        assert_eq!(sms("13800000052", "198.51.100.1").await.unwrap().status(), 200);
        assert_eq!(sms("13800000053", "198.51.100.1").await.unwrap().status(), 429);
        assert_eq!(sms("13800000053", "198.51.100.1, 198.51.100.2").await.unwrap().status(), 200, "another client");
        assert_eq!(sms("13800000054", "6.6.6.6, 198.51.100.1").await.unwrap().status(), 429, "a forged first entry");
    }
}
