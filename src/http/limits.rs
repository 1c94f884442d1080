//! Rate limits over the key-value store's fixed windows: per user, and per client address for
//! the endpoints that work before login.

use super::error::{AppError, AppResult};
use super::state::AppState;
use crate::domain::ratelimit::Limit;
use actix_web::HttpRequest;
use std::net::IpAddr;

/// Counts one action of `key`; 429 with `Retry-After` past the limit. `limits.enabled=false`
/// (load tests) turns these off.
pub async fn check(state: &AppState, key: &str, limit: Limit) -> AppResult<()> {
    if !state.settings.limits.enabled {
        return Ok(());
    }
    let (n, left) = state.b.kv.incr_window(&crate::storage::kv::keys::rate(key), limit.window).await?;
    if limit.allows(n) {
        Ok(())
    } else {
        Err(AppError::rate_limited(left.as_secs_f64().ceil() as u64))
    }
}

/// Counts one `action` of the request's client address against `max` per `window_s`; 0 turns
/// the limit off. 429 with `Retry-After` past it.
pub async fn check_addr(state: &AppState, req: &HttpRequest, action: &str, max: u64, window_s: u64) -> AppResult<()> {
    if max == 0 {
        return Ok(());
    }
    let Some(addr) = client_addr(req, &state.settings.server.trusted_proxy_header) else {
        // No peer address (only in-process test requests): nothing to count against.
        return Ok(());
    };
    check(state, &format!("ip:{action}:{addr}"), Limit::new(max, window_s)).await
}

/// The address a limit counts against: the peer of the connection, or, when a trusted proxy
/// header is configured and the request carries a valid address in it, that address (the last
/// one of a list: the one the proxy itself appended). IPv6 clients are counted per /64, the
/// block one subscriber usually holds.
pub fn client_addr(req: &HttpRequest, trusted_header: &str) -> Option<String> {
    let from_header = (!trusted_header.is_empty())
        .then(|| req.headers().get(trusted_header))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(parse_ip);
    let ip = from_header.or_else(|| req.peer_addr().map(|a| a.ip()))?;
    Some(limit_key(ip))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    // `1.2.3.4:5678` and `[::1]:5678` as some proxies write them.
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok()))
}

/// The text an address is counted under: IPv4 as is, IPv6 by its /64.
fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_peer_address_counts_unless_a_trusted_header_is_configured() {
        let peer = "10.0.0.1:4000".parse().unwrap();
        let req =
            TestRequest::default().peer_addr(peer).insert_header(("x-forwarded-for", "1.1.1.1")).to_http_request();
        assert_eq!(client_addr(&req, "").as_deref(), Some("10.0.0.1"), "a header nobody trusts is ignored");
        assert_eq!(client_addr(&req, "x-forwarded-for").as_deref(), Some("1.1.1.1"));
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "6.6.6.6, 2.2.2.2"))
            .to_http_request();
        assert_eq!(client_addr(&req, "X-Forwarded-For").as_deref(), Some("2.2.2.2"), "the proxy's own entry");
        let req = TestRequest::default().peer_addr(peer).insert_header(("x-forwarded-for", "junk")).to_http_request();
        assert_eq!(client_addr(&req, "x-forwarded-for").as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_v4_as_v4() {
        let a = limit_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = limit_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(limit_key("::ffff:1.2.3.4".parse().unwrap()), "1.2.3.4");
    }
}
