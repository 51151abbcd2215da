//! One handler per contract event. Each validates its payload, acts, and returns the success
//! ack body or a [`Failure`]; [`super::Ctx::run`] does the answering.

use std::time::{SystemTime, UNIX_EPOCH};

use rmpv::Value;
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;

use super::reply::{ErrorCode, Failure};
use super::session::{Session, User};
use super::validate::{field, looks_like_socket_id, object, room};
use super::{Ctx, Outcome};
use crate::adapter::ServerAdapter;
use crate::config::Presence;
use crate::state::AppState;

/// `presence` event body.
#[derive(Serialize)]
struct PresenceEvent<'a> {
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

/// Tells the other members of `room`, on every node, that `session`'s user joined or left it,
/// unless presence is off or the room has more local members than `--presence-max-members`
/// (filling a big room with presence is quadratic).
pub async fn presence(
    io: &SocketIo<ServerAdapter>,
    s: &SocketRef<ServerAdapter>,
    app: &AppState,
    session: &Session,
    room: &str,
    action: &str,
) {
    if app.config.presence == Presence::Off {
        return;
    }
    // The room's local size, counting the socket that joins or leaves.
    let local = io.to(room.to_owned()).except(s.id).local().sockets().len() + 1;
    if local > app.config.presence_max_members {
        return;
    }
    let body = PresenceEvent {
        room,
        action,
        user: &session.user,
    };
    emit(io.to(room.to_owned()).except(s.id), "presence", &body).await;
}

/// Emits through the adapter (every node); a failure here is a local encoding bug.
async fn emit<T: Serialize + ?Sized>(
    ops: BroadcastOperators<ServerAdapter>,
    event: &str,
    body: &T,
) {
    if let Err(err) = ops.emit(event, body).await {
        tracing::error!(%err, event, "cannot emit");
    }
}

/// `join(room)`: joins and tells the other members; `{ok, room}`.
pub async fn join(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if !is_member(s, &room) {
        if is_socket_id(ctx, &room).await? {
            return Err(Failure::bad_request(
                "`room` is the id of a socket; socket rooms cannot be joined",
            ));
        }
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
        if let Some(ops) = ctx.app.cluster.namespace(s.ns()) {
            ops.room_joined(room.clone()).await;
        }
        presence(&ctx.io, s, &ctx.app, &ctx.session, &room, "join").await;
    }
    Ok(json!({"ok": true, "room": room}))
}

/// Whether `room` is the id of a connected socket on any node (its private room).
async fn is_socket_id(ctx: &Ctx, room: &str) -> Result<bool, Failure> {
    if !looks_like_socket_id(room) {
        return Ok(false);
    }
    let Some(ops) = ctx.app.cluster.namespace(ctx.socket.ns()) else {
        return Err(Failure::unavailable("namespace adapter not ready"));
    };
    let fetched = ops.fetch_sockets(vec![room.to_owned()]).await;
    if let Some(err) = fetched.error {
        return Err(Failure::unavailable(format!(
            "cannot check the room on every node: {err}"
        )));
    }
    Ok(fetched.sockets.iter().any(|s| s.id == room))
}

/// `leave(room)`: leaves and tells the remaining members; `{ok, room}`.
pub async fn leave(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if room == s.id.to_string() || !is_member(s, &room) {
        return Err(Failure::not_in_room(&room));
    }
    s.leave(room.clone());
    presence(&ctx.io, s, &ctx.app, &ctx.session, &room, "leave").await;
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
    emit(
        ctx.io.to(room.clone()).except(ctx.socket.id),
        "message",
        &body,
    )
    .await;
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
    emit(ctx.io.broadcast().except(ctx.socket.id), "broadcast", &body).await;
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
    emit(ctx.io.to(to), "direct", &body).await;
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `members(room)`: `{ok, room, members: [user, ...]}`.
pub async fn members(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let Some(ops) = ctx.app.cluster.namespace(ctx.socket.ns()) else {
        return Err(Failure::unavailable("namespace adapter not ready"));
    };
    let fetched = ops.fetch_sockets(vec![room.clone()]).await;
    if let Some(err) = fetched.error {
        return Err(Failure::unavailable(format!(
            "cannot list members on every node: {err}"
        )));
    }
    // A socket's `data` is its user (Node peers' sockets carry whatever their server put there).
    // A socket is in its own-id room, but that is not membership.
    let members: Vec<serde_json::Value> = fetched
        .sockets
        .iter()
        .filter(|s| s.id != room)
        .map(|s| {
            match s
                .data
                .as_ref()
                .and_then(|d| rmpv::ext::from_value::<serde_json::Value>(d.clone()).ok())
            {
                Some(user @ serde_json::Value::Object(_)) => user,
                _ => json!({"id": s.id, "name": null}),
            }
        })
        .collect();
    Ok(json!({"ok": true, "room": room, "members": members}))
}

/// `rooms()`: `{ok, rooms: [...]}`, the rooms this socket joined.
pub async fn rooms(ctx: &Ctx, _data: Option<Value>) -> Outcome {
    Ok(json!({"ok": true, "rooms": joined_rooms(&ctx.socket)}))
}

/// `whoami()`: `{ok, user, node}`, the user other clients see for this socket and the node id of
/// the replica serving it (a page shows which replica it is connected to, and sees the change
/// after a reconnection lands elsewhere).
pub async fn whoami(ctx: &Ctx, _data: Option<Value>) -> Outcome {
    Ok(json!({"ok": true, "user": ctx.session.user, "node": ctx.app.node_id}))
}
