//! PK battles between two anchors: a challenger joins (the PK starts), a side leaves, the timer
//! or a closing room ends it; the end timer's job, and the sweeps that end (or resume) PKs that
//! were running when the server stopped or whose timer or close failed.
//!
//! A PK's tally lives in its row, written with each counted gift's debit; its actor runs on the
//! home of the host's room (in a cluster: wherever the gift was paid, the tally is told there),
//! and its events go to both anchors' rooms, wherever those run (`Announcer`).

use super::jobs::{self, Fired};
use super::live_room::{anchor_of, room_actor};
use super::{AppError, AppResult, Services};
use crate::actors::pk::{self, pk_view, Announce, EndReason};
use crate::actors::room;
use crate::clock::now_ms;
use crate::domain::error::ErrorCode;
use crate::domain::events::RoomEvent;
use crate::domain::events::{PkEnded, PkStarted};
use crate::domain::pk::{PkStatus, PkTally, PkView};
use crate::domain::room::{RoomKind, LIVE};
use crate::domain::user::UserRef;
use crate::storage::entities::pks as pk_rows;
use crate::storage::queue::{Job, JobHandler};
use crate::storage::{pks, rooms, Stated};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A PK's events to a room: its actor here when it runs (a mirror passes them to its home),
/// else, in a cluster, the room's home.
struct Announcer(Services);

impl Announce for Announcer {
    fn to_room(&self, room: i64, event: RoomEvent) {
        match (self.0.rooms.get(room), &self.0.cluster) {
            (Some(a), _) => a.do_send(room::Publish(event)),
            (None, Some(c)) => c.record_at_home(room, event),
            (None, None) => {}
        }
    }
}

fn announce_to_both(svc: &Services, p: &pk_rows::Model, event: RoomEvent) {
    let a = Announcer(svc.clone());
    for room in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
        a.to_room(room, event.clone());
    }
}

/// Another node is home of the PK's host room (its actor runs there).
async fn home_elsewhere(svc: &Services, host_room: i64) -> AppResult<Option<String>> {
    match &svc.cluster {
        Some(c) => c.elsewhere(host_room).await,
        None => Ok(None),
    }
}

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
    let per_point = svc.settings.pk.coins_per_point;
    if !pks::start(&svc.b.db, pk_id, challenger, challenger_room, duration_ms, per_point).await? {
        return Err(AppError::conflict(ErrorCode::PkBusy, "a challenger has joined already"));
    }
    let p = pks::find(&svc.b.db, pk_id).await?.ok_or(AppError::NotFound("pk"))?;
    let v = match (home_elsewhere(svc, r.id).await?, &svc.cluster) {
        // The home starts the actor from the row when it hears the PK's first tally.
        (Some(_), Some(c)) => {
            c.tally_at_home(PkTally::from(&p));
            view(svc, &p).await?
        }
        _ => resume_actor(svc, &p).await?.send(pk::Get).await.map_err(AppError::internal)?,
    };
    svc.b.outbox.schedule(pk::END_JOB, json!({"pk_id": pk_id}), Duration::from_millis(duration_ms as u64)).await?;
    announce_to_both(svc, &p, PkStarted { pk: v.clone() }.into());
    svc.room_list.invalidate();
    Ok(v)
}

/// Starts the actor of a running PK here, from its row.
async fn resume_actor(svc: &Services, p: &pk_rows::Model) -> AppResult<actix::Addr<pk::PkActor>> {
    let host = user_ref(svc, p.host_id).await?;
    let challenger = user_ref(svc, p.challenger_id.unwrap_or_default()).await?;
    let mut room_ids = vec![];
    for room_id in [Some(p.room_id), p.challenger_room_id].into_iter().flatten() {
        if let Some(r) = rooms::find(&svc.b.db, room_id).await? {
            if r.status == LIVE {
                let a = room_actor(svc, &r).await?;
                a.do_send(room::SetPk(Some(pk_view(p, &host, Some(&challenger)))));
                room_ids.push(room_id);
            }
        }
    }
    let arbiter = svc.rooms.arbiter(p.room_id);
    let announce = Arc::new(Announcer(svc.clone()));
    Ok(svc.pk.start(p.clone(), host, challenger, room_ids, &arbiter, announce, svc.b.db.clone()))
}

/// The actor of the room's running PK, started here from its row unless it runs already
/// (this node is, or has just become, the home of the host's room).
pub async fn resume_here(svc: &Services, room_id: i64) -> AppResult<()> {
    if svc.pk.get(room_id).is_some() {
        return Ok(());
    }
    if let Some(p) = pks::latest(&svc.b.db, room_id).await?.filter(|p| p.is(PkStatus::Running)) {
        resume_actor(svc, &p).await?;
    }
    Ok(())
}

/// A gift committed on this node counted in a PK: its tally goes to the PK's actor, here or on
/// the home of the host's room.
pub fn after_gift(svc: &Services, t: PkTally) {
    match (svc.pk.get(t.room_id), &svc.cluster) {
        (Some(a), _) => a.do_send(pk::Tally(t)),
        (None, Some(c)) => c.tally_at_home(t),
        // One node and no actor (a restart's sweep has not resumed it yet): the row has it.
        (None, None) => {}
    }
}

/// A PK's tally told to this node, the home of the host's room: to the PK's actor, started
/// from the row first when it does not run here yet.
pub fn tallied(svc: &Services, t: PkTally) {
    if let Some(a) = svc.pk.get(t.room_id) {
        return a.do_send(pk::Tally(t));
    }
    let svc = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = resume_here(&svc, t.room_id).await {
            tracing::warn!(pk = t.pk_id, error = %e, "the PK's actor did not start here");
        }
    });
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

/// Ends a running PK: through its actor when it runs here, on the home of the host's room
/// when that is another node, else straight in storage (the row holds the score). Answers an
/// error until the end is stored, so a job retries it.
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
    } else if let (Some(home), Some(c)) = (home_elsewhere(svc, p.room_id).await?, &svc.cluster) {
        c.on_home(&home, p.room_id, super::cluster::OnHome::EndPk { pk_id: p.id, reason }).await?;
        return Ok(());
    }
    if let Some(ended) = pks::end(&svc.b.db, p.id, reason.decided()).await? {
        let v = view(svc, &ended).await?;
        announce_to_both(svc, &ended, PkEnded { pk: v, winner: ended.winner }.into());
    }
    Ok(())
}

/// `end_pk`, asked of this node as the home of the PK's host room.
pub async fn end_here(svc: &Services, pk_id: i64, reason: EndReason) -> AppResult<()> {
    match pks::find(&svc.b.db, pk_id).await? {
        Some(p) if p.is(PkStatus::Running) => end_pk(svc, &p, reason).await,
        _ => Ok(()),
    }
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
        // In a cluster, the home of the host's room runs the actor (and every node that starts
        // schedules the end timer again: a duplicate finds the PK ended and does nothing).
        if svc.pk.get(p.room_id).is_none() {
            if home_elsewhere(svc, p.room_id).await.map_err(AppError::into_anyhow)?.is_none() {
                resume_actor(svc, &p).await.map_err(AppError::into_anyhow)?;
            }
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
