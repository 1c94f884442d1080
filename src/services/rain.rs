//! Red-packet rain: applications (admins decide), prepare (the anchor pays; amounts drawn and
//! stored), start (exactly one `rain_started`), grab (claim and credit in one transaction), and
//! the end (what was not grabbed goes back to the anchor), after a restart too.

use super::jobs::{self, Fired};
use super::live_room::{live_room, require_anchor, room_actor};
pub use super::rain_view::{rain_view, room_rain};
use super::{review, AppError, AppResult, Services};
use crate::actors::{rain, room};
use crate::clock::now_ms;
use crate::domain::error::ErrorCode;
use crate::domain::events::{RainEnded, RainStarted};
use crate::domain::money::TradeKind;
use crate::domain::redpacket::{self, RainStatus, RainView};
use crate::domain::review::Decision;
use crate::storage::entities::{rains as rain_rows, red_packet_applications as app_rows};
use crate::storage::queue::{Job, JobHandler};
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use crate::storage::{rains, Stated};
use serde_json::json;
use std::time::Duration;

/// An anchor applies to run a rain of `total_coins` in `packets`.
pub async fn apply(svc: &Services, anchor_id: i64, total_coins: i64, packets: i64) -> AppResult<app_rows::Model> {
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
    Ok(rains::apply(&svc.b.db, svc.b.ids.next("rp_app").await?, anchor_id, total_coins, packets).await?)
}

/// An admin approves or rejects a pending application; 409 `not_pending` once decided.
pub async fn decide(svc: &Services, id: i64, d: Decision) -> AppResult<app_rows::Model> {
    review::decide(&svc.b.db, id, d).await
}

