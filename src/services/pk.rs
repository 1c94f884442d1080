//! PK battles between two anchors: a challenger joins (the PK starts), a side leaves, the timer
//! or a closing room ends it; the end timer's job, and the sweeps that end (or resume) PKs that
//! were running when the server stopped or whose timer or close failed.

use super::jobs::{self, Fired};
use super::live_room::{anchor_of, room_actor};
use super::{AppError, AppResult, Services};
use crate::actors::pk::{self, pk_view, EndReason};
use crate::actors::room;
use crate::clock::now_ms;
use crate::domain::error::ErrorCode;
use crate::domain::events::{PkEnded, PkStarted};
use crate::domain::pk::{winner_at, PkStatus, PkView, Side};
use crate::domain::room::{RoomKind, LIVE};
use crate::domain::user::UserRef;
use crate::storage::entities::pks as pk_rows;
use crate::storage::queue::{Job, JobHandler};
use crate::storage::{pks, rooms, Stated};
use serde_json::json;
use std::time::Duration;

async fn user_ref(svc: &Services, id: i64) -> AppResult<UserRef> {
    let a = anchor_of(svc, id).await?;
    Ok(UserRef { id: a.id, nickname: a.nickname })
}

/// The `pk` object of a stored PK (the actor's live view when it runs).
pub async fn view(svc: &Services, p: &pk_rows::Model) -> AppResult<PkView> {
    if p.is(PkStatus::Running) {
        if let Some(a) = svc.pk.get(p.room_id) {
            if let Ok(v) = a.send(pk::Get).await {
                return Ok(v);
            }
        }
    }
    let host = user_ref(svc, p.host_id).await?;
    let challenger = match p.challenger_id {
        Some(c) => Some(user_ref(svc, c).await?),
        None => None,
    };
    Ok(pk_view(p, &host, challenger.as_ref()))
}

async fn pk_room(svc: &Services, id: i64) -> AppResult<crate::storage::entities::rooms::Model> {
    let r = rooms::find(&svc.b.db, id).await?.ok_or(AppError::NotFound("room"))?;
    if r.kind != RoomKind::Pk.as_str() {
        return Err(AppError::conflict(ErrorCode::NotPkRoom, "this room is not a PK room"));
    }
    Ok(r)
}

