//! The PK actor, on the home of the host's room: shows the tally that gifts write in the PK's
//! row (in commit order, whatever node took them: `storage::wallets::batch`), sends
//! `pk_progress` at most 5 times a second (the final score always), and ends the battle once
//! (knockout, leave, timer or room close), storing the result.

use crate::clock::{now_ms, rfc3339};
use crate::domain::events::{PkEnded, PkProgress, RoomEvent};
use crate::domain::pk::{is_knockout, PkTally, PkView};

use crate::domain::user::UserRef;
use crate::storage::pks::Decided;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EndReason {
    /// `ends_at` passed: the side over 50 wins.
    Timer,
    /// One side left: the other wins.
    Left(i64),
    /// The host's room closed: decided by the score, like the timer.
    RoomClosed,
}

/// Where a PK's events go: to a room that shows it, on whatever node runs that room. The room
/// keeps the PK each such event carries for its `welcome`.
pub trait Announce: Send + Sync + 'static {
    fn to_room(&self, room: i64, event: RoomEvent);
}

impl EndReason {
    /// How storage names the winner.
    pub fn decided(self) -> Decided {
        match self {
            EndReason::Left(user) => Decided::Left(user),
            EndReason::Timer | EndReason::RoomClosed => Decided::ByScore,
        }
    }
}

pub struct PkActor {
    pk: pk_rows::Model,
    host: UserRef,
    challenger: UserRef,
    /// The rooms that see the PK: the host's and the challenger's.
    room_ids: Vec<i64>,
    announce: Arc<dyn Announce>,
    db: DatabaseConnection,
    service: PkService,
    last_progress_ms: i64,
    progress_pending: bool,
    /// The result is decided (and why); it may not be stored yet.
    ended: Option<EndReason>,
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
        challenger_coins: pk.challenger_coins,
        ends_at: pk.ends_at.map(rfc3339),
        host: host.clone(),
        host_coins: pk.host_coins,
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

    /// Sends `event` to the rooms that see the PK.
    fn publish(&self, event: RoomEvent) {
        for room in &self.room_ids {
            self.announce.to_room(*room, event.clone());
        }
    }

    fn send_progress(&mut self) {
        self.progress_pending = false;
        self.last_progress_ms = now_ms();
        self.publish(PkProgress { pk: self.view() }.into());
    }

    /// Decides the result once (later reasons do not change it): no gift counts after it, and
    /// storage names the winner from the stored score (or the side that stayed).
    fn decide(&mut self, reason: EndReason) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(reason);
        if self.progress_pending {
            self.send_progress();
        }
    }

    /// Stores the decided result: true when this call stored it, false when it was stored
    /// already. Store first, announce after: the winner is announced once, by whoever stored
    /// the end. Until the end is stored the actor stays (the PK is still running in storage):
    /// it tries again itself with back-off, and the end timer's job fails and is retried too.
    fn store(&mut self) -> ResponseActFuture<Self, Result<bool, EndError>> {
        let db = self.db.clone();
        let id = self.pk.id;
        let how = self.ended.unwrap_or(EndReason::Timer).decided();
        let stored = async move {
            match pks::end(&db, id, how).await? {
                Some(row) => Ok((true, Some(row))),
                None => Ok((false, pks::find(&db, id).await?)),
            }
        };
        Box::pin(stored.into_actor(self).map(
            move |res: Result<(bool, Option<pk_rows::Model>), sea_orm::DbErr>, act, ctx| match res {
                Ok((stored, row)) => {
                    if let Some(row) = row {
                        act.pk = row;
                    }
                    if stored {
                        act.publish(PkEnded { pk: act.view(), winner: act.pk.winner }.into());
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
                if act.progress_pending && act.ended.is_none() {
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
        if self.progress_pending && self.ended.is_none() {
            self.progress_pending = false;
            self.schedule_progress(ctx);
        }
        if self.retry_pending {
            self.retry_pending = false;
            ctx.spawn(self.store().map(|_, _, _| ()));
        } else if self.ended.is_some() {
            // Decided but neither stored nor being stored (the store's future was dropped).
            ctx.spawn(self.store().map(|_, _, _| ()));
        }
    }
}

/// The PK's tally after a counted gift, from the node whose wallet writer committed it. Tallies
/// from several nodes may arrive out of order: the one with the most gifts is the latest.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tally(pub PkTally);

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

impl Handler<Tally> for PkActor {
    type Result = ();
    fn handle(&mut self, Tally(t): Tally, ctx: &mut Context<Self>) {
        if self.ended.is_some() || t.pk_id != self.pk.id || t.gifts <= self.pk.gifts {
            return;
        }
        self.pk.gifts = t.gifts;
        self.pk.score = t.score;
        self.pk.host_coins = t.host_coins;
        self.pk.challenger_coins = t.challenger_coins;
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
        if self.ended.is_none()
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

    /// Lets the room's actor go (this node is no longer the home of the host's room): tallies
    /// and ends go to the new home's actor, and this one stops once its last address is dropped.
    pub fn let_go(&self, room_id: i64) {
        self.running.lock().remove(&room_id);
    }

    /// Forgets the actor `addr` of the room (not a newer one started since).
    fn forget(&self, room_id: i64, addr: &Addr<PkActor>) {
        let mut running = self.running.lock();
        if running.get(&room_id) == Some(addr) {
            running.remove(&room_id);
        }
    }

    /// Starts the actor of a running PK, supervised, on `arbiter` (its host room's).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &self,
        pk: pk_rows::Model,
        host: UserRef,
        challenger: UserRef,
        room_ids: Vec<i64>,
        arbiter: &actix::dev::ArbiterHandle,
        announce: Arc<dyn Announce>,
        db: DatabaseConnection,
    ) -> Addr<PkActor> {
        let room_id = pk.room_id;
        let service = self.clone();
        let actor = PkActor {
            pk,
            host,
            challenger,
            room_ids,
            announce,
            db,
            service,
            last_progress_ms: 0,
            progress_pending: false,
            ended: None,
            finished: false,
            retry_pending: false,
            store_failures: 0,
        };
        // On the host room's arbiter, beside the room it publishes to.
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| actor);
        self.running.lock().insert(room_id, addr.clone());
        addr
    }
}
