//! One handler per contract event. Each validates its payload, acts, and returns the success
//! ack body or a [`Failure`]; [`super::Ctx::run`] does the answering.

use std::time::{SystemTime, UNIX_EPOCH};

use rmpv::Value;
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;

use super::reply::{ErrorCode, Failure};
use super::session::{Session, User};
use super::validate::{field, object, room};
use super::{Ctx, Outcome, delivery};
use crate::adapter::ServerAdapter;
use crate::state::AppState;

/// `presence` event body.
#[derive(Serialize)]
struct Presence<'a> {
    room: &'a str,
    action: &'a str,
    user: &'a User,
}

/// `message` event body.
#[derive(Serialize)]
struct RoomMessage<'a> {
    id: &'a str,
    room: &'a str,
    from: &'a User,
    data: &'a Value,
    ts: u64,
}

/// `broadcast` and `direct` event body.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    from: &'a User,
    data: &'a Value,
    ts: u64,
}

/// A fresh message id and timestamp.
fn stamp() -> (String, u64) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (uuid::Uuid::now_v7().to_string(), ts)
}

/// The rooms a socket joined through `join` (its own-id room excluded).
fn joined_rooms(s: &SocketRef<ServerAdapter>) -> Vec<String> {
    let own = s.id.to_string();
    s.rooms()
        .into_iter()
        .map(|r| r.into_owned())
        .filter(|r| *r != own)
        .collect()
}

fn is_member(s: &SocketRef<ServerAdapter>, room: &str) -> bool {
    s.rooms().iter().any(|r| r == room)
}

/// Tells the other members of `room` that `session`'s user joined or left it.
pub fn presence(
    io: &SocketIo<ServerAdapter>,
    s: &SocketRef<ServerAdapter>,
    app: &AppState,
    session: &Session,
    room: &str,
    action: &str,
) {
    let targets = io.to(room.to_owned()).except(s.id).local().sockets();
    let body = Presence {
        room,
        action,
        user: &session.user,
    };
    delivery::emit(targets, "presence", &body, &app.metrics);
}

/// `join(room)`: joins and tells the other members; `{ok, room}`.
pub async fn join(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if !is_member(s, &room) {
        if joined_rooms(s).len() >= ctx.app.config.max_rooms {
            let message = format!(
                "a socket may join at most {} rooms",
                ctx.app.config.max_rooms
            );
            return Err(Failure {
                code: ErrorCode::TooManyRooms,
                message,
            });
        }
        s.join(room.clone());
        presence(&ctx.io, s, &ctx.app, &ctx.session, &room, "join");
    }
    Ok(json!({"ok": true, "room": room}))
}

/// `leave(room)`: leaves and tells the remaining members; `{ok, room}`.
pub async fn leave(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if room == s.id.to_string() || !is_member(s, &room) {
        return Err(Failure::not_in_room(&room));
    }
    s.leave(room.clone());
    presence(&ctx.io, s, &ctx.app, &ctx.session, &room, "leave");
    Ok(json!({"ok": true, "room": room}))
}

/// `message({room, data})`: delivers to the other members; `{ok, id, ts}`.
pub async fn message(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let payload = object(data.as_ref(), "{room, data}")?;
    let room = room(field(payload, "room"), "room")?;
    if !is_member(&ctx.socket, &room) {
        return Err(Failure::not_in_room(&room));
    }
    let (id, ts) = stamp();
    let data = field(payload, "data").unwrap_or(&Value::Nil);
    let body = RoomMessage {
        id: &id,
        room: &room,
        from: &ctx.session.user,
        data,
        ts,
    };
    let targets = ctx
        .io
        .to(room.clone())
        .except(ctx.socket.id)
        .local()
        .sockets();
    delivery::emit(targets, "message", &body, &ctx.app.metrics);
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `broadcast(data)`: delivers to every other socket; `{ok, id, ts}`.
pub async fn broadcast(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let (id, ts) = stamp();
    let data = data.unwrap_or(Value::Nil);
    let body = Envelope {
        id: &id,
        from: &ctx.session.user,
        data: &data,
        ts,
    };
    let targets = ctx.io.except(ctx.socket.id).local().sockets();
    delivery::emit(targets, "broadcast", &body, &ctx.app.metrics);
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `direct({to, data})`: delivers to one socket; `{ok, id, ts}`.
pub async fn direct(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let payload = object(data.as_ref(), "{to, data}")?;
    let to = room(field(payload, "to"), "to")?;
    let (id, ts) = stamp();
    let data = field(payload, "data").unwrap_or(&Value::Nil);
    let body = Envelope {
        id: &id,
        from: &ctx.session.user,
        data,
        ts,
    };
    let targets = ctx.io.to(to).local().sockets();
    delivery::emit(targets, "direct", &body, &ctx.app.metrics);
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `members(room)`: `{ok, room, members: [user, ...]}`.
pub async fn members(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let members: Vec<User> = ctx
        .io
        .to(room.clone())
        .local()
        .sockets()
        .into_iter()
        .filter_map(|s| s.extensions.get::<std::sync::Arc<Session>>())
        .map(|session| session.user.clone())
        .collect();
    Ok(json!({"ok": true, "room": room, "members": members}))
}

/// `rooms()`: `{ok, rooms: [...]}`, the rooms this socket joined.
pub async fn rooms(ctx: &Ctx, _data: Option<Value>) -> Outcome {
    Ok(json!({"ok": true, "rooms": joined_rooms(&ctx.socket)}))
}
