//! The PK actor, beside the host's room: applies gift scores one at a time in commit order,
//! sends `pk_progress` at most 5 times a second (the final score always), and ends the battle
//! once (knockout, leave, timer or room close), storing the result.

use super::room::{self, Room};
use crate::clock::{now_ms, rfc3339};
use crate::domain::pk::{apply_gift, is_knockout, winner_at, Side};
use crate::http::views::UserRef;
use crate::storage::{entities::pks as pk_rows, pks};
use actix::prelude::*;
use parking_lot::Mutex;
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const END_JOB: &str = "pk_end";
const PROGRESS_EVERY_MS: i64 = 200;

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
    rooms: Vec<Addr<Room>>,
    db: DatabaseConnection,
    service: PkService,
    last_progress_ms: i64,
    progress_pending: bool,
    ended: bool,
}

/// The contract's `pk` object.
pub fn pk_json(pk: &pk_rows::Model, host: &UserRef, challenger: Option<&UserRef>) -> Value {
    json!({
        "id": pk.id,
        "host": host,
        "challenger": challenger,
        "status": pk.status,
        "score": pk.score,
        "ends_at": pk.ends_at.map(rfc3339),
        "winner": pk.winner,
    })
}

impl PkActor {
    fn json(&self) -> Value {
        pk_json(&self.pk, &self.host, Some(&self.challenger))
    }

    fn publish(&self, kind: &'static str, data: Value) {
        for r in &self.rooms {
            r.do_send(room::Publish { kind, data: data.clone() });
            r.do_send(room::SetExtra { key: "pk", value: Some(self.json()) });
        }
    }

    fn send_progress(&mut self) {
        self.progress_pending = false;
        self.last_progress_ms = now_ms();
        self.publish("pk_progress", json!({"pk": self.json()}));
    }

    fn end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
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
        self.pk.status = pks::ENDED.into();
        self.pk.winner = winner;
        let db = self.db.clone();
        let (id, score) = (self.pk.id, self.pk.score);
        let data = json!({"pk": self.json(), "winner": winner});
        // Store first, announce after: the winner is announced once, by whoever stored the end.
        ctx.wait(async move { pks::end(&db, id, score, winner).await }.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(true) => act.publish("pk_ended", data),
                Ok(false) => tracing::info!(pk = act.pk.id, "PK had ended already"),
                Err(e) => tracing::error!(pk = act.pk.id, error = %e, "storing the PK result failed"),
            }
            act.service.forget(act.pk.room_id);
            ctx.stop();
        }));
    }
}

impl Actor for PkActor {
    type Context = Context<Self>;
}

/// A gift counted in the PK (sent in commit order by the wallet writer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PkGift {
    pub to: i64,
    pub coins: i64,
}

/// Ends the PK.
#[derive(Message)]
#[rtype(result = "()")]
pub struct End(pub EndReason);

/// The current `pk` object.
#[derive(Message)]
#[rtype(result = "Value")]
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
            self.end(EndReason::Timer, ctx);
            return;
        }
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

impl Handler<End> for PkActor {
    type Result = ();
    fn handle(&mut self, msg: End, ctx: &mut Context<Self>) {
        if msg.0 == EndReason::Timer
            && self.pk.ends_at.is_some_and(|e| e > now_ms() + 50)
            && !is_knockout(self.pk.score)
        {
            return; // an early timer (clock skew or a stale job): the real one comes later
        }
        self.end(msg.0, ctx);
    }
}

impl Handler<Get> for PkActor {
    type Result = MessageResult<Get>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.json())
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

    fn forget(&self, room_id: i64) {
        self.running.lock().remove(&room_id);
    }

    /// Starts the actor of a running PK.
    pub fn start(
        &self,
        pk: pk_rows::Model,
        host: UserRef,
        challenger: UserRef,
        rooms: Vec<Addr<Room>>,
        db: DatabaseConnection,
    ) -> Addr<PkActor> {
        let room_id = pk.room_id;
        let service = self.clone();
        let actor = PkActor {
            pk,
            host,
            challenger,
            rooms,
            db,
            service,
            last_progress_ms: 0,
            progress_pending: false,
            ended: false,
        };
        let addr = actor.start();
        self.running.lock().insert(room_id, addr.clone());
        addr
    }
}
