//! Red-packet rain: applications (admins approve), prepare (the anchor pays; amounts drawn and
//! stored), start (exactly one `rain_started`), grab (claim and credit in one transaction), and
//! the end (what was not grabbed goes back to the anchor), after a restart too.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::limits;
use super::rooms::{live_room, room_actor};
use super::session::{Admin, AuthUser};
use super::state::AppState;
use super::views::PageOf;
use crate::actors::{rain, room};
use crate::clock::{now_ms, rfc3339};
use crate::domain::money::TradeKind;
use crate::domain::paging::Page;
use crate::domain::ratelimit::Limit;
use crate::domain::redpacket;
use crate::storage::entities::{rains as rain_rows, red_packet_applications as app_rows};
use crate::storage::queue::{Job, JobHandler};
use crate::storage::rains;
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/red-packet/applications", web::post().to(apply))
        .route("/admin/red-packet/applications", web::get().to(list_applications))
        .route("/admin/red-packet/applications/{id}/approve", web::post().to(approve))
        .route("/admin/red-packet/applications/{id}/reject", web::post().to(reject))
        .route("/rooms/{id}/rain/prepare", web::post().to(prepare))
        .route("/rooms/{id}/rain/start", web::post().to(start))
        .route("/rooms/{id}/rain/grab", web::post().to(grab));
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: i64,
    pub anchor_id: i64,
    pub total_coins: i64,
    pub packets: i64,
    pub status: String,
    pub created_at: String,
}

fn app_view(a: app_rows::Model) -> ApplicationView {
    ApplicationView {
        id: a.id,
        anchor_id: a.anchor_id,
        total_coins: a.total_coins,
        packets: a.packets,
        status: a.status,
        created_at: rfc3339(a.created_at),
    }
}

