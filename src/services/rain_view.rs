//! What a rain shows: the contract's `rain` object, and the rain a room shows (prepared or
//! running, with the packets left).

use super::{AppResult, Services};
use crate::actors::rain;
use crate::clock::rfc3339;
use crate::domain::redpacket::{RainStatus, RainView};
use crate::storage::entities::rains as rain_rows;
use crate::storage::{rains, Stated};

/// The contract's `rain` of a stored rain with `left` packets not grabbed.
pub fn rain_view(r: &rain_rows::Model, left: i64) -> RainView {
    RainView {
        ends_at: r.ends_at.map(rfc3339),
        id: r.id,
        left,
        packets: r.packets,
        room_id: r.room_id,
        status: r.status.clone(),
        total_coins: r.total_coins,
    }
}

/// The rain a room shows (`GET /api/rooms/{id}`), if one is prepared or running.
pub async fn room_rain(svc: &Services, room_id: i64) -> AppResult<Option<RainView>> {
    let Some(r) = rains::active_in_room(&svc.b.db, room_id).await?.filter(|r| !r.is(RainStatus::Preparing)) else {
        return Ok(None);
    };
    let left = match svc.rain.get(room_id) {
        Some(a) => a.send(rain::Left).await.map(|n| n as i64).unwrap_or(0),
        None => r.packets,
    };
    Ok(Some(rain_view(&r, left)))
}
