//! The Admin UI's flags (`--admin-ui*`), flattened into the server's configuration.
//!
//! Values that can be checked alone (the bcrypt hash, the namespace) are checked by clap while parsing, so a
//! malformed one stops the server with exit code 2 and a message naming the flag; [`AdminUiConfig::check`] adds
//! the rule that spans flags (a password hash is needed unless authentication is off).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::config::Switch;

/// Settings of the socket.io Admin UI (`@socket.io/admin-ui`).
#[derive(Debug, Clone, Args)]
pub struct AdminUiConfig {
    /// The socket.io Admin UI: `on` registers its namespace, reports to it and serves the UI under `/admin-ui/`.
    #[arg(long = "admin-ui", env = "ADMIN_UI", value_enum, default_value_t = Switch::Off)]
    pub enabled: Switch,
    /// User name the Admin UI logs in with.
    #[arg(
        long = "admin-ui-username",
        env = "ADMIN_UI_USERNAME",
        default_value = "admin"
    )]
    pub username: String,
    /// bcrypt hash of the Admin UI password (`$2a$`, `$2b$` or `$2y$`), e.g. from `htpasswd -nbBC 10 "" PASSWORD`.
    #[arg(long = "admin-ui-password-hash", env = "ADMIN_UI_PASSWORD_HASH", hide_env_values = true,
          value_parser = parse_bcrypt_hash)]
    pub password_hash: Option<String>,
    /// `off` lets anyone who reaches the port administer the sockets (a loud warning at start).
    #[arg(long = "admin-ui-auth", env = "ADMIN_UI_AUTH", value_enum, default_value_t = Switch::On)]
    pub auth: Switch,
    /// `production` (server stats only) or `development` (also every socket, room and event).
    #[arg(long = "admin-ui-mode", env = "ADMIN_UI_MODE", value_enum, default_value_t = Mode::Production)]
    pub mode: Mode,
    /// Read-only: the UI cannot join, leave, disconnect or emit.
    #[arg(
        long = "admin-ui-readonly",
        env = "ADMIN_UI_READONLY",
        default_value_t = false
    )]
    pub readonly: bool,
    /// Namespace the Admin UI connects to.
    #[arg(long = "admin-ui-namespace", env = "ADMIN_UI_NAMESPACE", default_value = "/admin",
          value_parser = parse_namespace)]
    pub namespace: String,
    /// This server's name in the dashboard (default: the node id, so replicas never merge).
    #[arg(long = "admin-ui-server-id", env = "ADMIN_UI_SERVER_ID", value_parser = parse_server_id)]
    pub server_id: Option<String>,
    /// Directory of the built UI (`admin-ui/dist`, see `admin-ui/`), served under `/admin-ui/` of the main port.
    #[arg(
        long = "admin-ui-dir",
        env = "ADMIN_UI_DIR",
        default_value = "admin-ui/dist"
    )]
    pub dir: PathBuf,
}

/// How much the Admin UI is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Server stats and aggregated counters only.
    Production,
    /// Also every socket, room change and event (costs a cluster broadcast per event).
    Development,
}

impl AdminUiConfig {
    /// Whether the Admin UI is on.
    pub fn is_on(&self) -> bool {
        self.enabled == Switch::On
    }

    /// The rule that spans flags: with the UI and its authentication on, a password hash is required.
    pub fn check(&self) -> Result<(), String> {
        if self.is_on() && self.auth == Switch::On && self.password_hash.is_none() {
            return Err(
                "--admin-ui on needs --admin-ui-password-hash <bcrypt hash> \
                 (or --admin-ui-auth off, which lets anyone administer the sockets)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A bcrypt hash as Node's `bcryptjs` accepts it: `$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost of 4..=31, 53
/// characters of salt and hash.
fn parse_bcrypt_hash(s: &str) -> Result<String, String> {
    let s = s.trim();
    let parts: bcrypt::HashParts = s.parse().map_err(|e| {
        format!("not a bcrypt hash ({e}); expected e.g. `$2b$10$` followed by 53 characters")
    })?;
    if !(4..=31).contains(&parts.get_cost()) {
        return Err(format!(
            "bcrypt cost {} is outside 4..=31",
            parts.get_cost()
        ));
    }
    Ok(s.to_owned())
}

fn parse_namespace(s: &str) -> Result<String, String> {
    let valid = s.starts_with('/')
        && s.len() > 1
        && s.len() <= 128
        && !s.chars().any(|c| c.is_control() || c.is_whitespace());
    if valid {
        Ok(s.to_owned())
    } else {
        Err("expected a namespace such as `/admin` (leading `/`, not `/` itself, 2..128 characters)".into())
    }
}

fn parse_server_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control) {
        Ok(s.to_owned())
    } else {
        Err("expected 1..128 characters without control characters".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcryptjs' hash of "pw" at cost 4.
    const HASH: &str = "$2a$04$t5PKAzIE226fKE0BkymIGuEzCs0BMIt4lWTXy4ypVMwA.gUNzBk8y";

    #[test]
    fn bcrypt_hashes_are_checked() {
        assert!(parse_bcrypt_hash(HASH).is_ok());
        assert!(parse_bcrypt_hash(&HASH.replace("$2a$", "$2y$")).is_ok());
        for bad in [
            "",
            "secret",
            "$2b$04$short",
            "$2a$99$t5PKAzIE226fKE0BkymIGuEzCs0BMIt4lWTXy4ypVMwA.gUNzBk8y",
        ] {
            assert!(parse_bcrypt_hash(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn namespaces_are_checked() {
        assert_eq!(parse_namespace("/admin"), Ok("/admin".into()));
        for bad in ["/", "admin", "/a b", ""] {
            assert!(parse_namespace(bad).is_err(), "{bad:?} accepted");
        }
    }
}
