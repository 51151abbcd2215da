//! Acknowledgement and error shapes of the client contract.
//!
//! Success acks are `{ok: true, ...}`; failures are `{ok: false, error, message}`. When the
//! client asked for no ack, a failure is emitted to it as event `error` `{error, message, event}`.

use serde::Serialize;

/// The failure codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload has the wrong shape or values.
    BadRequest,
    /// The socket is not a member of the room it names.
    NotInRoom,
    /// The socket exceeded its event rate.
    RateLimited,
    /// The socket already joined the maximum number of rooms.
    TooManyRooms,
    /// A cluster-wide answer could not be gathered (Redis away, a node did not answer in time).
    Unavailable,
}

/// A refused client event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl Failure {
    /// A `bad_request` failure.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }

    /// An `unavailable` failure.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Unavailable,
            message: message.into(),
        }
    }

    /// A `not_in_room` failure for `room`.
    pub fn not_in_room(room: &str) -> Self {
        Self {
            code: ErrorCode::NotInRoom,
            message: format!("not a member of room `{room}`"),
        }
    }

    /// The ack body `{ok: false, error, message}`.
    pub fn ack(&self) -> FailureAck<'_> {
        FailureAck {
            ok: false,
            error: self.code,
            message: &self.message,
        }
    }

    /// The `error` event body `{error, message, event}`.
    pub fn event<'a>(&'a self, event: &'a str) -> FailureEvent<'a> {
        FailureEvent {
            error: self.code,
            message: &self.message,
            event,
        }
    }
}

/// Ack body of a failure.
#[derive(Debug, Serialize)]
pub struct FailureAck<'a> {
    ok: bool,
    error: ErrorCode,
    message: &'a str,
}

/// Body of the `error` event.
#[derive(Debug, Serialize)]
pub struct FailureEvent<'a> {
    error: ErrorCode,
    message: &'a str,
    event: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_shapes() {
        let f = Failure::not_in_room("r");
        let ack = serde_json::to_value(f.ack()).unwrap();
        assert_eq!(
            ack,
            serde_json::json!({"ok": false, "error": "not_in_room", "message": "not a member of room `r`"})
        );
        let ev = serde_json::to_value(f.event("message")).unwrap();
        assert_eq!(ev["event"], "message");
        assert_eq!(ev["error"], "not_in_room");
        let rl = serde_json::to_value(ErrorCode::RateLimited).unwrap();
        assert_eq!(rl, "rate_limited");
        assert_eq!(
            serde_json::to_value(ErrorCode::TooManyRooms).unwrap(),
            "too_many_rooms"
        );
    }
}
