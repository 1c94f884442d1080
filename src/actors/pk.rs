//! The PK actor, beside the host's room: applies gift scores one at a time in commit order,
//! sends `pk_progress` at most 5 times a second (the final score always), and ends the battle
//! once (knockout, leave, timer or room close), storing the result.

use super::registry::RoomRegistry;
use super::room;
use crate::clock::{now_ms, rfc3339};
use crate::domain::events::{PkEnded, PkProgress, RoomEvent};
use crate::domain::pk::{apply_gift, is_knockout, winner_at, PkStatus, PkView, Side};

use crate::domain::user::UserRef;
use crate::storage::queue::backoff;
use crate::storage::{entities::pks as pk_rows, pks};
use actix::prelude::*;
use parking_lot::Mutex;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const END_JOB: &str = "pk_end";
const PROGRESS_EVERY_MS: i64 = 200;
/// The longest wait between two tries to store a decided end that failed to store.
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Why a PK ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `ends_at` passed: the side over 50 wins.
    Timer,
    /// One side left: the other wins.
    Left(i64),
    /// The host's room closed: decided by the score, like the timer.
    RoomClosed,
}

pub struct PkActor {
    pk: pk_rows::Model,
    host: UserRef,
    challenger: UserRef,
    /// The rooms that see the PK, found through the registry at each publish: a room actor
    /// that died and was started again gets the events too.
    room_ids: Vec<i64>,
    rooms: RoomRegistry,
    db: DatabaseConnection,
    service: PkService,
    last_progress_ms: i64,
    progress_pending: bool,
    /// The result is decided (score frozen, winner known); it may not be stored yet.
    ended: bool,
    /// The end is stored and announced: the actor has nothing left to do and waits for its last
    /// address to be dropped (see `Supervised`).
    finished: bool,
    /// A retry of a failed store is scheduled.
    retry_pending: bool,
    /// Failed stores so far (the retry backs off).
    store_failures: u32,
}

/// The contract's `pk` object of a stored PK.
pub fn pk_view(pk: &pk_rows::Model, host: &UserRef, challenger: Option<&UserRef>) -> PkView {
    PkView {
        challenger: challenger.cloned(),
        ends_at: pk.ends_at.map(rfc3339),
        host: host.clone(),
        id: pk.id,
        score: pk.score,
        status: pk.status.clone(),
        winner: pk.winner,
    }
}

impl PkActor {
    fn view(&self) -> PkView {
        pk_view(&self.pk, &self.host, Some(&self.challenger))
    }

    /// Sends `event` to the rooms that see the PK, and what their `welcome` shows of it now.
    fn publish(&self, event: RoomEvent) {
        let view = self.view();
        for r in self.room_ids.iter().filter_map(|id| self.rooms.get(*id)) {
            r.do_send(room::Publish(event.clone()));
            r.do_send(room::SetPk(Some(view.clone())));
        }
    }

    fn send_progress(&mut self) {
        self.progress_pending = false;
        self.last_progress_ms = now_ms();
        self.publish(PkProgress { pk: self.view() }.into());
    }

    /// Decides the result once (later reasons do not change it): the score freezes.
    fn decide(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        let winner = match reason {
            EndReason::Left(leaver) => Some(if leaver == self.host.id { self.challenger.id } else { self.host.id }),
            EndReason::Timer | EndReason::RoomClosed => match winner_at(self.pk.score) {
                Some(Side::Host) => Some(self.host.id),
                Some(Side::Challenger) => Some(self.challenger.id),
                None => None,
            },
        };
        if self.progress_pending {
            self.send_progress();
        }
        self.pk.status = PkStatus::Ended.as_str().into();
        self.pk.winner = winner;
    }

    /// Stores the decided result: true when this call stored it, false when it was stored
    /// already. Store first, announce after: the winner is announced once, by whoever stored
    /// the end. Until the end is stored the actor stays (the PK is still running in storage):
    /// it tries again itself with back-off, and the end timer's job fails and is retried too.
    fn store(&mut self) -> ResponseActFuture<Self, Result<bool, EndError>> {
        let db = self.db.clone();
        let (id, score, winner) = (self.pk.id, self.pk.score, self.pk.winner);
        let ended = PkEnded { pk: self.view(), winner };
        Box::pin(async move { pks::end(&db, id, score, winner).await }.into_actor(self).map(
            move |res, act, ctx| match res {
                Ok(stored) => {
                    if stored {
                        act.publish(ended.into());
                    } else {
                        tracing::info!(pk = act.pk.id, "PK had ended already");
                    }
                    act.service.forget(act.pk.room_id, &ctx.address());
                    // Not `ctx.stop()`: its supervisor would restart it while someone still
                    // holds its address. Forgotten, it stops once the last address is dropped.
                    act.finished = true;
                    Ok(stored)
                }
                Err(e) => {
                    act.store_failures += 1;
                    tracing::error!(pk = act.pk.id, error = %e, attempts = act.store_failures, "storing the PK result failed; retrying");
                    if !act.retry_pending {
                        act.retry_pending = true;
                        // Backs off, but not past STORE_RETRY_MAX: viewers are waiting for the end.
                        ctx.run_later(backoff(act.store_failures).min(STORE_RETRY_MAX), |act, ctx| {
                            act.retry_pending = false;
                            ctx.spawn(act.store().map(|_, _, _| ()));
                        });
                    }
                    Err(EndError::Store(e))
                }
            },
        ))
    }
}

