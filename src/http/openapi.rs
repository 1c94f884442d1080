//! The OpenAPI document, gathered from the handlers' `#[utoipa::path]` annotations.

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Every error: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorInner {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
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
        super::moderation::unban,
        super::moderation::slow_mode,
        super::moderation::delete_message,
        super::wallet::wallet,
        super::wallet::products,
        super::wallet::recharge,
        super::wallet::trades,
        super::wallet::notify,
        super::gifts::list,
        super::gifts::send,
        super::gifts::ranking,
        super::pk::get,
        super::pk::join,
        super::pk::leave,
        super::rain::apply,
        super::rain::list_applications,
        super::rain::approve,
        super::rain::reject,
        super::rain::prepare,
        super::rain::start,
        super::rain::grab,
        super::commerce::create_product,
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
        super::ops::openapi,
    ),
    components(schemas(ErrorBody, ErrorInner))
)]
pub struct ApiDoc;
