//! One handler per contract event. Each validates its payload, acts, and returns the success
//! ack body or a [`Failure`]; [`super::Ctx::run`] does the answering.

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use engine::{BroadcastOperators, Socket};
use rmpv::Value;
use serde::Serialize;
use serde_json::json;

use super::reply::{ErrorCode, Failure};
use super::session::{Session, User};
use super::validate::{field, object, room};
use super::{Ctx, Outcome, to_value};
use crate::config::Presence;
use crate::state::AppState;

/// `presence` event body.
#[derive(Serialize)]
struct PresenceEvent<'a> {
    room: &'a str,
    action: &'a str,
    user: &'a User,
}

/// `message` event body (`data` is put in by [`with_data`]).
#[derive(Serialize)]
struct RoomMessage<'a> {
    id: &'a str,
    room: &'a str,
    from: &'a User,
    ts: u64,
}

/// `broadcast` and `direct` event body (`data` is put in by [`with_data`]).
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    from: &'a User,
    ts: u64,
}

/// `body` with the client's `data` put in before `ts`, exactly as it came: a serde round trip would
/// turn a string that is not UTF-8 (a lone surrogate, which Node forwards) into binary.
fn with_data<T: Serialize>(body: &T, data: &Value) -> Value {
    let mut v = to_value(body);
    if let Value::Map(fields) = &mut v {
        let at = fields
            .iter()
            .position(|(k, _)| k.as_str() == Some("ts"))
            .unwrap_or(fields.len());
        fields.insert(at, (Value::from("data"), data.clone()));
    }
    v
}

/// A fresh message id and timestamp.
fn stamp() -> (String, u64) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (uuid::Uuid::now_v7().to_string(), ts)
}

/// Tells the other members of `room`, on every node, that `session`'s user joined or left it,
/// unless presence is off or the room has more local members than `--presence-max-members`
/// (filling a big room with presence is quadratic).
pub async fn presence(
    s: &Arc<Socket>,
    app: &AppState,
    session: &Session,
    room: &str,
    action: &str,
) {
    if app.config.presence == Presence::Off {
        return;
    }
    // The room's local size, counting the socket that joins or leaves.
    let ns = s.namespace();
    let local = ns.room_size(room) + usize::from(!s.in_room(room));
    if local > app.config.presence_max_members {
        return;
    }
    let body = PresenceEvent {
        room,
        action,
        user: &session.user,
    };
    emit(ns.to(room).except(s.id.to_string()), "presence", &body).await;
}

/// Emits through the adapter (every node); a failure is counted by the adapter and logged here.
async fn emit<T: Serialize + ?Sized>(ops: BroadcastOperators, event: &str, body: &T) {
    emit_value(ops, event, to_value(body)).await;
}

async fn emit_value(ops: BroadcastOperators, event: &str, body: Value) {
    if let Err(err) = ops.emit(event, vec![body]).await {
        tracing::warn!(%err, event, "cannot emit to the whole cluster");
    }
}

/// `join(room)`: joins and tells the other members; `{ok, room}`.
pub async fn join(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if !s.in_room(&room) {
        if is_socket_id(ctx, &room).await? {
            return Err(Failure::bad_request(
                "`room` is the id of a socket; socket rooms cannot be joined",
            ));
        }
        if s.joined_rooms().len() >= ctx.app.config.max_rooms {
            let message = format!(
                "a socket may join at most {} rooms",
                ctx.app.config.max_rooms
            );
            return Err(Failure {
                code: ErrorCode::TooManyRooms,
                message,
            });
        }
        s.join(&room);
        // Sharded `dynamic` mode: the room's channel is subscribed before the join is acknowledged, so no
        // broadcast another server sends to it afterwards is missed.
        ctx.app.cluster.sync_rooms(s.ns()).await;
        presence(s, &ctx.app, &ctx.session, &room, "join").await;
    }
    Ok(json!({"ok": true, "room": room}))
}

