//! Who may open the Admin UI: Node's basic authentication. A UI presents `{username, password}` (checked against
//! the bcrypt hash, then given a new session id) or, after a reload, `{sessionId}` (checked in the store).
//! Every refusal is `invalid credentials`, the message the UI recognises.

use std::sync::Arc;

use rmpv::Value;

use super::sessions::SessionStore;

/// The refusal message of Node's instrument, which the UI shows as "invalid credentials".
pub const INVALID_CREDENTIALS: &str = "invalid credentials";

/// The configured login, or none when authentication is off.
pub struct Auth {
    credentials: Option<Credentials>,
    store: SessionStore,
}

struct Credentials {
    username: String,
    hash: Arc<str>,
}

/// A successful login.
#[derive(Debug, PartialEq, Eq)]
pub enum Granted {
    /// Authentication is off, or the UI presented a live session.
    Known,
    /// Username and password matched: the UI is told this new session id.
    NewSession(String),
}

impl Auth {
    /// `credentials` is `(username, bcrypt hash)`, or `None` when authentication is off.
    pub fn new(credentials: Option<(String, String)>, store: SessionStore) -> Self {
        Self {
            credentials: credentials.map(|(username, hash)| Credentials {
                username,
                hash: hash.into(),
            }),
            store,
        }
    }

    /// Checks a CONNECT `auth` payload; `Err` carries the refusal message.
    pub async fn check(&self, auth: &Value) -> Result<Granted, &'static str> {
        let Some(credentials) = &self.credentials else {
            return Ok(Granted::Known);
        };
        if let Some(session) = field(auth, "sessionId") {
            match self.store.exists(session).await {
                Ok(true) => return Ok(Granted::Known),
                Ok(false) => {}
                Err(err) => tracing::warn!(%err, "cannot check an admin UI session"),
            }
        }
        let (Some(username), Some(password)) = (field(auth, "username"), field(auth, "password"))
        else {
            return Err(INVALID_CREDENTIALS);
        };
        if username != credentials.username || !verify(password, &credentials.hash).await {
            return Err(INVALID_CREDENTIALS);
        }
        let session = new_session_id();
        if let Err(err) = self.store.save(&session).await {
            // The login stands; only a reload will have to log in again.
            tracing::warn!(%err, "cannot save an admin UI session");
        }
        Ok(Granted::NewSession(session))
    }
}

/// bcrypt is slow on purpose: it runs on the blocking pool, not on a runtime worker.
async fn verify(password: &str, hash: &Arc<str>) -> bool {
    let (password, hash) = (password.to_owned(), hash.clone());
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// 16 hexadecimal characters from the operating system's generator, as Node's `randomBytes(8)`.
fn new_session_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn field<'a>(auth: &'a Value, name: &str) -> Option<&'a str> {
    auth.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .and_then(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcryptjs' hash of "pw" at cost 4.
    const HASH: &str = "$2a$04$t5PKAzIE226fKE0BkymIGuEzCs0BMIt4lWTXy4ypVMwA.gUNzBk8y";

    fn auth(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (Value::from(*k), Value::from(*v)))
                .collect(),
        )
    }

    #[tokio::test]
    async fn password_then_session() {
        let a = Auth::new(Some(("admin".into(), HASH.into())), SessionStore::new(None));
        let granted = a
            .check(&auth(&[("username", "admin"), ("password", "pw")]))
            .await;
        let Ok(Granted::NewSession(id)) = granted else {
            panic!("login refused: {granted:?}")
        };
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            a.check(&auth(&[("sessionId", &id)])).await,
            Ok(Granted::Known)
        );
        for bad in [
            auth(&[("username", "admin"), ("password", "nope")]),
            auth(&[("username", "root"), ("password", "pw")]),
            auth(&[("sessionId", "0000000000000000")]),
            Value::Nil,
            Value::from("admin"),
        ] {
            assert_eq!(a.check(&bad).await, Err(INVALID_CREDENTIALS), "{bad}");
        }
    }

    #[tokio::test]
    async fn without_credentials_everyone_is_let_in() {
        let a = Auth::new(None, SessionStore::new(None));
        assert_eq!(a.check(&Value::Nil).await, Ok(Granted::Known));
    }
}
