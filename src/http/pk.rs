//! PK battles between two anchors: join as challenger, leave, read; the end timer's job and
//! the start-up sweep that ends (or resumes) PKs that were running when the server stopped.

use super::error::{AppError, AppResult};
use super::rooms::{anchor_of, room_actor};
use super::session::AuthUser;
use super::state::AppState;
use super::views::UserRef;
use crate::actors::pk::{self, pk_json, EndReason};
use crate::actors::room;
use crate::clock::now_ms;
use crate::domain::pk::{winner_at, Side};
use crate::domain::room::{RoomKind, LIVE};
use crate::storage::entities::pks as pk_rows;
use crate::storage::queue::{Job, JobHandler};
use crate::storage::{pks, rooms};
use actix_web::web;
use serde_json::{json, Value};
use std::time::Duration;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rooms/{id}/pk", web::get().to(get))
        .route("/rooms/{id}/pk/join", web::post().to(join))
        .route("/rooms/{id}/pk/leave", web::post().to(leave));
}

async fn user_ref(state: &AppState, id: i64) -> AppResult<UserRef> {
    let a = anchor_of(state, id).await?;
    Ok(UserRef { id: a.id, nickname: a.nickname })
}

/// The `pk` object of a stored PK (the actor's live view when it runs).
pub async fn view(state: &AppState, p: &pk_rows::Model) -> AppResult<Value> {
    if p.status == pks::RUNNING {
        if let Some(a) = state.pk.get(p.room_id) {
            if let Ok(v) = a.send(pk::Get).await {
                return Ok(v);
            }
        }
    }
    let host = user_ref(state, p.host_id).await?;
    let challenger = match p.challenger_id {
        Some(c) => Some(user_ref(state, c).await?),
        None => None,
    };
    Ok(pk_json(p, &host, challenger.as_ref()))
}

async fn pk_room(state: &AppState, id: i64) -> AppResult<crate::storage::entities::rooms::Model> {
    let r = rooms::find(&state.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    if r.kind != RoomKind::Pk.as_str() {
        return Err(AppError::conflict("not_pk_room", "this room is not a PK room"));
    }
    Ok(r)
}

/// The room's current or latest PK; 404 for a normal room.
#[utoipa::path(get, path = "/api/rooms/{id}/pk", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk"), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get(state: web::Data<AppState>, _user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Value>> {
    let r = rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    if r.kind != RoomKind::Pk.as_str() {
        return Err(AppError::NotFound("pk"));
    }
    let p = pks::latest(&state.b.db, r.id).await?.ok_or(AppError::NotFound("pk"))?;
    Ok(web::Json(view(&state, &p).await?))
}

/// An anchor with a live room of their own joins as challenger; the PK starts.
#[utoipa::path(post, path = "/api/rooms/{id}/pk/join", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk (running)"), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn join(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Value>> {
    let r = pk_room(&state, *id).await?;
    if r.status != LIVE {
        return Err(AppError::conflict("room_closed", "the room is closed"));
    }
    if r.anchor_id == user.id {
        return Err(AppError::forbidden("the room's own anchor cannot challenge it"));
    }
    let Some(my_room) = rooms::live_room_of(&state.b.db, user.id).await? else {
        return Err(AppError::forbidden("only an anchor with a live room of their own can join a PK"));
    };
    // One join at a time per room (across nodes too), then a status-guarded start.
    let lock = format!("pk_join:{}", r.id);
    if !state.b.kv.set_nx(&lock, "1", Duration::from_secs(5)).await? {
        return Err(AppError::conflict("pk_busy", "someone is joining this PK"));
    }
    let res = start_pk(&state, &r, user.id, my_room).await;
    let _ = state.b.kv.del(&lock).await;
    res.map(web::Json)
}