impl PkActor {
    /// Sends `pk_progress` now, or once 200 ms have passed since the last one.
    fn schedule_progress(&mut self, ctx: &mut Context<Self>) {
        let since = now_ms() - self.last_progress_ms;
        if since >= PROGRESS_EVERY_MS {
            self.send_progress();
        } else if !self.progress_pending {
            self.progress_pending = true;
            ctx.run_later(Duration::from_millis((PROGRESS_EVERY_MS - since) as u64), |act, _| {
                if act.progress_pending && !act.ended {
                    act.send_progress();
                }
            });
        }
    }
}

impl Actor for PkActor {
    type Context = Context<Self>;
}

/// The PK actor runs under a `Supervisor` on its host room's arbiter. actix keeps the same
/// instance across a restart, so the score, the sides and a decided result survive it; what a
/// restart drops are the context's timers and futures, which `restarting` arms again: a
/// `pk_progress` waiting for its slot, and the retry of an end that failed to store.
///
/// A finished actor (its end stored) is never stopped on purpose, so it is not restarted: it
/// answers as an ended PK (gifts do not count, `End` finds it stored) until its last address
/// is dropped, then stops for good. Nothing could rebuild a running PK from a finished one.
impl actix::Supervised for PkActor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        tracing::warn!(pk = self.pk.id, "PK actor restarting");
        if self.progress_pending && !self.ended {
            self.progress_pending = false;
            self.schedule_progress(ctx);
        }
        if self.retry_pending {
            self.retry_pending = false;
            ctx.spawn(self.store().map(|_, _, _| ()));
        } else if self.ended {
            // Decided but neither stored nor being stored (the store's future was dropped).
            ctx.spawn(self.store().map(|_, _, _| ()));
        }
    }
}

/// A gift counted in the PK (sent in commit order by the wallet writer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PkGift {
    pub to: i64,
    pub coins: i64,
}

/// Ends the PK; answers once the end is stored (true: by this message), or why it is not.
#[derive(Message)]
#[rtype(result = "Result<bool, EndError>")]
pub struct End(pub EndReason);

/// Why a PK did not end (yet): whoever asked tries again.
#[derive(Debug, thiserror::Error)]
pub enum EndError {
    /// An early timer (clock skew or a stale job).
    #[error("the PK timer fired early")]
    Early,
    /// Storing the result failed; the actor retries it too.
    #[error("storing the PK result failed")]
    Store(#[source] sea_orm::DbErr),
}

/// The current `pk` object.
#[derive(Message)]
#[rtype(result = "PkView")]
pub struct Get;

impl Handler<PkGift> for PkActor {
    type Result = ();
    fn handle(&mut self, msg: PkGift, ctx: &mut Context<Self>) {
        if self.ended {
            return;
        }
        let side = if msg.to == self.host.id { Side::Host } else { Side::Challenger };
        self.pk.score = apply_gift(self.pk.score, side, msg.coins, 1);
        if is_knockout(self.pk.score) {
            self.send_progress();
            self.decide(EndReason::Timer);
            ctx.spawn(self.store().map(|_, _, _| ()));
            return;
        }
        self.schedule_progress(ctx);
    }
}

impl Handler<End> for PkActor {
    type Result = ResponseActFuture<Self, Result<bool, EndError>>;
    fn handle(&mut self, msg: End, _: &mut Context<Self>) -> Self::Result {
        if !self.ended
            && msg.0 == EndReason::Timer
            && self.pk.ends_at.is_some_and(|e| e > now_ms() + 50)
            && !is_knockout(self.pk.score)
        {
            // An early timer (clock skew or a stale job): not ended; the job tries again.
            return Box::pin(fut::ready(Err(EndError::Early)));
        }
        if self.finished {
            // Stored already, and not by this message.
            return Box::pin(fut::ready(Ok(false)));
        }
        self.decide(msg.0);
        self.store()
    }
}

impl Handler<Get> for PkActor {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.view())
    }
}

/// Running PK actors by host room id.
#[derive(Clone, Default)]
pub struct PkService {
    running: Arc<Mutex<HashMap<i64, Addr<PkActor>>>>,
}

impl PkService {
    pub fn get(&self, room_id: i64) -> Option<Addr<PkActor>> {
        self.running.lock().get(&room_id).cloned()
    }

    /// Forgets the actor `addr` of the room (not a newer one started since).
    fn forget(&self, room_id: i64, addr: &Addr<PkActor>) {
        let mut running = self.running.lock();
        if running.get(&room_id) == Some(addr) {
            running.remove(&room_id);
        }
    }

    /// Starts the actor of a running PK, supervised, on its host room's arbiter.
    pub fn start(
        &self,
        pk: pk_rows::Model,
        host: UserRef,
        challenger: UserRef,
        room_ids: Vec<i64>,
        rooms: RoomRegistry,
        db: DatabaseConnection,
    ) -> Addr<PkActor> {
        let room_id = pk.room_id;
        let service = self.clone();
        let arbiter = rooms.arbiter(room_id);
        let actor = PkActor {
            pk,
            host,
            challenger,
            room_ids,
            rooms,
            db,
            service,
            last_progress_ms: 0,
            progress_pending: false,
            ended: false,
            finished: false,
            retry_pending: false,
            store_failures: 0,
        };
        // On the host room's arbiter, beside the room it publishes to.
        let addr = Supervisor::start_in_arbiter(&arbiter, move |_| actor);
        self.running.lock().insert(room_id, addr.clone());
        addr
    }
}