/// The room's current or latest PK; 404 for a normal room.
pub async fn current(svc: &Services, room_id: i64) -> AppResult<PkView> {
    let r = rooms::find(&svc.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    if r.kind != RoomKind::Pk.as_str() {
        return Err(AppError::NotFound("pk"));
    }
    let p = pks::latest(&svc.b.db, r.id).await?.ok_or(AppError::NotFound("pk"))?;
    view(svc, &p).await
}

/// An anchor with a live room of their own joins as challenger; the PK starts.
pub async fn join(svc: &Services, user_id: i64, room_id: i64) -> AppResult<PkView> {
    let r = pk_room(svc, room_id).await?;
    if r.status != LIVE {
        return Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"));
    }
    if r.anchor_id == user_id {
        return Err(AppError::forbidden("the room's own anchor cannot challenge it"));
    }
    let Some(my_room) = rooms::live_room_of(&svc.b.db, user_id).await? else {
        return Err(AppError::forbidden("only an anchor with a live room of their own can join a PK"));
    };
    // One join at a time per room (across nodes too), then a status-guarded start.
    let lock = crate::storage::kv::keys::pk_join_lock(r.id);
    if !svc.b.kv.set_nx(&lock, "1", Duration::from_secs(5)).await? {
        return Err(AppError::conflict(ErrorCode::PkBusy, "someone is joining this PK"));
    }
    let res = start_pk(svc, &r, user_id, my_room).await;
    let _ = svc.b.kv.del(&lock).await;
    res
}

async fn start_pk(
    svc: &Services,
    r: &crate::storage::entities::rooms::Model,
    challenger: i64,
    challenger_room: i64,
) -> AppResult<PkView> {
    let latest = pks::latest(&svc.b.db, r.id).await?;
    let pk_id = match latest {
        Some(p) if p.is(PkStatus::Waiting) => p.id,
        Some(p) if p.is(PkStatus::Running) => {
            return Err(AppError::conflict(ErrorCode::PkBusy, "a challenger has joined already"))
        }
        _ => pks::create_waiting(&svc.b.db, svc.b.ids.next("pk").await?, r.id, r.anchor_id).await?.id,
    };
    let duration_ms = svc.settings.pk.duration_s as i64 * 1000;
    if !pks::start(&svc.b.db, pk_id, challenger, challenger_room, duration_ms).await? {
        return Err(AppError::conflict(ErrorCode::PkBusy, "a challenger has joined already"));
    }
    let p = pks::find(&svc.b.db, pk_id).await?.ok_or(AppError::NotFound("pk"))?;
    let addr = resume_actor(svc, &p, p.score).await?;
    let v = addr.send(pk::Get).await.map_err(AppError::internal)?;
    svc.b.outbox.schedule(pk::END_JOB, json!({"pk_id": pk_id}), Duration::from_millis(duration_ms as u64)).await?;
    let host_room = room_actor(svc, r).await?;
    let started = room::Publish(PkStarted { pk: v.clone() }.into());
    host_room.do_send(started.clone());
    if let Some(cr) = rooms::find(&svc.b.db, challenger_room).await? {
        if cr.status == LIVE {
            room_actor(svc, &cr).await?.do_send(started);
        }
    }
    svc.room_list.invalidate();
    Ok(v)
}

/// Starts the actor of a running PK with `score`.
async fn resume_actor(svc: &Services, p: &pk_rows::Model, score: i64) -> AppResult<actix::Addr<pk::PkActor>> {
    let mut p = p.clone();
    p.score = score;
    let host = user_ref(svc, p.host_id).await?;
    let challenger = user_ref(svc, p.challenger_id.unwrap_or_default()).await?;
    let mut room_ids = vec![];
    for room_id in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
        if let Some(r) = rooms::find(&svc.b.db, room_id).await? {
            if r.status == LIVE {
                let a = room_actor(svc, &r).await?;
                a.do_send(room::SetPk(Some(pk_view(&p, &host, Some(&challenger)))));
                room_ids.push(room_id);
            }
        }
    }
    Ok(svc.pk.start(p, host, challenger, room_ids, svc.rooms.clone(), svc.b.db.clone()))
}

/// The challenger or the host leaves: the other side wins.
pub async fn leave(svc: &Services, user_id: i64, room_id: i64) -> AppResult<PkView> {
    let r = pk_room(svc, room_id).await?;
    let p = pks::latest(&svc.b.db, r.id).await?.ok_or(AppError::NotFound("pk"))?;
    if !p.is(PkStatus::Running) {
        return Err(AppError::conflict(ErrorCode::PkNotRunning, "no PK is running in this room"));
    }
    if user_id != p.host_id && Some(user_id) != p.challenger_id {
        return Err(AppError::forbidden("only the host or the challenger can leave the PK"));
    }
    end_pk(svc, &p, EndReason::Left(user_id)).await?;
    let p = pks::find(&svc.b.db, p.id).await?.ok_or(AppError::NotFound("pk"))?;
    view(svc, &p).await
}

/// Ends a running PK: through its actor when it runs here, else straight in storage from the
/// score its gifts give. Answers an error until the end is stored, so a job retries it.
pub async fn end_pk(svc: &Services, p: &pk_rows::Model, reason: EndReason) -> AppResult<()> {
    if let Some(a) = svc.pk.get(p.room_id) {
        match a.send(pk::End(reason)).await {
            Ok(Ok(_)) => return Ok(()),
            // 500 whatever the cause (the actor retries its store itself); the cause stays in the
            // chain for the log.
            Ok(Err(e)) => return Err(AppError::Internal(anyhow::Error::new(e).context(format!("ending PK {}", p.id)))),
            // The actor stopped meanwhile (it stored the end, or it was stopped): storage decides.
            Err(_) => {}
        }
    }
    let score = pks::replay_score(&svc.b.db, p).await?;
    let winner = match reason {
        EndReason::Left(l) => Some(if l == p.host_id { p.challenger_id.unwrap_or_default() } else { p.host_id }),
        _ => match winner_at(score) {
            Some(Side::Host) => Some(p.host_id),
            Some(Side::Challenger) => p.challenger_id,
            None => None,
        },
    };
    if pks::end(&svc.b.db, p.id, score, winner).await? {
        let mut ended = p.clone();
        ended.status = PkStatus::Ended.as_str().into();
        ended.score = score;
        ended.winner = winner;
        let v = view(svc, &ended).await?;
        for room_id in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
            if let Some(a) = svc.rooms.get(room_id) {
                a.do_send(room::Publish(PkEnded { pk: v.clone(), winner }.into()));
                a.do_send(room::SetPk(Some(v.clone())));
            }
        }
    }
    Ok(())
}

