//! What happens beside the room and shows in it: events from the services (PK, rain,
//! products), the PK and rain `welcome` shows, gifts and their ranking, and live stock.

use super::super::Room;
use super::timed;
use crate::clock::now_ms;
use crate::domain::events::{GiftSent, RoomEvent, StockChanged};
use crate::domain::pk::PkView;
use crate::domain::redpacket::RainView;
use crate::domain::user::UserRef;
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A room event from beside the room (PK, rain, products); answers its seq.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "u64")]
pub struct Publish(pub RoomEvent);

/// Sets the PK `welcome` shows (`None` removes it).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct SetPk(pub Option<PkView>);

/// The PK the room shows (running or the latest ended), as its `welcome` would.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Option<PkView>")]
pub struct CurrentPk;

/// Sets the rain `welcome` shows (`None` removes it).
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct SetRain(pub Option<RainView>);

/// A gift was paid for: the room sees it (`gift`, merged into its sender's combo when more of
/// the same follow: `combo`) and the ranking counts its sender.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct GiftEffect {
    /// What it cost.
    pub coins: i64,
    pub gift: GiftSent,
}

/// The top 20 gifters of this live session: `(user, coins)`.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "Vec<(UserRef, i64)>")]
pub struct Ranking;

/// A product's stock changed; the room sees `stock` at most once a second per product.
/// Announcements can arrive out of order (they come from concurrent requests): one whose
/// `version` is not newer than what the room holds is stale and ignored.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Stock {
    pub product_id: i64,
    pub left: i64,
    /// The product's `stock_version` when `left` was read.
    pub version: i64,
}

/// The live stock the room knows of these products.
#[derive(Message, Debug, Clone, Serialize, Deserialize)]
#[rtype(result = "HashMap<i64, i64>")]
pub struct StockLeft {
    pub product_ids: Vec<i64>,
}

impl Handler<Publish> for Room {
    type Result = u64;
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> u64 {
        timed(msg.0.kind(), || self.publish(msg.0))
    }
}

impl Handler<SetPk> for Room {
    type Result = ();
    fn handle(&mut self, msg: SetPk, _: &mut Context<Self>) {
        self.pk = msg.0;
    }
}

impl Handler<CurrentPk> for Room {
    type Result = MessageResult<CurrentPk>;
    fn handle(&mut self, _: CurrentPk, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.pk.clone())
    }
}

impl Handler<SetRain> for Room {
    type Result = ();
    fn handle(&mut self, msg: SetRain, _: &mut Context<Self>) {
        self.rain = msg.0;
    }
}

impl Handler<GiftEffect> for Room {
    type Result = ();
    fn handle(&mut self, msg: GiftEffect, ctx: &mut Context<Self>) {
        // A mirror's gift is counted and numbered by the home (its ranking is the room's).
        if let crate::actors::room::Role::Mirror(link) = &self.role {
            link.gift(self.info.id, msg);
            return;
        }
        timed("gift", || {
            let from = &msg.gift.from;
            let e = self.ranking.entry(from.id).or_insert_with(|| (from.nickname.clone(), 0));
            e.0.clone_from(&from.nickname);
            e.1 += msg.coins;
            self.gift_out(msg.gift, ctx);
        });
    }
}

impl Handler<Ranking> for Room {
    type Result = MessageResult<Ranking>;
    fn handle(&mut self, _: Ranking, _: &mut Context<Self>) -> Self::Result {
        let mut v: Vec<(UserRef, i64)> = self
            .ranking
            .iter()
            .map(|(id, (name, coins))| (UserRef { id: *id, nickname: name.clone() }, *coins))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
        v.truncate(20);
        MessageResult(v)
    }
}

impl Handler<Stock> for Room {
    type Result = ();
    fn handle(&mut self, msg: Stock, _: &mut Context<Self>) {
        if self.stock.get(&msg.product_id).is_some_and(|(_, v)| *v >= msg.version) {
            return; // stale: a newer count is known already
        }
        self.stock.insert(msg.product_id, (msg.left, msg.version));
        let recently = self.stock_sent_ms.get(&msg.product_id).is_some_and(|t| now_ms() - t < 1000);
        if recently {
            self.stock_dirty.insert(msg.product_id, msg.left);
        } else {
            self.stock_dirty.remove(&msg.product_id);
            self.stock_sent_ms.insert(msg.product_id, now_ms());
            self.publish(StockChanged { left: msg.left, product_id: msg.product_id }.into());
        }
    }
}

impl Handler<StockLeft> for Room {
    type Result = MessageResult<StockLeft>;
    fn handle(&mut self, msg: StockLeft, _: &mut Context<Self>) -> Self::Result {
        MessageResult(msg.product_ids.iter().filter_map(|id| self.stock.get(id).map(|(l, _)| (*id, *l))).collect())
    }
}
