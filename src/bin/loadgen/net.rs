//! Talking to the server: the HTTP calls (log in, create a room, get a one-use WebSocket ticket)
//! and connecting a WebSocket from a chosen 127.0.0.x source address.

use crate::args::die;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub(crate) type Ws = WebSocketStream<TcpStream>;

pub(crate) async fn ticket(http: &reqwest::Client, base: &str, room: i64, token: &str) -> anyhow::Result<String> {
    let r = http.get(format!("{base}/api/rooms/{room}/im")).bearer_auth(token).send().await?;
    let s = r.status();
    let b: Value = r.json().await?;
    if !s.is_success() {
        anyhow::bail!("/im {s}: {b}");
    }
    Ok(b["url"].as_str().unwrap_or_default().to_owned())
}

pub(crate) async fn connect(url: &str, server: SocketAddr, src: IpAddr) -> anyhow::Result<(Ws, Value)> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.set_nodelay(true)?;
    sock.set_nonblocking(true)?;
    let std_stream: std::net::TcpStream = sock.into();
    let tcp = tokio::net::TcpSocket::from_std_stream(std_stream).connect(server).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    match first {
        Ok(Some(Ok(Message::Text(t)))) => {
            let v: Value = serde_json::from_str(&t)?;
            if v["type"] != "welcome" {
                anyhow::bail!("first frame is not welcome: {t}");
            }
            Ok((ws, v))
        }
        other => anyhow::bail!("no welcome: {other:?}"),
    }
}

pub(crate) fn http_client(src: Option<IpAddr>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().pool_max_idle_per_host(64).timeout(Duration::from_secs(30));
    if let Some(ip) = src {
        b = b.local_address(ip);
    }
    b.build().expect("http client")
}

pub(crate) async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut r = http.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await?;
    let s = r.status();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    if !s.is_success() {
        anyhow::bail!("POST {url}: {s} {b}");
    }
    Ok(b)
}

pub(crate) async fn login(http: &reqwest::Client, base: &str, phone: u64) -> anyhow::Result<String> {
    let phone = phone.to_string();
    post(http, &format!("{base}/api/auth/sms"), None, json!({"phone": phone})).await?;
    let b = post(http, &format!("{base}/api/auth/login"), None, json!({"phone": phone, "code": "1000"})).await?;
    Ok(b["token"].as_str().unwrap_or_default().to_owned())
}

/// Logs in `n` users with phones `first..first+n`, 32 at a time.
pub(crate) async fn login_many(http: &reqwest::Client, base: &str, first: u64, n: usize) -> Vec<String> {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            async move { login(&http, base, first + i as u64).await }
        })
        .buffered(32)
        .map(|r| r.unwrap_or_else(|e| die(&format!("login: {e}"))))
        .collect()
        .await
}