/// Whether `room` is the id of a connected socket on any node (its private room).
async fn is_socket_id(ctx: &Ctx, room: &str) -> Result<bool, Failure> {
    if engine::Sid::parse(room).is_none() {
        return Ok(false);
    }
    let fetched = ctx.socket.namespace().to(room).fetch_sockets().await;
    match fetched {
        Ok(sockets) => Ok(sockets.iter().any(|s| s.id == room)),
        Err(err) => Err(Failure::unavailable(format!(
            "cannot check the room on every node: {err}"
        ))),
    }
}

/// `leave(room)`: leaves and tells the remaining members; `{ok, room}`.
pub async fn leave(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let s = &ctx.socket;
    if room == s.id.as_str() || !s.in_room(&room) {
        return Err(Failure::not_in_room(&room));
    }
    s.leave(&room);
    presence(s, &ctx.app, &ctx.session, &room, "leave").await;
    Ok(json!({"ok": true, "room": room}))
}

/// `message({room, data})`: delivers to the other members; `{ok, id, ts}`.
pub async fn message(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let payload = object(data.as_ref(), "{room, data}")?;
    let room = room(field(payload, "room"), "room")?;
    if !ctx.socket.in_room(&room) {
        return Err(Failure::not_in_room(&room));
    }
    let (id, ts) = stamp();
    let data = field(payload, "data").unwrap_or(&Value::Nil);
    let body = RoomMessage {
        id: &id,
        room: &room,
        from: &ctx.session.user,
        ts,
    };
    let to = ctx.socket.broadcast().to(room.as_str());
    emit_value(to, "message", with_data(&body, data)).await;
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `broadcast(data)`: delivers to every other socket; `{ok, id, ts}`.
pub async fn broadcast(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let (id, ts) = stamp();
    let data = data.unwrap_or(Value::Nil);
    let body = Envelope {
        id: &id,
        from: &ctx.session.user,
        ts,
    };
    emit_value(ctx.socket.broadcast(), "broadcast", with_data(&body, &data)).await;
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
        ts,
    };
    emit_value(
        ctx.socket.namespace().to(to),
        "direct",
        with_data(&body, data),
    )
    .await;
    Ok(json!({"ok": true, "id": id, "ts": ts}))
}

/// `members(room)`: `{ok, room, members: [user, ...]}`.
pub async fn members(ctx: &Ctx, data: Option<Value>) -> Outcome {
    let room = room(data.as_ref(), "room")?;
    let fetched = ctx
        .socket
        .namespace()
        .to(room.as_str())
        .fetch_sockets()
        .await;
    let sockets = fetched
        .map_err(|err| Failure::unavailable(format!("cannot list members on every node: {err}")))?;
    // A socket's `data` is its user (Node peers' sockets carry whatever their server put there).
    // A socket is in its own-id room, but that is not membership.
    let members: Vec<serde_json::Value> = sockets
        .iter()
        .filter(|s| s.id != room)
        .map(
            |s| match rmpv::ext::from_value::<serde_json::Value>(s.data.clone()) {
                Ok(serde_json::Value::Object(mut user)) => {
                    // The Admin UI's development mode (here and in Node's instrument) keeps its own `_admin`
                    // entry in `socket.data`: not part of the user.
                    user.remove("_admin");
                    serde_json::Value::Object(user)
                }
                _ => json!({"id": s.id, "name": null}),
            },
        )
        .collect();
    Ok(json!({"ok": true, "room": room, "members": members}))
}

/// `rooms()`: `{ok, rooms: [...]}`, the rooms this socket joined.
pub async fn rooms(ctx: &Ctx, _data: Option<Value>) -> Outcome {
    Ok(json!({"ok": true, "rooms": ctx.socket.joined_rooms()}))
}

/// `whoami()`: `{ok, user, node}`, the user other clients see for this socket and the node id of
/// the replica serving it (a page shows which replica it is connected to, and sees the change
/// after a reconnection lands elsewhere).
pub async fn whoami(ctx: &Ctx, _data: Option<Value>) -> Outcome {
    Ok(json!({"ok": true, "user": ctx.session.user, "node": ctx.app.node_id}))
}
