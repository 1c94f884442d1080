//! The OpenAPI document, gathered from the handlers' `#[utoipa::path]` annotations, then
//! completed by [`Contract`] with what every path shares: how to authenticate, and the error
//! statuses that the extractors, the auth check and the backends can answer on any path.

use crate::domain::error::ErrorCode;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};

pub use super::error::{ErrorBody, ErrorInner};

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route("/openapi.json", actix_web::web::get().to(openapi));
}

/// The OpenAPI 3 description, generated from the handlers' annotations.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(document())
}

/// Paths that need no session (`method path`): everything else needs the bearer header or the
/// `session` cookie.
pub const PUBLIC: &[&str] = &[
    "post /api/auth/sms",
    "post /api/auth/login",
    "get /api/gifts",
    "get /api/health",
    "get /api/openapi.json",
    "post /api/payments/notify",
];

/// Statuses that the handlers' own annotations do not name: rules of helpers they share
/// (`live_room` answers 409 `room_closed`), and statuses of planned protections.
const EXTRA: &[(&str, &str, &str, &str)] = &[
    ("post", "/api/rooms/{id}/cart/items", "409", "room_closed"),
    ("post", "/api/rooms/{id}/mutes", "409", "room_closed"),
    ("delete", "/api/rooms/{id}/mutes/{user_id}", "409", "room_closed"),
    ("post", "/api/rooms/{id}/kicks", "409", "room_closed"),
    ("put", "/api/rooms/{id}/slow-mode", "409", "room_closed"),
    ("delete", "/api/rooms/{id}/messages/{seq}", "409", "room_closed"),
    ("post", "/api/rooms/{id}/rain/start", "409", "not_prepared, room_closed"),
    (
        "post",
        "/api/rooms/{id}/orders",
        "409",
        "sold_out, cart_empty, room_closed, or limit_exceeded (units held in pending orders of a product)",
    ),
    ("get", "/api/rooms/{id}/im", "429", "rate_limited: too many tickets, or too many sockets of this user"),
    ("post", "/api/wallet/recharges", "409", "the same Idempotency-Key is still being processed"),
];

/// Adds the shared parts to every operation: security, and the error statuses any path of its
/// kind can answer, unless the operation names them itself.
pub struct Contract;

fn error_response(description: &str, retry_after: bool) -> RefOr<utoipa::openapi::Response> {
    let mut b = ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build());
    if retry_after {
        b = b.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
                .description(Some("seconds to wait before trying again"))
                .build(),
        );
    }
    RefOr::T(b.build())
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, o)| o.map(|o| (m, o)))
    .collect()
}