/// The end timer.
pub struct EndJob(pub Services);

#[async_trait::async_trait]
impl JobHandler for EndJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        // Ended already: a duplicate or late timer does nothing.
        let Fired::Due(p) = jobs::due::<pk_rows::Model>(&self.0.b.db, job).await? else { return Ok(()) };
        end_pk(&self.0, &p, EndReason::Timer).await.map_err(AppError::into_anyhow)
    }
}

/// At start-up: PKs whose time passed while the server was down end now; the others resume
/// with the score their gifts give, and their end timer is scheduled again. PKs whose room
/// closed end too.
pub async fn sweep(svc: &Services) -> anyhow::Result<()> {
    for p in pks::running(&svc.b.db).await? {
        if end_if_due(svc, &p, 0).await? {
            continue;
        }
        if svc.pk.get(p.room_id).is_none() {
            let score = pks::replay_score(&svc.b.db, &p).await?;
            resume_actor(svc, &p, score).await.map_err(AppError::into_anyhow)?;
            super::jobs::schedule_at(svc, pk::END_JOB, json!({"pk_id": p.id}), p.ends_at.unwrap_or(0)).await?;
        }
    }
    Ok(())
}

/// Every `pk.sweep_interval_s`: running PKs whose end is overdue by more than `grace_ms` (a
/// lost or failing timer) or whose room closed (a close that failed half-way and was not
/// retried) end. Each is tried on its own: one that fails is tried again next time.
pub async fn periodic_sweep(svc: &Services) -> anyhow::Result<()> {
    let grace_ms = (svc.settings.pk.sweep_interval_s as i64 * 1000).max(5_000);
    for p in pks::running(&svc.b.db).await? {
        if let Err(e) = end_if_due(svc, &p, grace_ms).await {
            tracing::warn!(pk = p.id, error = %format!("{e:#}"), "PK sweep could not end a PK; trying again later");
        }
    }
    Ok(())
}

/// Ends `p` when its time passed more than `grace_ms` ago or a room it is played in closed;
/// true when it had to end.
async fn end_if_due(svc: &Services, p: &pk_rows::Model, grace_ms: i64) -> anyhow::Result<bool> {
    let host_room = rooms::find(&svc.b.db, p.room_id).await?;
    let reason = if host_room.is_none_or(|r| r.status != LIVE) {
        Some(EndReason::RoomClosed)
    } else if p.ends_at.unwrap_or(0) + grace_ms <= now_ms() {
        Some(EndReason::Timer)
    } else {
        match p.challenger_room_id {
            Some(c) if rooms::find(&svc.b.db, c).await?.is_none_or(|r| r.status != LIVE) => {
                Some(EndReason::Left(p.challenger_id.unwrap_or_default()))
            }
            _ => None,
        }
    };
    match reason {
        Some(reason) => {
            end_pk(svc, p, reason).await.map_err(AppError::into_anyhow)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// A PK room gets a waiting PK when it opens.
pub async fn on_room_opened(svc: &Services, r: &crate::storage::entities::rooms::Model) -> AppResult<()> {
    if r.kind == RoomKind::Pk.as_str() {
        pks::create_waiting(&svc.b.db, svc.b.ids.next("pk").await?, r.id, r.anchor_id).await?;
    }
    Ok(())
}

/// A closing room ends the PK it hosts or challenges.
/// Every such PK is tried, even after one failed; the first error is answered.
pub async fn on_room_closing(svc: &Services, r: &crate::storage::entities::rooms::Model) -> AppResult<()> {
    let mut res = Ok(());
    for p in pks::running(&svc.b.db).await? {
        if p.room_id == r.id || p.challenger_room_id == Some(r.id) {
            let reason = if p.room_id == r.id { EndReason::RoomClosed } else { EndReason::Left(r.anchor_id) };
            if let Err(e) = end_pk(svc, &p, reason).await {
                res = res.and(Err(e));
            }
        }
    }
    res
}
