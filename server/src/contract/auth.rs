//! The handshake: reads `auth {name?, token?}`, verifies the JWT when required, and attaches
//! the socket's [`Session`]. Refusals reach the client as `connect_error` with a short message.

use std::fmt;
use std::sync::Arc;

use engine::{ConnectError, Socket};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::session::{Session, User};
use super::validate;
use crate::state::AppState;

/// Why a handshake was refused; its `Display` is the `connect_error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, invalid or expired token.
    Unauthorized,
    /// Malformed `auth` payload (e.g. a name that is not 1..64 characters).
    BadRequest,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::BadRequest => "bad_request",
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: Option<String>,
}

/// Connect middleware: authenticates the handshake and attaches the socket's session, its user as
/// `socket.data` (what other servers' `fetchSockets` see) and its `auth` without the token.
pub fn authenticate(
    app: &AppState,
    s: &Arc<Socket>,
    auth: rmpv::Value,
) -> Result<(), ConnectError> {
    let result = rmpv::ext::from_value::<Value>(auth)
        .map_err(|_| Refusal::BadRequest)
        .and_then(|auth| Ok((user(app, s.id.as_str(), &auth)?, auth)));
    match result {
        Ok((user, mut auth)) => {
            if let Some(map) = auth.as_object_mut() {
                // Other servers see the handshake's auth; the token is a secret.
                map.remove("token");
            }
            s.set_auth(super::to_value(&auth));
            s.set_data(super::to_value(&user));
            let c = &app.config;
            s.set_extension(Session::new(user, c.rate_limit, c.rate_burst));
            Ok(())
        }
        Err(refusal) => {
            app.metrics.handshakes_refused.inc();
            tracing::debug!(sid = %s.id, %refusal, "handshake refused");
            Err(ConnectError {
                message: refusal.to_string(),
                data: None,
            })
        }
    }
}

/// Derives the user of socket `sid` from its `auth` payload.
fn user(app: &AppState, sid: &str, auth: &Value) -> Result<User, Refusal> {
    let auth = match auth {
        Value::Object(map) => map,
        Value::Null => &serde_json::Map::new(),
        _ => return Err(Refusal::BadRequest),
    };
    let name = match auth.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if validate::name(n) => Some(n.clone()),
        Some(_) => return Err(Refusal::BadRequest),
    };
    let Some(key) = &app.jwt_key else {
        return Ok(User {
            id: sid.to_owned(),
            name,
            user_id: None,
        });
    };
    let Some(Value::String(token)) = auth.get("token") else {
        return Err(Refusal::Unauthorized);
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub"]);
    // As Node's jsonwebtoken: a token is not valid before its `nbf` (with the same leeway as `exp`).
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|_| Refusal::Unauthorized)?
        .claims;
    if claims.sub.is_empty() {
        return Err(Refusal::Unauthorized);
    }
    // A name claim the contract cannot show is the issuer's mistake: refuse rather than hide it.
    let name = match claims.name {
        None => name,
        Some(n) if validate::name(&n) => Some(n),
        Some(_) => return Err(Refusal::Unauthorized),
    };
    Ok(User {
        id: sid.to_owned(),
        name,
        user_id: Some(claims.sub),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn app(secret: Option<&str>) -> AppState {
        let mut args = vec!["server"];
        if let Some(s) = secret {
            args.extend(["--jwt-secret", s]);
        }
        AppState::new(crate::config::Cli::parse_from(args).config).unwrap()
    }

    fn token(secret: &str, claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn names_without_jwt() {
        let a = app(None);
        assert_eq!(user(&a, "s1", &json!({})).unwrap().name, None);
        assert_eq!(
            user(&a, "s1", &json!({"name": "Ada"}))
                .unwrap()
                .name
                .as_deref(),
            Some("Ada")
        );
        assert_eq!(
            user(&a, "s1", &json!({"name": ""})),
            Err(Refusal::BadRequest)
        );
        assert_eq!(
            user(&a, "s1", &json!({"name": 3})),
            Err(Refusal::BadRequest)
        );
        assert_eq!(user(&a, "s1", &json!("str")), Err(Refusal::BadRequest));
    }

    #[test]
    fn jwt_required_and_checked() {
        let a = app(Some("k"));
        let far = 4_000_000_000u64;
        let good = token("k", json!({"sub": "u1", "name": "Grace", "exp": far}));
        let u = user(&a, "s1", &json!({"token": good, "name": "Ada"})).unwrap();
        assert_eq!(
            (u.name.as_deref(), u.user_id.as_deref()),
            (Some("Grace"), Some("u1"))
        );
        assert_eq!(user(&a, "s1", &json!({})), Err(Refusal::Unauthorized));
        let wrong = token("other", json!({"sub": "u1", "exp": far}));
        assert_eq!(
            user(&a, "s1", &json!({"token": wrong})),
            Err(Refusal::Unauthorized)
        );
        let expired = token("k", json!({"sub": "u1", "exp": 1_000}));
        assert_eq!(
            user(&a, "s1", &json!({"token": expired})),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(Refusal::Unauthorized.to_string(), "unauthorized");
    }

    #[test]
    fn claims_node_refuses_are_refused() {
        let a = app(Some("k"));
        let far = 4_000_000_000u64;
        let now = jsonwebtoken::get_current_timestamp();
        let refused = [
            json!({"sub": "u1", "exp": far, "nbf": now + 3600}),
            json!({"sub": "", "exp": far}),
            json!({"sub": "u1", "exp": far, "name": "n".repeat(65)}),
            json!({"sub": "u1", "exp": far, "name": ""}),
            json!({"sub": "u1", "exp": far, "name": 7}),
        ];
        for claims in refused {
            let t = token("k", claims.clone());
            assert_eq!(
                user(&a, "s1", &json!({"token": t, "name": "Ada"})),
                Err(Refusal::Unauthorized),
                "{claims}"
            );
        }
        let t = token(
            "k",
            json!({"sub": "u1", "exp": far, "nbf": now - 10, "name": "n".repeat(64)}),
        );
        let u = user(&a, "s1", &json!({"token": t})).unwrap();
        assert_eq!(u.name.map(|n| n.chars().count()), Some(64));
        let t = token("k", json!({"sub": "u1", "exp": far, "name": null}));
        let u = user(&a, "s1", &json!({"token": t, "name": "Ada"})).unwrap();
        assert_eq!(u.name.as_deref(), Some("Ada"));
    }
}
