//! Engine.IO's request errors: the code, message and HTTP status Node answers with.

use bytes::Bytes;
use http::{Response, StatusCode, header};

/// A refused Engine.IO request (Node's `Server.errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// `0`: the transport is not one of the allowed ones.
    UnknownTransport,
    /// `1`: no session with this id.
    UnknownSid,
    /// `2`: a handshake that is not a GET.
    BadHandshakeMethod,
    /// `3`: anything else that is wrong with the request.
    BadRequest,
    /// `4`: refused by the application (with its message), or while the server shuts down.
    Forbidden(&'static str),
    /// `5`: an `EIO` version the server does not speak.
    UnsupportedProtocolVersion,
}

impl RequestError {
    /// Node's numeric code.
    pub fn code(&self) -> u8 {
        match self {
            Self::UnknownTransport => 0,
            Self::UnknownSid => 1,
            Self::BadHandshakeMethod => 2,
            Self::BadRequest => 3,
            Self::Forbidden(_) => 4,
            Self::UnsupportedProtocolVersion => 5,
        }
    }

    /// Node's message.
    pub fn message(&self) -> &'static str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden(message) => message,
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// 403 for `Forbidden`, 400 for the others, as Node answers.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON response `{"code":N,"message":"..."}`.
    pub fn response<B: From<Bytes>>(&self) -> Response<B> {
        let mut body = String::with_capacity(48);
        body.push_str("{\"code\":");
        body.push_str(&self.code().to_string());
        body.push_str(",\"message\":");
        crate::value::json::write_string(self.message(), &mut body);
        body.push('}');
        let mut res = Response::new(B::from(Bytes::from(body)));
        *res.status_mut() = self.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        res
    }
}

impl RequestError {
    /// The answer to a refused WebSocket upgrade request: Node answers those before the upgrade with the bare
    /// message as `text/html` and closes the connection.
    pub fn upgrade_response<B: From<Bytes>>(&self) -> Response<B> {
        let mut res = Response::new(B::from(Bytes::from_static(self.message().as_bytes())));
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/html"),
        );
        h.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_statuses_are_nodes() {
        let res: Response<Bytes> = RequestError::UnknownSid.response();
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.body(),
            &Bytes::from_static(br#"{"code":1,"message":"Session ID unknown"}"#)
        );
        let res: Response<Bytes> = RequestError::Forbidden("Server is shutting down").response();
        assert_eq!(res.status(), 403);
        assert_eq!(
            res.body(),
            &Bytes::from_static(br#"{"code":4,"message":"Server is shutting down"}"#)
        );
    }
}