async fn start_pk(
    state: &AppState,
    r: &crate::storage::entities::rooms::Model,
    challenger: i64,
    challenger_room: i64,
) -> AppResult<Value> {
    let latest = pks::latest(&state.b.db, r.id).await?;
    let pk_id = match latest {
        Some(p) if p.status == pks::WAITING => p.id,
        Some(p) if p.status == pks::RUNNING => {
            return Err(AppError::conflict("pk_busy", "a challenger has joined already"))
        }
        _ => pks::create_waiting(&state.b.db, state.b.ids.next("pk").await?, r.id, r.anchor_id).await?.id,
    };
    let duration_ms = state.settings.pk.duration_s as i64 * 1000;
    if !pks::start(&state.b.db, pk_id, challenger, challenger_room, duration_ms).await? {
        return Err(AppError::conflict("pk_busy", "a challenger has joined already"));
    }
    let p = pks::find(&state.b.db, pk_id).await?.ok_or(AppError::NotFound("pk"))?;
    let addr = resume_actor(state, &p, p.score).await?;
    let v = addr.send(pk::Get).await.map_err(AppError::internal)?;
    state.b.outbox.schedule(pk::END_JOB, json!({"pk_id": pk_id}), Duration::from_millis(duration_ms as u64)).await?;
    let host_room = room_actor(state, r).await?;
    host_room.do_send(room::Publish { kind: "pk_started", data: json!({"pk": v}) });
    if let Some(cr) = rooms::find(&state.b.db, challenger_room).await? {
        if cr.status == LIVE {
            room_actor(state, &cr).await?.do_send(room::Publish { kind: "pk_started", data: json!({"pk": v}) });
        }
    }
    state.room_list.invalidate();
    Ok(v)
}

/// Starts the actor of a running PK with `score`.
async fn resume_actor(state: &AppState, p: &pk_rows::Model, score: i64) -> AppResult<actix::Addr<pk::PkActor>> {
    let mut p = p.clone();
    p.score = score;
    let host = user_ref(state, p.host_id).await?;
    let challenger = user_ref(state, p.challenger_id.unwrap_or_default()).await?;
    let mut room_ids = vec![];
    for room_id in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
        if let Some(r) = rooms::find(&state.b.db, room_id).await? {
            if r.status == LIVE {
                let a = room_actor(state, &r).await?;
                a.do_send(room::SetExtra { key: "pk", value: Some(pk_json(&p, &host, Some(&challenger))) });
                room_ids.push(room_id);
            }
        }
    }
    Ok(state.pk.start(p, host, challenger, room_ids, state.rooms.clone(), state.b.db.clone()))
}

/// The challenger or the host leaves: the other side wins.
#[utoipa::path(post, path = "/api/rooms/{id}/pk/leave", tag = "pk", params(("id" = i64, Path)),
    responses((status = 200, description = "pk (ended)"), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn leave(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Value>> {
    let r = pk_room(&state, *id).await?;
    let p = pks::latest(&state.b.db, r.id).await?.ok_or(AppError::NotFound("pk"))?;
    if p.status != pks::RUNNING {
        return Err(AppError::conflict("pk_not_running", "no PK is running in this room"));
    }
    if user.id != p.host_id && Some(user.id) != p.challenger_id {
        return Err(AppError::forbidden("only the host or the challenger can leave the PK"));
    }
    end_pk(&state, &p, EndReason::Left(user.id)).await?;
    let p = pks::find(&state.b.db, p.id).await?.ok_or(AppError::NotFound("pk"))?;
    Ok(web::Json(view(&state, &p).await?))
}

/// Ends a running PK: through its actor when it runs here, else straight in storage from the
/// score its gifts give. Answers an error until the end is stored, so a job retries it.
pub async fn end_pk(state: &AppState, p: &pk_rows::Model, reason: EndReason) -> AppResult<()> {
    if let Some(a) = state.pk.get(p.room_id) {
        match a.send(pk::End(reason)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => return Err(AppError::internal(anyhow::anyhow!("ending PK {}: {e}", p.id))),
            // The actor stopped meanwhile (it stored the end, or it was stopped): storage decides.
            Err(_) => {}
        }
    }
    let score = pks::replay_score(&state.b.db, p).await?;
    let winner = match reason {
        EndReason::Left(l) => Some(if l == p.host_id { p.challenger_id.unwrap_or_default() } else { p.host_id }),
        _ => match winner_at(score) {
            Some(Side::Host) => Some(p.host_id),
            Some(Side::Challenger) => p.challenger_id,
            None => None,
        },
    };
    if pks::end(&state.b.db, p.id, score, winner).await? {
        let mut ended = p.clone();
        ended.status = pks::ENDED.into();
        ended.score = score;
        ended.winner = winner;
        let v = view(state, &ended).await?;
        for room_id in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
            if let Some(a) = state.rooms.get(room_id) {
                a.do_send(room::Publish { kind: "pk_ended", data: json!({"pk": v, "winner": winner}) });
                a.do_send(room::SetExtra { key: "pk", value: Some(v.clone()) });
            }
        }
    }
    Ok(())
}

/// The end timer.
pub struct EndJob(pub AppState);

#[async_trait::async_trait]
impl JobHandler for EndJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let Some(id) = job.payload["pk_id"].as_i64() else {
            return Ok(());
        };
        let Some(p) = pks::find(&self.0.b.db, id).await? else {
            return Ok(());
        };
        if p.status != pks::RUNNING {
            return Ok(()); // ended already: a duplicate or late timer does nothing
        }
        if p.ends_at.is_some_and(|e| e > now_ms() + 50) {
            anyhow::bail!("PK timer fired early; retrying");
        }
        end_pk(&self.0, &p, EndReason::Timer).await.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// At start-up: PKs whose time passed while the server was down end now; the others resume
/// with the score their gifts give, and their end timer is scheduled again. PKs whose room
/// closed end too.
pub async fn sweep(state: &AppState) -> anyhow::Result<()> {
    for p in pks::running(&state.b.db).await? {
        if end_if_due(state, &p, 0).await? {
            continue;
        }
        let ends_at = p.ends_at.unwrap_or(0);
        if state.pk.get(p.room_id).is_none() {
            let score = pks::replay_score(&state.b.db, &p).await?;
            resume_actor(state, &p, score).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let left = Duration::from_millis((ends_at - now_ms()).max(0) as u64);
            state.b.outbox.schedule(pk::END_JOB, json!({"pk_id": p.id}), left).await?;
        }
    }
    Ok(())
}

/// Every `pk.sweep_interval_s`: running PKs whose end is overdue by more than `grace_ms` (a
/// lost or failing timer) or whose room closed (a close that failed half-way and was not
/// retried) end. Each is tried on its own: one that fails is tried again next time.
pub async fn periodic_sweep(state: &AppState) -> anyhow::Result<()> {
    let grace_ms = (state.settings.pk.sweep_interval_s as i64 * 1000).max(5_000);
    for p in pks::running(&state.b.db).await? {
        if let Err(e) = end_if_due(state, &p, grace_ms).await {
            tracing::warn!(pk = p.id, error = %e, "PK sweep could not end a PK; trying again later");
        }
    }
    Ok(())
}

/// Runs `periodic_sweep` every `pk.sweep_interval_s` until the task is dropped.
pub async fn sweep_every(state: AppState) {
    let every = Duration::from_secs(state.settings.pk.sweep_interval_s.max(1));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = periodic_sweep(&state).await {
            tracing::warn!(error = %e, "PK sweep failed; trying again later");
        }
    }
}

