//! Moderation by the room's anchor or an admin: mutes, kicks, bans, slow mode, deleting chats.
//! Each is stored before the room hears of it, so a room actor that (re)starts loads it.

use super::live_room::{live_room, room_actor};
use super::{AppError, AppResult, Services};
use crate::actors::room;
use crate::clock::now_ms;
use crate::domain::error::ErrorCode;
use crate::domain::user::UserRef;
use crate::storage::entities::rooms as room_rows;
use crate::storage::kv::keys;
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

/// Closes `user_id`'s sockets with 4003 and keeps them out: for `room.kick_s`, or with `ban`
/// until lifted (`/im` and the handshake answer 403 meanwhile).
pub async fn kick(svc: &Services, by: Moderator, room_id: i64, user_id: i64, ban: bool) -> AppResult<()> {
    let r = live_room(svc, room_id).await?;
    require(by, &r)?;
    if user_id == r.anchor_id {
        return Err(AppError::invalid("user_id", "the anchor cannot be kicked from their own room"));
    }
    if ban {
        rooms::ban(&svc.b.db, r.id, user_id).await?;
    } else {
        let hold = std::time::Duration::from_secs(svc.settings.room.kick_s);
        let until = now_ms() + hold.as_millis() as i64;
        svc.b.kv.set(&keys::kicked(r.id, user_id), &until.to_string(), Some(hold)).await?;
    }
    in_room(svc, &r, room::Moderate::Kick(room::Kick { user_id })).await?;
    Ok(())
}

/// Lifts a ban (the room may be closed).
pub async fn unban(svc: &Services, by: Moderator, room_id: i64, user_id: i64) -> AppResult<()> {
    let r = rooms::find(&svc.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    require(by, &r)?;
    rooms::unban(&svc.b.db, room_id, user_id).await?;
    svc.b.kv.del(&keys::kicked(room_id, user_id)).await?;
    Ok(())
}

/// Who is banned from the room (the room may be closed), newest first: `(user, since)`.
pub async fn bans(
    svc: &Services,
    by: Moderator,
    room_id: i64,
    page: crate::domain::paging::Page,
) -> AppResult<(Vec<(UserRef, i64)>, u64)> {
    let r = rooms::find(&svc.b.db, room_id).await?.ok_or(AppError::NotFound("room"))?;
    require(by, &r)?;
    let (rows, total) = rooms::bans(&svc.b.db, r.id, page.offset(), page.page_size).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, since) in rows {
        let nickname = svc.nicknames.get(id).await?.unwrap_or_default();
        out.push((UserRef { id, nickname }, since));
    }
    Ok((out, total))
}

/// Whether `user_id` may enter the room (a ticket, a handshake): 403 `banned` until a ban is
/// lifted, 403 `kicked` while a kick holds, with when they may come back.
pub async fn may_enter(svc: &Services, room_id: i64, user_id: i64) -> AppResult<()> {
    if rooms::is_banned(&svc.b.db, room_id, user_id).await? {
        return Err(AppError::forbidden_as(ErrorCode::Banned, "you are banned from this room"));
    }
    // The key lives as long as the hold; its value says until when, for the message.
    if let Some(until) = svc.b.kv.get(&keys::kicked(room_id, user_id)).await? {
        let left_ms = (until.parse::<i64>().unwrap_or(0) - now_ms()).max(0);
        let minutes = (left_ms + 59_999) / 60_000;
        let when = if minutes <= 1 { "in a minute".to_owned() } else { format!("in {minutes} minutes") };
        return Err(AppError::forbidden_as(
            ErrorCode::Kicked,
            format!("you were removed from this room; you can come back {when}"),
        ));
    }
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
