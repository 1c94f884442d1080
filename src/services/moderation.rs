//! Moderation by the room's anchor or an admin: mutes, kicks, bans, slow mode, deleting chats.
//! Each is stored before the room hears of it, so a room actor that (re)starts loads it.

use super::live_room::{live_room, room_actor};
use super::{AppError, AppResult, Services};
use crate::actors::room;
use crate::clock::now_ms;
use crate::storage::entities::rooms as room_rows;
use crate::storage::{mutes, rooms};

/// Who asks: moderation is for the room's anchor or an admin.
#[derive(Debug, Clone, Copy)]
pub struct Moderator {
    pub user_id: i64,
    pub is_admin: bool,
}

/// 403 unless `by` is the room's anchor or an admin.
fn require(by: Moderator, r: &room_rows::Model) -> AppResult<()> {
    if by.user_id == r.anchor_id || by.is_admin {
        Ok(())
    } else {
        Err(AppError::forbidden("only the room's anchor or an admin may do this"))
    }
}

fn mailbox(e: actix::MailboxError) -> AppError {
    AppError::internal(anyhow::anyhow!("room actor unavailable: {e}"))
}

/// Runs `cmd` in the room's actor: this node's on one node; the room's home's in a cluster,
/// wherever the request came in. Answers `DeleteMessage`'s finding (true otherwise).
pub async fn in_room(svc: &Services, r: &room_rows::Model, cmd: room::Moderate) -> AppResult<bool> {
    let done = match &svc.cluster {
        None => room_actor(svc, r).await?.send(cmd).await.map_err(mailbox)?,
        Some(c) => c.moderate(svc, r, cmd).await.map_err(AppError::internal)?,
    };
    done.ok_or_else(|| AppError::Unavailable("the room is moving to another server; try again".into()))
}

/// Mutes `user_id`'s chat for `seconds` (already checked); the room sees `muted`. Answers
/// until when (ms).
pub async fn mute(svc: &Services, by: Moderator, room_id: i64, user_id: i64, seconds: i64) -> AppResult<i64> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    let until = now_ms() + seconds * 1000;
    mutes::mute(&svc.b.db, r.id, user_id, until).await?;
    in_room(svc, &r, room::Moderate::Mute(room::Mute { user_id, until_ms: until })).await?;
    Ok(until)
}

/// Lifts a mute.
pub async fn unmute(svc: &Services, by: Moderator, room_id: i64, user_id: i64) -> AppResult<()> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    mutes::unmute(&svc.b.db, r.id, user_id).await?;
    in_room(svc, &r, room::Moderate::Unmute(room::Unmute { user_id })).await?;
    Ok(())
}

/// Closes `user_id`'s sockets with 4003; with `ban`, `/im` answers 403 until lifted.
pub async fn kick(svc: &Services, by: Moderator, room_id: i64, user_id: i64, ban: bool) -> AppResult<()> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    if user_id == r.anchor_id {
        return Err(AppError::invalid("user_id", "the anchor cannot be kicked from their own room"));
    }
    if ban {
        rooms::ban(&svc.b.db, r.id, user_id).await?;
    }
    in_room(svc, &r, room::Moderate::Kick(room::Kick { user_id })).await?;
    Ok(())
}

/// Lifts a ban (the room may be closed).
pub async fn unban(svc: &Services, by: Moderator, room_id: i64, user_id: i64) -> AppResult<()> {
    let r = rooms::find(&svc.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    require(by, &r)?;
    rooms::unban(&svc.b.db, room_id, user_id).await?;
    Ok(())
}

/// Each viewer may chat once per `seconds` (already checked; 0 turns it off).
pub async fn slow_mode(svc: &Services, by: Moderator, room_id: i64, seconds: i64) -> AppResult<()> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    rooms::set_slow_mode(&svc.b.db, r.id, seconds).await?;
    in_room(svc, &r, room::Moderate::SlowMode(room::SlowMode { seconds })).await?;
    Ok(())
}

/// Deletes the chat with `seq`: the room sees `chat_deleted`; 404 when it is not in the history.
pub async fn delete_message(svc: &Services, by: Moderator, room_id: i64, seq: u64) -> AppResult<()> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    let found = in_room(svc, &r, room::Moderate::Delete(room::DeleteMessage { seq })).await?;
    if found {
        Ok(())
    } else {
        Err(AppError::NotFound("message"))
    }
}