/// Prepares a rain: the anchor's wallet pays `total_coins`; the amounts are drawn and stored.
pub async fn prepare(svc: &Services, user_id: i64, room_id: i64) -> AppResult<RainView> {
    let r = live_room(svc, room_id).await?;
    require_anchor(&r, user_id, "only the room's anchor can prepare a rain")?;
    if rains::active_in_room(&svc.b.db, r.id).await?.is_some() {
        return Err(AppError::conflict(ErrorCode::RainBusy, "a rain is already prepared or running in this room"));
    }
    let app = rains::usable_application(&svc.b.db, user_id).await?.ok_or_else(|| {
        AppError::forbidden_as(ErrorCode::NoPrivilege, "you need an approved, unused red-packet application")
    })?;
    let amounts = redpacket::split(app.total_coins, app.packets, &mut rand::rng());
    let rain_id = svc.b.ids.next("rain").await?;
    // Packet ids: one fresh range, taken from the generator one id at a time would be slow
    // for 100,000 packets; a rain's packets are numbered from its id times 10^6.
    let first_packet = rain_id * 1_000_000;
    let model = rain_rows::Model {
        id: rain_id,
        room_id: r.id,
        anchor_id: user_id,
        application_id: app.id,
        status: RainStatus::Preparing.as_str().into(),
        total_coins: app.total_coins,
        packets: app.packets,
        ends_at: None,
        refunded: None,
        created_at: now_ms(),
    };
    rains::insert_preparing(&svc.b.db, &model, &amounts, first_packet).await?;
    let op = WalletOp::new(
        user_id,
        -app.total_coins,
        TradeKind::RainFund,
        format!("rain:{rain_id}"),
        Effect::Guards(rains::prepare_guards(&svc.b.db, rain_id, app.id)),
    )
    .with_note(format!("Red-packet rain: {} coins in {} packets", app.total_coins, app.packets));
    match svc.b.wallets.apply(op).await {
        Ok(Outcome::Done { .. }) => {}
        Ok(Outcome::Insufficient) => {
            rains::delete_preparing(&svc.b.db, rain_id).await?;
            return Err(AppError::InsufficientBalance);
        }
        Ok(other) => {
            rains::delete_preparing(&svc.b.db, rain_id).await?;
            tracing::info!(?other, "rain prepare lost a race");
            // A close marks the room's preparing rains failed, which refuses their debit.
            live_room(svc, r.id).await?;
            return Err(AppError::forbidden_as(ErrorCode::NoPrivilege, "the application was used meanwhile"));
        }
        Err(e) => {
            // Whether the debit committed is unknown: the rain's row says. Failing it (while
            // still preparing) makes sure it never commits later; a rain left preparing by an
            // error here too is failed by the sweep, so the room is never `rain_busy` for ever.
            if rains::fail_preparing(&svc.b.db, rain_id).await? {
                return Err(AppError::internal(e));
            }
            let now = rains::find(&svc.b.db, rain_id).await?;
            if now.is_none_or(|x| !x.is(RainStatus::Prepared)) {
                return Err(AppError::internal(e));
            }
        }
    }
    let rain = rains::find(&svc.b.db, rain_id).await?.ok_or(AppError::NotFound("rain"))?;
    // The room may have closed while this prepare ran (its close did not see this rain yet):
    // the coins go straight back.
    let room_now = crate::storage::rooms::find(&svc.b.db, r.id).await?;
    if room_now.is_none_or(|x| x.status != crate::domain::room::LIVE) {
        end_in_closed_room(svc, &rain).await.map_err(AppError::internal)?;
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    let v = rain_view(&rain, rain.packets);
    room_actor(svc, &r).await?.do_send(room::SetRain(Some(v.clone())));
    Ok(v)
}

/// Starts the prepared rain; viewers get `rain_started` exactly once. In a cluster the rain's
/// packets are handed out by the room's home, so the start runs there.
pub async fn start(svc: &Services, user_id: i64, room_id: i64) -> AppResult<RainView> {
    let r = live_room(svc, room_id).await?;
    require_anchor(&r, user_id, "only the room's anchor can start a rain")?;
    if let Some(c) = &svc.cluster {
        if let Some(home) = c.elsewhere(room_id).await? {
            let v = c.on_home(&home, room_id, super::cluster::OnHome::StartRain { user_id }).await?;
            return serde_json::from_value(v).map_err(AppError::internal);
        }
    }
    start_here(svc, user_id, r).await
}

async fn start_here(svc: &Services, user_id: i64, r: crate::storage::entities::rooms::Model) -> AppResult<RainView> {
    let _ = user_id;
    let rain = rains::active_in_room(&svc.b.db, r.id)
        .await?
        .filter(|x| x.is(RainStatus::Prepared))
        .ok_or_else(|| AppError::conflict(ErrorCode::NotPrepared, "prepare a rain first"))?;
    let duration = Duration::from_secs(svc.settings.rain.duration_s);
    let ends_at = now_ms() + duration.as_millis() as i64;
    if !rains::start(&svc.b.db, rain.id, ends_at).await? {
        return Err(AppError::conflict(ErrorCode::NotPrepared, "the rain was started already"));
    }
    let packets = rains::unclaimed(&svc.b.db, rain.id).await?;
    let left = packets.len() as i64;
    svc.rain.start(&svc.rooms.arbiter(r.id), r.id, rain.id, packets);
    svc.b.outbox.schedule(rain::END_JOB, json!({"rain_id": rain.id}), duration).await?;
    let rain = rains::find(&svc.b.db, rain.id).await?.ok_or(AppError::NotFound("rain"))?;
    if !rain.is(RainStatus::Running) {
        // A close ended it between the start and the actor: no grabs on an ended rain.
        if let Some(a) = svc.rain.remove(r.id, rain.id) {
            a.do_send(rain::Close);
        }
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    let v = rain_view(&rain, left);
    let addr = room_actor(svc, &r).await?;
    addr.do_send(room::SetRain(Some(v.clone())));
    addr.do_send(room::Publish(
        RainStarted { ends_at: v.ends_at.clone(), packets: rain.packets, rain_id: rain.id }.into(),
    ));
    Ok(v)
}

/// Grabs one packet for `user_id`: claimed and credited in one transaction; the amount and the
/// new balance.
pub async fn grab(svc: &Services, user_id: i64, room_id: i64) -> AppResult<(i64, i64)> {
    // In a cluster the rain's packets are handed out by the room's home.
    if svc.rain.get(room_id).is_none() {
        if let Some(c) = &svc.cluster {
            if let Some(home) = c.elsewhere(room_id).await? {
                let v = c.on_home(&home, room_id, super::cluster::OnHome::Grab { user_id }).await?;
                return serde_json::from_value(v).map_err(AppError::internal);
            }
        }
    }
    let Some(actor) = svc.rain.get(room_id) else {
        return Err(AppError::conflict(ErrorCode::RainNotRunning, "no rain is running in this room"));
    };
    // A closed rain, or one whose actor is gone: ended either way.
    let Ok(Ok(grabbed)) = actor.send(rain::Grab).await else {
        return Err(AppError::conflict(ErrorCode::RainNotRunning, "the rain has ended"));
    };
    let Some((packet_id, amount)) = grabbed else {
        return Err(AppError::conflict(ErrorCode::RainEmpty, "all packets are gone"));
    };
    let op = WalletOp::new(
        user_id,
        amount,
        TradeKind::RedPacket,
        format!("packet:{packet_id}"),
        Effect::ClaimPacket { packet_id },
    )
    .with_note("Red packet grabbed in a rain");
    match svc.b.wallets.apply(op).await {
        Ok(Outcome::Done { balance, .. }) => {
            let rain_id = packet_id / 1_000_000;
            let _ = svc
                .notices
                .send(user_id, "rain_credited", json!({"amount": amount, "rain_id": rain_id, "balance": balance}))
                .await;
            Ok((amount, balance))
        }
        Ok(_) => Err(AppError::conflict(ErrorCode::RainNotRunning, "the rain has ended")),
        Err(e) => {
            actor.do_send(rain::GiveBack(packet_id, amount));
            Err(AppError::internal(e))
        }
    }
}

/// Ends a running rain: no more grabs, packets not grabbed go back to the anchor, the room
/// gets `rain_ended`. Every step is idempotent, so a retry or a restart finishes the job.
pub async fn end_rain(svc: &Services, r: &rain_rows::Model) -> anyhow::Result<()> {
    if let Some(a) = svc.rain.remove(r.room_id, r.id) {
        let _ = a.send(rain::Close).await;
    }
    let (handed_out, coins, refunded) = rains::close_packets(&svc.b.db, r.id).await?;
    if refunded > 0 {
        let op =
            WalletOp::new(r.anchor_id, refunded, TradeKind::RainRefund, format!("rain_refund:{}", r.id), Effect::None)
                .with_note(format!("Rain refund: {refunded} coins not grabbed"));
        svc.b.wallets.apply(op).await?;
    }
    if rains::mark_ended(&svc.b.db, r.id, refunded).await? {
        // The room's actor, if it runs (a closing room still hears this before it closes).
        if let Some(addr) = svc.rooms.get(r.room_id) {
            addr.do_send(room::SetRain(None));
            addr.do_send(room::Publish(RainEnded { coins, handed_out, refunded, rain_id: r.id }.into()));
        }
    }
    Ok(())
}

/// The end timer.
pub struct EndJob(pub Services);

#[async_trait::async_trait]
impl JobHandler for EndJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        match jobs::due::<rain_rows::Model>(&self.0.b.db, job).await? {
            Fired::Due(r) => end_rain(&self.0, &r).await,
            Fired::Settled(r) => {
                // Ended elsewhere (a close, a sweep): an actor a racing start left stops too.
                if let Some(a) = self.0.rain.remove(r.room_id, r.id) {
                    a.do_send(rain::Close);
                }
                Ok(())
            }
            Fired::Gone => Ok(()),
        }
    }
}

