//! What the UI asks of the cluster: `join(nsp, room, filter?)`, `leave(nsp, room, filter?)`,
//! `_disconnect(nsp, close, filter?)` and `emit(nsp, filter, event, ...args)`. Each is applied to every server
//! through the adapter (Node's `socketsJoin`, `socketsLeave`, `disconnectSockets` and a broadcast) to the sockets
//! of `nsp`, only those in room `filter` when it is given (the UI passes a socket id or a room name).
//!
//! Like Node's instrument, these bypass the application: no presence event, no room limit.

use engine::{AdapterError, BroadcastOperators, Io};
use rmpv::Value;

use crate::api::RESERVED_EVENTS;

/// Why an action was not applied (logged; the UI gets no answer, as from Node).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ActionError {
    /// Not one of the four actions.
    #[error("unknown admin UI action `{0}`")]
    Unknown(String),
    /// An argument has the wrong type.
    #[error("`{action}`: {what}")]
    BadArgument {
        /// The action.
        action: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// The namespace is not registered on this server.
    #[error("no namespace `{0}`")]
    NoNamespace(String),
    /// The cluster could not be reached.
    #[error(transparent)]
    Cluster(#[from] AdapterError),
}

/// A parsed action.
#[derive(Debug, PartialEq)]
enum Action {
    Join { room: String },
    Leave { room: String },
    Disconnect { close: bool },
    Emit { event: String, args: Vec<Value> },
}

/// Applies the UI's event `name` with `args` to the cluster.
pub async fn apply(io: &Io, name: &str, args: Vec<Value>) -> Result<(), ActionError> {
    let (nsp, filter, action) = parse(name, args)?;
    let ns = io.of(&nsp).ok_or(ActionError::NoNamespace(nsp))?;
    let targets: BroadcastOperators = match filter {
        Some(room) => ns.to(room),
        None => ns.broadcast(),
    };
    match action {
        Action::Join { room } => targets.sockets_join(vec![room]).await?,
        Action::Leave { room } => targets.sockets_leave(vec![room]).await?,
        Action::Disconnect { close } => targets.disconnect_sockets(close).await?,
        Action::Emit { event, args } => targets.emit(&event, args).await?,
    }
    Ok(())
}

/// `(nsp, filter, action)` of the UI's event.
fn parse(name: &str, args: Vec<Value>) -> Result<(String, Option<String>, Action), ActionError> {
    let mut args = args.into_iter();
    let mut next = || args.next().unwrap_or(Value::Nil);
    let bad = |action, what| ActionError::BadArgument { action, what };
    match name {
        "join" | "leave" => {
            let action = if name == "join" { "join" } else { "leave" };
            let nsp = string(next()).ok_or(bad(action, "the namespace must be a string"))?;
            let room = string(next()).ok_or(bad(action, "the room must be a string"))?;
            let filter = filter(next()).ok_or(bad(action, "the filter must be a string"))?;
            let action = if name == "join" {
                Action::Join { room }
            } else {
                Action::Leave { room }
            };
            Ok((nsp, filter, action))
        }
        "_disconnect" => {
            let nsp = string(next()).ok_or(bad("_disconnect", "the namespace must be a string"))?;
            let close = truthy(&next());
            let filter = filter(next()).ok_or(bad("_disconnect", "the filter must be a string"))?;
            Ok((nsp, filter, Action::Disconnect { close }))
        }
        "emit" => {
            let nsp = string(next()).ok_or(bad("emit", "the namespace must be a string"))?;
            let filter = filter(next()).ok_or(bad("emit", "the filter must be a string"))?;
            let event = string(next()).ok_or(bad("emit", "the event name must be a string"))?;
            if RESERVED_EVENTS.contains(&event.as_str()) {
                return Err(bad("emit", "the event name is reserved"));
            }
            let args = args.collect();
            Ok((nsp, filter, Action::Emit { event, args }))
        }
        other => Err(ActionError::Unknown(other.chars().take(64).collect())),
    }
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => s.into_str(),
        _ => None,
    }
}

/// A room filter: absent when falsy (`undefined`, `null`, `""`, `false`), as Node's `if (filter)`.
fn filter(v: Value) -> Option<Option<String>> {
    if !truthy(&v) {
        return Some(None);
    }
    string(v).map(Some)
}

/// JavaScript truthiness of a decoded value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Nil => false,
        Value::Boolean(b) => *b,
        Value::Integer(i) => i.as_f64().is_some_and(|f| f != 0.0),
        Value::F32(f) => *f != 0.0 && !f.is_nan(),
        Value::F64(f) => *f != 0.0 && !f.is_nan(),
        Value::String(s) => !s.as_bytes().is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::from(v)
    }

    #[test]
    fn actions_parse_with_nodes_filter_semantics() {
        assert_eq!(
            parse("join", vec![s("/"), s("r"), s("sid")]),
            Ok((
                "/".into(),
                Some("sid".into()),
                Action::Join { room: "r".into() }
            ))
        );
        assert_eq!(
            parse("leave", vec![s("/"), s("r")]),
            Ok(("/".into(), None, Action::Leave { room: "r".into() }))
        );
        assert_eq!(
            parse("_disconnect", vec![s("/"), Value::from(true), s("")]),
            Ok(("/".into(), None, Action::Disconnect { close: true }))
        );
        assert_eq!(
            parse("_disconnect", vec![s("/"), Value::Nil, s("r")]),
            Ok((
                "/".into(),
                Some("r".into()),
                Action::Disconnect { close: false }
            ))
        );
        assert_eq!(
            parse(
                "emit",
                vec![s("/"), Value::Nil, s("hello"), s("a"), Value::from(1)]
            ),
            Ok((
                "/".into(),
                None,
                Action::Emit {
                    event: "hello".into(),
                    args: vec![s("a"), Value::from(1)]
                }
            ))
        );
    }

    #[test]
    fn bad_actions_are_refused() {
        assert!(matches!(
            parse("join", vec![Value::from(1), s("r")]),
            Err(ActionError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("join", vec![s("/")]),
            Err(ActionError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("leave", vec![s("/"), s("r"), Value::from(7)]),
            Err(ActionError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("emit", vec![s("/"), Value::Nil, s("disconnect")]),
            Err(ActionError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("emit", vec![s("/")]),
            Err(ActionError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("drop_tables", vec![]),
            Err(ActionError::Unknown(_))
        ));
    }
}