impl Modify for Contract {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("opaque").build()),
        );
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("session"))));
        for (path, item) in api.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            for (method, op) in operations(item) {
                let public = PUBLIC.contains(&format!("{method} {path}").as_str());
                let has_query = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
                });
                let has_header = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Header))
                });
                let has_body = op.request_body.is_some();
                let writes = method != "get";
                let mut add = |status: &str, r: RefOr<utoipa::openapi::Response>| {
                    op.responses.responses.entry(status.to_owned()).or_insert(r);
                };
                for (m, p, status, what) in EXTRA {
                    if *m == method && p == path {
                        add(status, error_response(what, *status == "429"));
                    }
                }
                if has_body || has_query || has_path_params || has_header {
                    add("400", error_response("invalid_input: the body, a path or query parameter or a header is malformed or breaks a rule; `field` names it where one field is at fault", false));
                }
                if !public {
                    add("401", error_response("unauthorized: no valid session", false));
                    if writes {
                        add(
                            "403",
                            error_response(
                                "forbidden, or csrf: a write authenticated by the cookie from another origin",
                                false,
                            ),
                        );
                    }
                }
                if has_path_params {
                    add("404", error_response("not_found", false));
                }
                if has_body {
                    add("413", error_response("too_large: the body is over 64 KiB", false));
                }
                if path != "/api/openapi.json" {
                    add("503", error_response("unavailable: a backend is down; try again after Retry-After", true));
                }
                // 429 answers carry Retry-After.
                if let Some(RefOr::T(r)) = op.responses.responses.get_mut("429") {
                    if r.content.is_empty() || !r.headers.contains_key("Retry-After") {
                        *r = match error_response("rate_limited: too many requests; try again after Retry-After", true)
                        {
                            RefOr::T(r) => r,
                            RefOr::Ref(_) => unreachable!(),
                        };
                    }
                }
                if !public {
                    op.security = Some(vec![
                        SecurityRequirement::new("bearer", Vec::<String>::new()),
                        SecurityRequirement::new("session", Vec::<String>::new()),
                    ]);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Liveroom",
        version = "1",
        description = "Live-streaming interaction server. Auth: `Authorization: Bearer <token>` or the `session` cookie."
    ),
    paths(
        super::auth::send_sms,
        super::auth::login,
        super::auth::logout,
        super::auth::me,
        super::auth::patch_me,
        super::rooms::list,
        super::rooms::create,
        super::rooms::get,
        super::rooms::close,
        super::rooms::im,
        super::moderation::mute,
        super::moderation::unmute,
        super::moderation::kick,
        super::moderation::bans,
        super::moderation::unban,
        super::moderation::slow_mode,
        super::moderation::delete_message,
        super::wallet::wallet,
        super::wallet::products,
        super::wallet::recharge,
        super::wallet::trades,
        super::wallet::earnings,
        super::wallet::notify,
        super::gifts::list,
        super::gifts::send,
        super::gifts::ranking,
        super::pk::get,
        super::pk::join,
        super::pk::leave,
        super::rain::apply,
        super::rain::my_applications,
        super::rain::list_applications,
        super::rain::approve,
        super::rain::reject,
        super::rain::prepare,
        super::rain::start,
        super::rain::grab,
        super::commerce::create_product,
        super::commerce::my_products,
        super::commerce::admin_products,
        super::commerce::approve,
        super::commerce::reject,
        super::commerce::shelf,
        super::commerce::cart,
        super::commerce::add_to_cart,
        super::commerce::remove_from_cart,
        super::commerce::place_order,
        super::commerce::my_orders,
        super::commerce::get_order,
        super::commerce::pay,
        super::ops::health,
        openapi,
    ),
    components(schemas(ErrorBody, ErrorInner)),
    modifiers(&Contract)
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The methods the document names for a request path (`{name}` matches one segment).
pub fn methods_of(path: &str) -> Option<Vec<&'static str>> {
    let want: Vec<&str> = path.split('/').collect();
    document().paths.paths.iter().find_map(|(template, item)| {
        let t: Vec<&str> = template.split('/').collect();
        let same =
            t.len() == want.len() && t.iter().zip(&want).all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b);
        if !same {
            return None;
        }
        let mut item = item.clone();
        Some(operations(&mut item).into_iter().map(|(m, _)| m).collect())
    })
}

/// What `/api` answers when no route matched: 405 with `Allow` for a known path asked with
/// another method, the JSON 404 otherwise.
pub async fn fallback(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    if let Some(methods) = methods_of(req.path()) {
        let allow: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        return actix_web::HttpResponse::MethodNotAllowed().insert_header(("Allow", allow.join(", "))).json(
            serde_json::json!({"error": {"code": ErrorCode::MethodNotAllowed, "message": format!("{} takes {}", req.path(), allow.join(", "))}}),
        );
    }
    actix_web::ResponseError::error_response(&super::AppError::NotFound("path"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The codes the document names in its responses' descriptions; it must not lose one.
    #[test]
    fn the_document_names_the_contract_codes() {
        let doc = serde_json::to_string(document()).unwrap();
        for code in [
            ErrorCode::InvalidInput,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Expired,
            ErrorCode::TooLarge,
            ErrorCode::RateLimited,
            ErrorCode::Unavailable,
            ErrorCode::InvalidCode,
            ErrorCode::Csrf,
            ErrorCode::AlreadyLive,
            ErrorCode::RoomClosed,
            ErrorCode::NotPending,
            ErrorCode::CartEmpty,
            ErrorCode::SoldOut,
            ErrorCode::LimitExceeded,
        ] {
            assert!(doc.contains(code.as_str()), "the OpenAPI document lost {code}");
        }
    }
}