/// At start-up: rains past their end finish; the others resume with the packets not grabbed.
/// Rains a crash or a failed close left behind are settled (see `settle`).
pub async fn sweep(svc: &Services) -> anyhow::Result<()> {
    for r in rains::active(&svc.b.db).await? {
        if settle(svc, &r, 0).await? || !r.is(RainStatus::Running) {
            continue;
        }
        if svc.rain.get(r.room_id).is_none() && here_is_home(svc, r.room_id).await {
            let packets = rains::unclaimed(&svc.b.db, r.id).await?;
            svc.rain.start(&svc.rooms.arbiter(r.room_id), r.room_id, r.id, packets);
            super::jobs::schedule_at(svc, rain::END_JOB, json!({"rain_id": r.id}), r.ends_at.unwrap_or(0)).await?;
        }
    }
    Ok(())
}

/// Whether this node hands out the room's packets: always on one node; in a cluster, when it
/// is the room's home (a node that cannot tell does not start a second actor).
async fn here_is_home(svc: &Services, room_id: i64) -> bool {
    match &svc.cluster {
        None => true,
        Some(c) => matches!(c.elsewhere(room_id).await, Ok(None)),
    }
}

/// This node became `room_id`'s home: a rain running there resumes here, with the packets not
/// grabbed (its end timer is already scheduled).
pub async fn resume_here(svc: &Services, room_id: i64) -> anyhow::Result<()> {
    if svc.rain.get(room_id).is_some() {
        return Ok(());
    }
    if let Some(r) = rains::active_in_room(&svc.b.db, room_id).await?.filter(|r| r.is(RainStatus::Running)) {
        let packets = rains::unclaimed(&svc.b.db, r.id).await?;
        svc.rain.start(&svc.rooms.arbiter(room_id), room_id, r.id, packets);
    }
    Ok(())
}

