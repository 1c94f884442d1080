//! What crosses between nodes once it arrives: asks answered (`answer`) and tellings acted on
//! (`told`) by this node for the rooms it is home of, and tellings sent to a room's home
//! (`tell_home`, `record_at_home`, `tally_at_home`), locally when the home is here.

use super::wire::*;
use super::Cluster;
use crate::actors::room::{self, Refusal};
use crate::domain::error::ErrorCode;
use bytestring::ByteString;

impl Cluster {
    /// This node is `room`'s home: its actor (started as home when it is not running).
    async fn home_actor(svc: &crate::services::Services, room: i64) -> Option<actix::Addr<room::Room>> {
        if let Some(a) = svc.rooms.get(room) {
            return Some(a);
        }
        let r = crate::services::live_room::live_room(svc, room).await.ok()?;
        crate::services::live_room::room_actor(svc, &r).await.ok()
    }

    pub(super) fn answer(&self, svc: &crate::services::Services, id: u64, from: String, room: i64, ask: Ask) {
        let me = self.clone();
        // The message is queued now, while it is in order with the others heard; only the
        // answer is awaited apart. A room not running here starts first (rare: the home's own
        // actor runs as long as anyone watches the room).
        let running = svc.rooms.get(room);
        let svc = svc.clone();
        match ask {
            Ask::Chat { user, text } => {
                let msg = room::ChatAs { user, text };
                let queued = running.map(|a| a.send(msg.clone()));
                tokio::spawn(async move {
                    let res = match queued {
                        Some(q) => q.await.ok(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(msg).await.ok(),
                            None => Some(Err(Refusal {
                                code: ErrorCode::RoomClosed,
                                message: "the room is closed".into(),
                                retry_after: None,
                            })),
                        },
                    };
                    let answer = Answer::Chat(res.unwrap_or_else(|| Err(unavailable())));
                    me.send(&from, &Envelope::Answer { id, answer });
                });
            }
            Ask::Moderate(cmd) => {
                let queued = running.map(|a| a.send(cmd.clone()));
                tokio::spawn(async move {
                    let done = match queued {
                        Some(q) => q.await.ok().flatten(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(cmd).await.ok().flatten(),
                            // A closed room: nothing left to moderate.
                            None => Some(false),
                        },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::Moderated(done) });
                });
            }
            Ask::OnHome(call) => {
                tokio::spawn(async move {
                    let res = match call {
                        OnHome::StartRain { user_id } => crate::services::rain::start(&svc, user_id, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(crate::services::AppError::internal)),
                        OnHome::Grab { user_id } => crate::services::rain::grab(&svc, user_id, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(crate::services::AppError::internal)),
                        OnHome::Ranking => crate::services::gifts::ranking(&svc, room)
                            .await
                            .and_then(|v| serde_json::to_value(v).map_err(crate::services::AppError::internal)),
                        OnHome::EndPk { pk_id, reason } => {
                            crate::services::pk::end_here(&svc, pk_id, reason).await.map(|()| serde_json::Value::Null)
                        }
                    };
                    let remote = match res {
                        Ok(v) => Remote { ok: Some(v), code: ErrorCode::Internal, message: String::new() },
                        Err(e) => Remote { ok: None, code: e.code(), message: e.to_string() },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::OnHome(remote) });
                });
            }
            Ask::State => {
                let queued = running.map(|a| a.send(room::TakeState));
                tokio::spawn(async move {
                    let state = match queued {
                        Some(q) => q.await.ok(),
                        None => match Self::home_actor(&svc, room).await {
                            Some(a) => a.send(room::TakeState).await.ok(),
                            None => None,
                        },
                    };
                    me.send(&from, &Envelope::Answer { id, answer: Answer::State(state) });
                });
            }
        }
    }

    pub(super) fn told(&self, svc: &crate::services::Services, room: i64, tell: Tell) {
        let (event, chat) = match tell {
            Tell::Record { event, chat } => (event, chat),
            Tell::Gift(g) => return Self::tell_home(svc, room, g),
            Tell::Notice { user_id, frame } => {
                svc.notices.hub.deliver(user_id, &ByteString::from(frame));
                return;
            }
            Tell::PkTally(t) => return crate::services::pk::tallied(svc, t),
            Tell::Counts { node, online, likes, entered } => {
                // Only a running home counts; a home that starts hears again within 5 s.
                if let Some(a) = svc.rooms.get(room) {
                    a.do_send(room::Counts { node, online, likes, entered });
                }
                return;
            }
        };
        Self::tell_home(svc, room, room::RecordFor { event, chat });
    }

    /// Delivers `msg` to the room's actor here: at once when it runs (in order with what was
    /// heard before it), else once it has started.
    fn tell_home<M>(svc: &crate::services::Services, room: i64, msg: M)
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        room::Room: actix::Handler<M>,
    {
        match svc.rooms.get(room) {
            Some(a) => a.do_send(msg),
            None => {
                let svc = svc.clone();
                tokio::spawn(async move {
                    if let Some(a) = Self::home_actor(&svc, room).await {
                        a.do_send(msg);
                    }
                });
            }
        }
    }

    /// Tells `room`'s home (whichever node, this one included) to record `event`.
    pub fn record_at_home(&self, room: i64, event: crate::domain::events::RoomEvent) {
        self.tell_at_home(room, Tell::Record { event, chat: None });
    }

    /// Tells the home of a PK's host room the PK's tally after a gift committed here.
    pub fn tally_at_home(&self, t: crate::domain::pk::PkTally) {
        self.tell_at_home(t.room_id, Tell::PkTally(t));
    }

    pub(super) fn tell_at_home(&self, room: i64, tell: Tell) {
        let c = self.clone();
        tokio::spawn(async move {
            match c.home_of(room).await {
                Ok(home) => c.send(&home, &Envelope::Tell { room, tell }),
                Err(e) => tracing::warn!(room, error = %e, "a telling for the room's home is lost"),
            }
        });
    }
}