/// Ends `p` when its time passed more than `grace_ms` ago or a room it is played in closed;
/// true when it had to end.
async fn end_if_due(state: &AppState, p: &pk_rows::Model, grace_ms: i64) -> anyhow::Result<bool> {
    let host_room = rooms::find(&state.b.db, p.room_id).await?;
    let reason = if host_room.is_none_or(|r| r.status != LIVE) {
        Some(EndReason::RoomClosed)
    } else if p.ends_at.unwrap_or(0) + grace_ms <= now_ms() {
        Some(EndReason::Timer)
    } else {
        match p.challenger_room_id {
            Some(c) if rooms::find(&state.b.db, c).await?.is_none_or(|r| r.status != LIVE) => {
                Some(EndReason::Left(p.challenger_id.unwrap_or_default()))
            }
            _ => None,
        }
    };
    match reason {
        Some(reason) => {
            end_pk(state, p, reason).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A PK room gets a waiting PK when it opens.
pub async fn on_room_opened(state: &AppState, r: &crate::storage::entities::rooms::Model) -> AppResult<()> {
    if r.kind == RoomKind::Pk.as_str() {
        pks::create_waiting(&state.b.db, state.b.ids.next("pk").await?, r.id, r.anchor_id).await?;
    }
    Ok(())
}

/// A closing room ends the PK it hosts or challenges.
/// Every such PK is tried, even after one failed; the first error is answered.
pub async fn on_room_closing(state: &AppState, r: &crate::storage::entities::rooms::Model) -> AppResult<()> {
    let mut res = Ok(());
    for p in pks::running(&state.b.db).await? {
        if p.room_id == r.id || p.challenger_room_id == Some(r.id) {
            let reason = if p.room_id == r.id { EndReason::RoomClosed } else { EndReason::Left(r.anchor_id) };
            if let Err(e) = end_pk(state, &p, reason).await {
                res = res.and(Err(e));
            }
        }
    }
    res
}
