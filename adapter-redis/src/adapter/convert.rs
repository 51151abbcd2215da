//! Conversions between the engine's options and socket descriptions and the wire's (packets convert with the
//! `TryFrom` impls of [`crate::wire::event`]).

use engine::adapter::BroadcastOptions;
use engine::{SocketDescription, value::dates_to_iso_strings};
use rmpv::Value;

use crate::wire;

/// The options of a broadcast as other servers read them: `{rooms, except, flags}` (`volatile` when set).
pub(crate) fn broadcast_opts_to_wire(opts: &BroadcastOptions) -> wire::BroadcastOptions {
    let mut flags = wire::BroadcastFlags::new();
    if opts.volatile {
        flags = flags.with_volatile(true);
    }
    wire::BroadcastOptions::with_flags(opts.rooms.clone(), opts.except.clone(), flags)
}

/// The options of a request (join, leave, disconnect, fetch): Node sends no `flags` key in those.
pub(crate) fn request_opts_to_wire(opts: &BroadcastOptions) -> wire::BroadcastOptions {
    wire::BroadcastOptions::new(opts.rooms.clone(), opts.except.clone())
}

/// The engine's form of options from another server (no rooms: every socket); always local.
pub(crate) fn opts_from_wire(opts: &wire::BroadcastOptions) -> BroadcastOptions {
    BroadcastOptions {
        rooms: opts.rooms.clone(),
        except: opts.except.clone(),
        local: true,
        volatile: opts.flags().volatile(),
        timeout: None,
    }
}

/// Options that target exactly one local socket (its own-id room).
pub(crate) fn single(sid: &str) -> BroadcastOptions {
    BroadcastOptions {
        rooms: vec![sid.to_owned()],
        local: true,
        ..BroadcastOptions::default()
    }
}

/// A local socket as Node's `fetchSockets` response carries it. `data` `nil` is `undefined` (no key).
pub(crate) fn socket_to_wire(socket: SocketDescription) -> wire::RemoteSocketData {
    wire::RemoteSocketData {
        id: socket.id,
        handshake: wire::Handshake::from_value(socket.handshake).unwrap_or_default(),
        rooms: socket.rooms,
        data: (socket.data != Value::Nil).then_some(socket.data),
    }
}

/// A socket of another server (Node or Rust) as the engine describes sockets.
pub(crate) fn socket_from_wire(socket: wire::RemoteSocketData) -> SocketDescription {
    let mut data = socket.data.unwrap_or(Value::Nil);
    dates_to_iso_strings(&mut data);
    SocketDescription {
        id: socket.id,
        handshake: socket.handshake.to_value(),
        rooms: socket.rooms,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_flags_only_for_broadcasts() {
        let opts = BroadcastOptions {
            rooms: vec!["r".into()],
            except: vec!["x".into()],
            volatile: true,
            ..Default::default()
        };
        let w = broadcast_opts_to_wire(&opts);
        assert!(w.flags().volatile());
        assert!(request_opts_to_wire(&opts).flags.is_none());
        let back = opts_from_wire(&w);
        assert_eq!((back.rooms, back.except), (opts.rooms, opts.except));
        assert!(back.volatile && back.local);
    }

    #[test]
    fn socket_descriptions_round_trip() {
        let socket = wire::RemoteSocketData {
            id: "FA5IzxryWgk4g5HzAAAB".into(),
            handshake: wire::Handshake {
                address: "127.0.0.1".into(),
                issued: 7,
                ..Default::default()
            },
            rooms: vec!["FA5IzxryWgk4g5HzAAAB".into(), "r".into()],
            data: Some(Value::from("d")),
        };
        assert_eq!(socket_to_wire(socket_from_wire(socket.clone())), socket);
        let undefined = wire::RemoteSocketData {
            data: None,
            ..socket
        };
        assert_eq!(
            socket_to_wire(socket_from_wire(undefined.clone())),
            undefined
        );
    }
}