/// Every `rain.sweep_interval_s`: what the start-up sweep settles, while the server runs
/// (a running rain gets a grace period past its end for its own timer). Each rain is tried
/// on its own: one that fails is tried again next time.
pub async fn periodic_sweep(svc: &Services) -> anyhow::Result<()> {
    let grace_ms = (svc.settings.rain.sweep_interval_s as i64 * 1000).max(5_000);
    for r in rains::active(&svc.b.db).await? {
        if let Err(e) = settle(svc, &r, grace_ms).await {
            tracing::warn!(rain = r.id, error = %format!("{e:#}"), "rain sweep could not settle a rain; trying again later");
        }
    }
    Ok(())
}

/// Settles a rain that is stuck or due; true when it did something.
/// - In a closed room, every preparing, prepared or running rain ends and its coins go back.
/// - A rain left `preparing` longer than `rain.preparing_timeout_s` (its prepare died between
///   the row and the debit): failed without refund when its debit never happened, refunded
///   when it did.
/// - A running rain more than `grace_ms` past its end ends.
async fn settle(svc: &Services, r: &rain_rows::Model, grace_ms: i64) -> anyhow::Result<bool> {
    let room_live = crate::storage::rooms::find(&svc.b.db, r.room_id)
        .await?
        .is_some_and(|room| room.status == crate::domain::room::LIVE);
    let stale_before = now_ms() - svc.settings.rain.preparing_timeout_s as i64 * 1000;
    if r.is(RainStatus::Preparing) && (room_live && r.created_at > stale_before) {
        return Ok(false); // a prepare in flight
    }
    if r.is(RainStatus::Preparing) {
        let paid = svc.b.wallets.trade_by_ref(TradeKind::RainFund, &format!("rain:{}", r.id)).await?.is_some();
        if !paid {
            if rains::fail_preparing(&svc.b.db, r.id).await? {
                tracing::warn!(rain = r.id, "a prepare left its rain unpaid; marked failed");
                return Ok(true);
            }
        } else {
            rains::mark_prepared(&svc.b.db, r.id).await?;
        }
        let Some(now) = rains::find(&svc.b.db, r.id).await? else { return Ok(true) };
        end_in_closed_room(svc, &now).await?;
        return Ok(true);
    }
    if !room_live {
        end_in_closed_room(svc, r).await?;
        return Ok(true);
    }
    if r.is(RainStatus::Running) && r.ends_at.unwrap_or(0) + grace_ms <= now_ms() {
        end_rain(svc, r).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Ends a rain whatever stage it reached, its coins going back to the anchor: a preparing
/// one fails (its debit can then never commit), a prepared one starts and ends at once, a
/// running one ends. Idempotent, and safe against a prepare or start racing it.
pub async fn end_in_closed_room(svc: &Services, r: &rain_rows::Model) -> anyhow::Result<()> {
    let db = &svc.b.db;
    let mut r = r.clone();
    if r.is(RainStatus::Preparing) {
        if rains::fail_preparing(db, r.id).await? {
            return Ok(());
        }
        let Some(now) = rains::find(db, r.id).await? else { return Ok(()) };
        r = now;
    }
    if r.is(RainStatus::Prepared) {
        // Whoever moves it to running (this, or a start racing it), it is running after.
        rains::start(db, r.id, now_ms()).await?;
        let Some(now) = rains::find(db, r.id).await? else { return Ok(()) };
        r = now;
    }
    if r.is(RainStatus::Running) {
        end_rain(svc, &r).await?;
    }
    Ok(())
}

/// A closing room ends every rain in it, whatever its stage, and the coins not grabbed go
/// back. Each is tried even after one failed; the first error is answered.
pub async fn on_room_closing(svc: &Services, room_id: i64) -> AppResult<()> {
    let mut res = Ok(());
    for r in rains::active_all_in_room(&svc.b.db, room_id).await? {
        if let Err(e) = end_in_closed_room(svc, &r).await {
            res = res.and(Err(AppError::internal(e)));
        }
    }
    res
}