/// The contract's `rain`.
pub fn rain_json(r: &rain_rows::Model, left: i64) -> Value {
    json!({
        "id": r.id,
        "room_id": r.room_id,
        "status": r.status,
        "total_coins": r.total_coins,
        "packets": r.packets,
        "left": left,
        "ends_at": r.ends_at.map(rfc3339),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct ApplyBody {
    /// At least `packets`.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub total_coins: i64,
    #[schema(minimum = 1, maximum = 100_000)]
    pub packets: i64,
}

/// An anchor applies to run a rain.
#[utoipa::path(post, path = "/api/red-packet/applications", tag = "rain", request_body = ApplyBody,
    responses((status = 201, body = ApplicationView), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn apply(state: web::Data<AppState>, user: AuthUser, body: Json<ApplyBody>) -> AppResult<HttpResponse> {
    let ApplyBody { total_coins, packets } = body.0;
    if !(1..=10_000_000).contains(&total_coins) {
        return Err(AppError::invalid("total_coins", "total_coins must be 1 to 10000000"));
    }
    if !(1..=100_000).contains(&packets) {
        return Err(AppError::invalid("packets", "packets must be 1 to 100000"));
    }
    if total_coins < packets {
        return Err(AppError::invalid(
            "total_coins",
            "total_coins must be at least packets (every packet holds a coin)",
        ));
    }
    let a = rains::apply(&state.b.db, state.b.ids.next("rp_app").await?, user.id, total_coins, packets).await?;
    Ok(HttpResponse::Created().json(app_view(a)))
}

#[derive(Deserialize, IntoParams)]
pub struct StatusQuery {
    pub status: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

pub fn parse_status(s: Option<&str>, allowed: &[&'static str]) -> AppResult<Option<&'static str>> {
    match s {
        None => Ok(None),
        Some(s) => allowed
            .iter()
            .find(|a| **a == s)
            .map(|a| Some(*a))
            .ok_or_else(|| AppError::invalid("status", format!("status must be one of {}", allowed.join(", ")))),
    }
}

/// Applications, newest first; admins only.
#[utoipa::path(get, path = "/api/admin/red-packet/applications", tag = "admin", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected|used)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ApplicationView>), (status = 403, body = super::openapi::ErrorBody)))]
pub async fn list_applications(
    state: web::Data<AppState>,
    _admin: Admin,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ApplicationView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status(q.status.as_deref(), &[rains::PENDING, rains::APPROVED, rains::REJECTED, rains::USED])?;
    let (items, total) = rains::applications(&state.b.db, status, page.offset(), page.page_size).await?;
    Ok(web::Json(PageOf {
        items: items.into_iter().map(app_view).collect(),
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

async fn decide(state: &AppState, id: i64, to: &str) -> AppResult<web::Json<ApplicationView>> {
    let a = rains::application(&state.b.db, id).await?.ok_or(AppError::NotFound("application"))?;
    if a.status != rains::PENDING && a.status != to {
        return Err(AppError::conflict("not_pending", "the application was decided already"));
    }
    rains::decide(&state.b.db, id, to).await?;
    let a = rains::application(&state.b.db, id).await?.ok_or(AppError::NotFound("application"))?;
    if a.status != to {
        return Err(AppError::conflict("not_pending", "the application was decided already"));
    }
    Ok(web::Json(app_view(a)))
}

/// Approves an application; admins only.
#[utoipa::path(post, path = "/api/admin/red-packet/applications/{id}/approve", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn approve(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> AppResult<web::Json<ApplicationView>> {
    decide(&state, *id, rains::APPROVED).await
}

/// Rejects an application; admins only.
#[utoipa::path(post, path = "/api/admin/red-packet/applications/{id}/reject", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn reject(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> AppResult<web::Json<ApplicationView>> {
    decide(&state, *id, rains::REJECTED).await
}

/// Prepares a rain: the anchor's wallet pays `total_coins`; the amounts are drawn and stored.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/prepare", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, description = "rain (prepared)"), (status = 402, body = super::openapi::ErrorBody), (status = 403, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn prepare(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Value>> {
    let r = live_room(&state, *id).await?;
    if r.anchor_id != user.id {
        return Err(AppError::forbidden("only the room's anchor can prepare a rain"));
    }
    if rains::active_in_room(&state.b.db, r.id).await?.is_some() {
        return Err(AppError::conflict("rain_busy", "a rain is already prepared or running in this room"));
    }
    let app = rains::usable_application(&state.b.db, user.id).await?.ok_or_else(|| {
        AppError::Forbidden("no_privilege", "you need an approved, unused red-packet application".into())
    })?;
    let amounts = redpacket::split(app.total_coins, app.packets, &mut rand::rng());
    let rain_id = state.b.ids.next("rain").await?;
    // Packet ids: one fresh range, taken from the generator one id at a time would be slow
    // for 100,000 packets; a rain's packets are numbered from its id times 10^6.
    let first_packet = rain_id * 1_000_000;
    let model = rain_rows::Model {
        id: rain_id,
        room_id: r.id,
        anchor_id: user.id,
        application_id: app.id,
        status: rains::PREPARING.into(),
        total_coins: app.total_coins,
        packets: app.packets,
        ends_at: None,
        refunded: None,
        created_at: now_ms(),
    };
    rains::insert_preparing(&state.b.db, &model, &amounts, first_packet).await?;
    let op = WalletOp {
        user_id: user.id,
        delta: -app.total_coins,
        kind: TradeKind::RainFund,
        r#ref: format!("rain:{rain_id}"),
        effect: Effect::Guards(rains::prepare_guards(&state.b.db, rain_id, app.id)),
    };
    match state.b.wallets.apply(op).await {
        Ok(Outcome::Done { .. }) => {}
        Ok(Outcome::Insufficient) => {
            rains::delete_preparing(&state.b.db, rain_id).await?;
            return Err(AppError::InsufficientBalance);
        }
        Ok(other) => {
            rains::delete_preparing(&state.b.db, rain_id).await?;
            tracing::info!(?other, "rain prepare lost a race");
            // A close marks the room's preparing rains failed, which refuses their debit.
            live_room(&state, r.id).await?;
            return Err(AppError::Forbidden("no_privilege", "the application was used meanwhile".into()));
        }
        Err(e) => {
            // Whether the debit committed is unknown: the rain's row says. Failing it (while
            // still preparing) makes sure it never commits later; a rain left preparing by an
            // error here too is failed by the sweep, so the room is never `rain_busy` for ever.
            if rains::fail_preparing(&state.b.db, rain_id).await? {
                return Err(AppError::internal(e));
            }
            let now = rains::find(&state.b.db, rain_id).await?;
            if now.is_none_or(|x| x.status != rains::PREPARED) {
                return Err(AppError::internal(e));
            }
        }
    }
    let rain = rains::find(&state.b.db, rain_id).await?.ok_or(AppError::NotFound("rain"))?;
    // The room may have closed while this prepare ran (its close did not see this rain yet):
    // the coins go straight back.
    let room_now = crate::storage::rooms::find(&state.b.db, r.id).await?;
    if room_now.is_none_or(|x| x.status != crate::domain::room::LIVE) {
        end_in_closed_room(&state, &rain).await.map_err(AppError::internal)?;
        return Err(AppError::conflict("room_closed", "the room is closed"));
    }
    let v = rain_json(&rain, rain.packets);
    room_actor(&state, &r).await?.do_send(room::SetExtra { key: "rain", value: Some(v.clone()) });
    Ok(web::Json(v))
}

/// Starts the prepared rain; viewers get `rain_started` exactly once.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/start", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, description = "rain (running)"), (status = 403, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn start(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Value>> {
    let r = live_room(&state, *id).await?;
    if r.anchor_id != user.id {
        return Err(AppError::forbidden("only the room's anchor can start a rain"));
    }
    let rain = rains::active_in_room(&state.b.db, r.id)
        .await?
        .filter(|x| x.status == rains::PREPARED)
        .ok_or_else(|| AppError::conflict("not_prepared", "prepare a rain first"))?;
    let duration = Duration::from_secs(state.settings.rain.duration_s);
    let ends_at = now_ms() + duration.as_millis() as i64;
    if !rains::start(&state.b.db, rain.id, ends_at).await? {
        return Err(AppError::conflict("not_prepared", "the rain was started already"));
    }
    let packets = rains::unclaimed(&state.b.db, rain.id).await?;
    let left = packets.len() as i64;
    state.rain.start(r.id, rain.id, packets);
    state.b.outbox.schedule(rain::END_JOB, json!({"rain_id": rain.id}), duration).await?;
    let rain = rains::find(&state.b.db, rain.id).await?.ok_or(AppError::NotFound("rain"))?;
    if rain.status != rains::RUNNING {
        // A close ended it between the start and the actor: no grabs on an ended rain.
        if let Some(a) = state.rain.remove(r.id, rain.id) {
            a.do_send(rain::Close);
        }
        return Err(AppError::conflict("room_closed", "the room is closed"));
    }
    let v = rain_json(&rain, left);
    let addr = room_actor(&state, &r).await?;
    addr.do_send(room::SetExtra { key: "rain", value: Some(v.clone()) });
    addr.do_send(room::Publish {
        kind: "rain_started",
        data: json!({"rain_id": rain.id, "ends_at": v["ends_at"], "packets": rain.packets}),
    });
    Ok(web::Json(v))
}

#[derive(Serialize, ToSchema)]
pub struct Grabbed {
    pub amount: i64,
    pub balance: i64,
}

/// Grabs one packet: claimed and credited in one transaction.
#[utoipa::path(post, path = "/api/rooms/{id}/rain/grab", tag = "rain", params(("id" = i64, Path)),
    responses((status = 200, body = Grabbed), (status = 409, body = super::openapi::ErrorBody), (status = 429, body = super::openapi::ErrorBody)))]
pub async fn grab(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Grabbed>> {
    limits::check(&state, &format!("grab:{}", user.id), Limit::per_second(20)).await?;
    let room_id = *id;
    let Some(actor) = state.rain.get(room_id) else {
        return Err(AppError::conflict("rain_not_running", "no rain is running in this room"));
    };
    let Some((packet_id, amount)) =
        actor.send(rain::Grab).await.map_err(|_| AppError::conflict("rain_not_running", "the rain has ended"))?
    else {
        return Err(AppError::conflict("rain_empty", "all packets are gone"));
    };
    let op = WalletOp {
        user_id: user.id,
        delta: amount,
        kind: TradeKind::RedPacket,
        r#ref: format!("packet:{packet_id}"),
        effect: Effect::Guards(vec![rains::grab_guard(&state.b.db, packet_id, user.id)]),
    };
    match state.b.wallets.apply(op).await {
        Ok(Outcome::Done { balance, .. }) => {
            let rain_id = packet_id / 1_000_000;
            let _ = state
                .notices
                .send(user.id, "rain_credited", json!({"amount": amount, "rain_id": rain_id, "balance": balance}))
                .await;
            Ok(web::Json(Grabbed { amount, balance }))
        }
        Ok(_) => Err(AppError::conflict("rain_not_running", "the rain has ended")),
        Err(e) => {
            actor.do_send(rain::GiveBack(packet_id, amount));
            Err(AppError::internal(e))
        }
    }
}

/// Ends a running rain: no more grabs, packets not grabbed go back to the anchor, the room
/// gets `rain_ended`. Every step is idempotent, so a retry or a restart finishes the job.
pub async fn end_rain(state: &AppState, r: &rain_rows::Model) -> anyhow::Result<()> {
    if let Some(a) = state.rain.remove(r.room_id, r.id) {
        let _ = a.send(rain::Close).await;
    }
    let (handed_out, coins, refunded) = rains::close_packets(&state.b.db, r.id).await?;
    if refunded > 0 {
        let op = WalletOp {
            user_id: r.anchor_id,
            delta: refunded,
            kind: TradeKind::RainRefund,
            r#ref: format!("rain_refund:{}", r.id),
            effect: Effect::None,
        };
        state.b.wallets.apply(op).await?;
    }
    if rains::mark_ended(&state.b.db, r.id, refunded).await? {
        // The room's actor, if it runs (a closing room still hears this before it closes).
        if let Some(addr) = state.rooms.get(r.room_id) {
            addr.do_send(room::SetExtra { key: "rain", value: None });
            addr.do_send(room::Publish {
                kind: "rain_ended",
                data: json!({"rain_id": r.id, "handed_out": handed_out, "coins": coins, "refunded": refunded}),
            });
        }
    }
    Ok(())
}

/// The end timer.
pub struct EndJob(pub AppState);

#[async_trait::async_trait]
impl JobHandler for EndJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let Some(id) = job.payload["rain_id"].as_i64() else { return Ok(()) };
        let Some(r) = rains::find(&self.0.b.db, id).await? else { return Ok(()) };
        if r.status != rains::RUNNING {
            // Ended elsewhere (a close, a sweep): an actor a racing start left stops too.
            if let Some(a) = self.0.rain.remove(r.room_id, r.id) {
                a.do_send(rain::Close);
            }
            return Ok(());
        }
        if r.ends_at.is_some_and(|e| e > now_ms() + 50) {
            anyhow::bail!("rain timer fired early; retrying");
        }
        end_rain(&self.0, &r).await
    }
}

/// At start-up: rains past their end finish; the others resume with the packets not grabbed.
/// Rains a crash or a failed close left behind are settled (see `settle`).
pub async fn sweep(state: &AppState) -> anyhow::Result<()> {
    for r in rains::active(&state.b.db).await? {
        if settle(state, &r, 0).await? || r.status != rains::RUNNING {
            continue;
        }
        let ends_at = r.ends_at.unwrap_or(0);
        if state.rain.get(r.room_id).is_none() {
            state.rain.start(r.room_id, r.id, rains::unclaimed(&state.b.db, r.id).await?);
            let left = Duration::from_millis((ends_at - now_ms()).max(0) as u64);
            state.b.outbox.schedule(rain::END_JOB, json!({"rain_id": r.id}), left).await?;
        }
    }
    Ok(())
}

/// Every `rain.sweep_interval_s`: what the start-up sweep settles, while the server runs
/// (a running rain gets a grace period past its end for its own timer). Each rain is tried
/// on its own: one that fails is tried again next time.
pub async fn periodic_sweep(state: &AppState) -> anyhow::Result<()> {
    let grace_ms = (state.settings.rain.sweep_interval_s as i64 * 1000).max(5_000);
    for r in rains::active(&state.b.db).await? {
        if let Err(e) = settle(state, &r, grace_ms).await {
            tracing::warn!(rain = r.id, error = %e, "rain sweep could not settle a rain; trying again later");
        }
    }
    Ok(())
}

/// Runs `periodic_sweep` every `rain.sweep_interval_s` until the task is dropped.
pub async fn sweep_every(state: AppState) {
    let every = Duration::from_secs(state.settings.rain.sweep_interval_s.max(1));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = periodic_sweep(&state).await {
            tracing::warn!(error = %e, "rain sweep failed; trying again later");
        }
    }
}

/// Settles a rain that is stuck or due; true when it did something.
/// - In a closed room, every preparing, prepared or running rain ends and its coins go back.
/// - A rain left `preparing` longer than `rain.preparing_timeout_s` (its prepare died between
///   the row and the debit): failed without refund when its debit never happened, refunded
///   when it did.
/// - A running rain more than `grace_ms` past its end ends.
async fn settle(state: &AppState, r: &rain_rows::Model, grace_ms: i64) -> anyhow::Result<bool> {
    let room_live = crate::storage::rooms::find(&state.b.db, r.room_id)
        .await?
        .is_some_and(|room| room.status == crate::domain::room::LIVE);
    let stale_before = now_ms() - state.settings.rain.preparing_timeout_s as i64 * 1000;
    if r.status == rains::PREPARING && (room_live && r.created_at > stale_before) {
        return Ok(false); // a prepare in flight
    }
    if r.status == rains::PREPARING {
        let paid = state.b.wallets.trade_by_ref(TradeKind::RainFund, &format!("rain:{}", r.id)).await?.is_some();
        if !paid {
            if rains::fail_preparing(&state.b.db, r.id).await? {
                tracing::warn!(rain = r.id, "a prepare left its rain unpaid; marked failed");
                return Ok(true);
            }
        } else {
            rains::mark_prepared(&state.b.db, r.id).await?;
        }
        let Some(now) = rains::find(&state.b.db, r.id).await? else { return Ok(true) };
        end_in_closed_room(state, &now).await?;
        return Ok(true);
    }
    if !room_live {
        end_in_closed_room(state, r).await?;
        return Ok(true);
    }
    if r.status == rains::RUNNING && r.ends_at.unwrap_or(0) + grace_ms <= now_ms() {
        end_rain(state, r).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Ends a rain whatever stage it reached, its coins going back to the anchor: a preparing
/// one fails (its debit can then never commit), a prepared one starts and ends at once, a
/// running one ends. Idempotent, and safe against a prepare or start racing it.
pub async fn end_in_closed_room(state: &AppState, r: &rain_rows::Model) -> anyhow::Result<()> {
    let db = &state.b.db;
    let mut r = r.clone();
    if r.status == rains::PREPARING {
        if rains::fail_preparing(db, r.id).await? {
            return Ok(());
        }
        let Some(now) = rains::find(db, r.id).await? else { return Ok(()) };
        r = now;
    }
    if r.status == rains::PREPARED {
        // Whoever moves it to running (this, or a start racing it), it is running after.
        rains::start(db, r.id, now_ms()).await?;
        let Some(now) = rains::find(db, r.id).await? else { return Ok(()) };
        r = now;
    }
    if r.status == rains::RUNNING {
        end_rain(state, &r).await?;
    }
    Ok(())
}

/// The rain a room shows (`GET /api/rooms/{id}`), if one is prepared or running.
pub async fn room_rain(state: &AppState, room_id: i64) -> AppResult<Option<Value>> {
    let Some(r) = rains::active_in_room(&state.b.db, room_id).await?.filter(|r| r.status != rains::PREPARING) else {
        return Ok(None);
    };
    let left = match state.rain.get(room_id) {
        Some(a) => a.send(rain::Left).await.map(|n| n as i64).unwrap_or(0),
        None => r.packets,
    };
    Ok(Some(rain_json(&r, left)))
}

/// A closing room ends every rain in it, whatever its stage, and the coins not grabbed go
/// back. Each is tried even after one failed; the first error is answered.
pub async fn on_room_closing(state: &AppState, room_id: i64) -> AppResult<()> {
    let mut res = Ok(());
    for r in rains::active_all_in_room(&state.b.db, room_id).await? {
        if let Err(e) = end_in_closed_room(state, &r).await {
            res = res.and(Err(AppError::internal(e)));
        }
    }
    res
}
