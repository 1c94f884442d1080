//! Extractors that answer bad input with the contract's 400/413 instead of actix defaults:
//! JSON bodies (64 KiB, drained when larger so the client really receives the 413, and the
//! field at fault named), path and query errors, and the `status` filter of list queries.

use super::error::AppError;
use crate::domain::Status;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::{future::LocalBoxFuture, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How much of an oversized body we read and discard so the 413 reaches the client.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// A JSON body parsed into `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        let ct_ok = match req.headers().get("content-type").and_then(|v| v.to_str().ok()) {
            None => true,
            Some(ct) => ct.to_ascii_lowercase().starts_with("application/json"),
        };
        Box::pin(async move {
            let body = read_limited(&mut payload).await?;
            if !ct_ok {
                return Err(AppError::bad("Content-Type must be application/json"));
            }
            parse_json(&body).map(Json)
        })
    }
}

/// Reads the whole body; past the limit, keeps reading and discarding (up to a cap) and then
/// answers 413, so the client is not reset mid-upload.
pub async fn read_limited<S>(payload: &mut S) -> Result<web::BytesMut, AppError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let mut body = web::BytesMut::new();
    let mut seen = 0usize;
    let mut too_large = false;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::bad("could not read the request body"))?;
        seen += chunk.len();
        if too_large || seen > BODY_LIMIT {
            too_large = true;
            body.clear();
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large {
        return Err(AppError::TooLarge);
    }
    Ok(body)
}

/// Parses JSON, naming the field at fault where serde knows it.
///
/// Every body of the contract is a JSON object: an array, `null`, a string, a number or a
/// boolean at the top is refused before serde sees it (serde's derived structs would otherwise
/// take an array as the fields in order, so `[null, null]` passed as an empty profile change).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(AppError::bad("the request body must be a JSON object")),
        Some(_) => {
            return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => AppError::bad("the request body must be a JSON object"),
                Err(e) => AppError::bad(format!("malformed JSON: {e}")),
            })
        }
    }
    // One whole JSON value and nothing after it (a syntax error names no field).
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::bad(format!("malformed JSON: {}", strip_position(&e.to_string()))))?;
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field =
            missing_field(&msg).or(if path == "." || path == "?" || path.is_empty() { None } else { Some(path) });
        AppError::InvalidInput { message: strip_position(&msg), field }
    })
}

/// `62.0` is the number 62 in JSON (and an integer to JSON Schema): floats without a fraction
/// that fit an i64 become integers, so integer fields take them; `62.5` stays a float and is
/// refused where an integer is expected.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && (-9.007_199_254_740_992e15..=9.007_199_254_740_992e15).contains(&f) {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(whole_numbers),
        Value::Object(o) => o.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| AppError::invalid("path", format!("bad path parameter: {err}")).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let msg = err.to_string();
        let field = msg.split('`').nth(1).map(str::to_owned).unwrap_or_else(|| "query".to_owned());
        AppError::InvalidInput { message: format!("bad query parameter: {msg}"), field: Some(field) }.into()
    })
}

/// The query of a list: its page.
#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// The query of a list that filters by status, with its page.
#[derive(Deserialize, IntoParams)]
pub struct StatusQuery {
    pub status: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// A `status` query parameter: one of `S`'s values, or none; 400 with `field` `status` naming
/// the values otherwise.
pub fn parse_status<S: Status>(s: Option<&str>) -> Result<Option<S>, AppError> {
    s.map(|s| S::parse(s).map_err(|_| AppError::invalid("status", format!("status must be one of {}", S::names()))))
        .transpose()
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .error_handler(|err, _req| AppError::bad(format!("bad JSON body: {err}")).into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct P {
        phone: String,
        n: Option<i64>,
    }

    #[test]
    fn a_status_filter_is_one_of_the_values() {
        use crate::domain::order::OrderStatus;
        assert_eq!(parse_status::<OrderStatus>(None).unwrap(), None);
        assert_eq!(parse_status::<OrderStatus>(Some("paid")).unwrap(), Some(OrderStatus::Paid));
        match parse_status::<OrderStatus>(Some("used")) {
            Err(AppError::InvalidInput { message, field }) => {
                assert_eq!(message, "status must be one of pending, paid, expired");
                assert_eq!(field.as_deref(), Some("status"));
            }
            _ => panic!("used is no order status"),
        }
    }

    #[test]
    fn names_the_field() {
        let e = parse_json::<P>(br#"{"n": 1}"#).err().unwrap();
        assert!(matches!(e, AppError::InvalidInput { field: Some(ref f), .. } if f == "phone"));
        let e = parse_json::<P>(br#"{"phone": 1}"#).err().unwrap();
        assert!(matches!(e, AppError::InvalidInput { field: Some(ref f), .. } if f == "phone"));
        let e = parse_json::<P>(br#"{"phone": "x", "n": "y"}"#).err().unwrap();
        assert!(matches!(e, AppError::InvalidInput { field: Some(ref f), .. } if f == "n"));
        let e = parse_json::<P>(b"{").err().unwrap();
        assert!(matches!(e, AppError::InvalidInput { field: None, .. }));
    }

    #[test]
    fn only_an_object_is_a_body() {
        for body in [
            &br#"["x", 1]"#[..],
            b"[null, null]",
            b"null",
            b"\"x\"",
            b"12",
            b"true",
            b"  ",
            b"[1,",
            br#"{"phone": "x"} {"phone": "y"}"#,
            br#"{"phone": "x"} x"#,
        ] {
            let e = parse_json::<P>(body).err();
            assert!(
                matches!(e, Some(AppError::InvalidInput { field: None, .. })),
                "{} was taken",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_json::<P>(b" {\"phone\": \"x\"}\n").is_ok());
        // Whole numbers written as floats are the same numbers; fractions are not integers.
        assert_eq!(parse_json::<P>(br#"{"phone": "x", "n": 62.0}"#).ok().and_then(|p| p.n), Some(62));
        assert!(parse_json::<P>(br#"{"phone": "x", "n": 62.5}"#).is_err());
        assert!(parse_json::<P>(br#"{"phone": "x", "n": 1e300}"#).is_err());
        assert!(parse_json::<P>(br#"{"phone": "x", "n": 9223372036854775808}"#).is_err());
    }
}
