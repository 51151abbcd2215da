//! Command-line and environment configuration: the single source of every default.
//!
//! Each flag falls back to an environment variable; invalid values are rejected by clap
//! while parsing, so the process exits with code 2 and a message naming the flag.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use http::HeaderValue;

/// The `server` binary: a socket.io chat and broadcast backend.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about)]
pub struct Cli {
    /// Server settings (ignored by subcommands that do not serve).
    #[command(flatten)]
    pub config: Config,
    /// An optional subcommand; without one the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands of the binary.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Exit 0 when the admin `/ready` endpoint answers 200, else 1 (for images without curl).
    Healthcheck {
        /// URL to probe; defaults to `http://127.0.0.1:<admin-port>/ready`.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Every server setting.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// socket.io and HTTP API port.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Engine.IO request path, e.g. `/wsk` behind a path-prefix proxy.
    #[arg(long, env = "SIO_PATH", default_value = "/socket.io", value_parser = parse_path)]
    pub path: String,
    /// Ping interval: milliseconds, or a duration such as `25s`.
    #[arg(long, env = "PING_INTERVAL", default_value = "25000", value_parser = parse_duration)]
    pub ping_interval: Duration,
    /// Ping timeout: milliseconds, or a duration such as `20s`.
    #[arg(long, env = "PING_TIMEOUT", default_value = "20000", value_parser = parse_duration)]
    pub ping_timeout: Duration,
    /// Time a client has to connect to a namespace after the handshake.
    #[arg(long, env = "CONNECT_TIMEOUT", default_value = "45000", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Largest message a client may send, in bytes (advertised in the handshake).
    #[arg(long, env = "MAX_PAYLOAD", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=1_073_741_824))]
    pub max_payload: u64,
    /// Allowed transports: `polling`, `websocket` or both, comma separated.
    #[arg(long, env = "TRANSPORTS", default_value = "polling,websocket", value_parser = parse_transports)]
    pub transports: Transports,
    /// Allowed CORS origins (comma list, `*` for any); credentials are allowed for listed origins.
    #[arg(long, env = "CORS_ORIGIN", value_parser = parse_cors)]
    pub cors_origin: Option<CorsOrigin>,
    /// Also accept socket.io-client 2.x (Engine.IO v3).
    #[arg(long, env = "ALLOW_EIO3", default_value_t = false)]
    pub allow_eio3: bool,
    /// Packet parser: `default` (JSON) or `msgpack` (clients using socket.io-msgpack-parser).
    #[arg(long, env = "PARSER", value_enum, default_value_t = ParserKind::Default)]
    pub parser: ParserKind,
    /// Name of the cookie set on the handshake (value: the node id), for proxy stickiness.
    #[arg(long, env = "COOKIE", value_parser = parse_cookie_name)]
    pub cookie: Option<String>,
    /// Port of the health, readiness and metrics listener.
    #[arg(long, env = "ADMIN_PORT", default_value_t = 9000)]
    pub admin_port: u16,
    /// Log format: `text` or `json`; the level comes from `RUST_LOG`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// When set, clients must present a valid HS256 JWT in `auth.token`.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// When set, enables `POST /api/v1/emit` with this bearer key.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// This replica's name in logs, metrics and cookies (default: the host name).
    #[arg(long, env = "NODE_ID", value_parser = parse_node_id)]
    pub node_id: Option<String>,
    /// Longest time a graceful shutdown may take.
    #[arg(long, env = "DRAIN_TIMEOUT", default_value = "10000", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Most rooms a socket may join (its own-id room not counted).
    #[arg(long, env = "MAX_ROOMS", default_value_t = 100)]
    pub max_rooms: usize,
    /// Sustained events per second a socket may send (token bucket refill rate).
    #[arg(long, env = "RATE_LIMIT", default_value = "50")]
    pub rate_limit: NonZeroU32,
    /// Burst of events a socket may send at once (token bucket size).
    #[arg(long, env = "RATE_BURST", default_value = "100")]
    pub rate_burst: NonZeroU32,
    /// `presence` events on join and leave: `on` (the contract) or `off` (`members` still answers).
    #[arg(long, env = "PRESENCE", value_enum, default_value_t = Presence::On)]
    pub presence: Presence,
    /// No `presence` event for a join or leave in a room with more local members than this.
    #[arg(long, env = "PRESENCE_MAX_MEMBERS", default_value_t = 1000)]
    pub presence_max_members: usize,
    /// Redis URL that makes this node a cluster member: `redis://[user:pass@]host:port[/db]`,
    /// `rediss://` for TLS, `redis-cluster://host:port?node=host:port` for a Redis Cluster.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Channel prefix, Node's `key` option (must match the Node servers and emitters).
    #[arg(long, env = "REDIS_PREFIX", default_value = "socket.io")]
    pub redis_prefix: String,
    /// `classic` (Node's `createAdapter`, what emitters speak), `sharded` (`createShardedAdapter`) or
    /// `streams` (`@socket.io/redis-streams-adapter`: recovery on any replica).
    #[arg(long, env = "REDIS_MODE", value_enum, default_value_t = RedisMode::Classic)]
    pub redis_mode: RedisMode,
    /// Streams mode: the stream is trimmed to about this many entries (Node's `maxLen`), which bounds how
    /// many events a disconnected client can recover.
    #[arg(long, env = "REDIS_STREAM_MAX_LEN", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_stream_max_len: u64,
    /// Streams mode: namespaces are spread over this many streams (Node's `streamCount`).
    #[arg(long, env = "REDIS_STREAM_COUNT", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub redis_stream_count: u32,
    /// Sharded mode only: `dynamic` (a channel per room) or `static` (two channels per namespace).
    #[arg(long, env = "REDIS_SUBSCRIPTION_MODE", value_enum, default_value_t = SubscriptionMode::Dynamic)]
    pub redis_subscription_mode: SubscriptionMode,
    /// How long cluster requests (members, fetch sockets) wait for every node.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "5000", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Outgoing packets queued per connection; a connection whose queue would go over it is closed
    /// as a slow consumer.
    #[arg(long, env = "MAX_BUFFER", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_buffer: u32,
    /// Outgoing bytes queued per connection; a connection whose queue would go over it is closed
    /// as a slow consumer. Must hold at least one `--max-payload` message.
    #[arg(long, env = "MAX_BUFFER_BYTES", default_value_t = 4_194_304,
          value_parser = clap::value_parser!(u64).range(1024..=1_073_741_824))]
    pub max_buffer_bytes: u64,
    /// Connection state recovery (Node's `connectionStateRecovery`): a client that lost its
    /// connection comes back with the same id, rooms and data, and gets the events it missed.
    #[arg(long, env = "RECOVERY", value_enum, default_value_t = Switch::Off)]
    pub recovery: Switch,
    /// How long a disconnected socket's session and missed events are kept for recovery.
    #[arg(long, env = "RECOVERY_MAX_DISCONNECTION", default_value = "2m", value_parser = parse_duration)]
    pub recovery_max_disconnection: Duration,
    /// Whether a recovered socket skips the handshake checks (Node's `skipMiddlewares`).
    #[arg(long, env = "RECOVERY_SKIP_MIDDLEWARE", value_enum, default_value_t = Switch::On)]
    pub recovery_skip_middleware: Switch,
    /// Time a client has to send a request head whole (both ports): from the connection's start
    /// for its first request, from the first byte for later ones.
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "20000", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time a client has to send a request whole, head and body (both ports), counted as for
    /// `--header-timeout`.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "60000", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// How long a connection may stay idle between two requests (both ports).
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value = "5000", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,
    /// Most open connections on the main port (default and upper bound: the file descriptor
    /// limit minus the descriptors kept for the admin port, Redis and the process).
    #[arg(long, env = "MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Most connections one peer address may hold on the main port that have not sent a whole
    /// request yet (a new connection counts until its first request has arrived whole).
    #[arg(long, env = "MAX_PENDING_PER_PEER", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_per_peer: u32,
    /// Directory of static files served at `/` on the main port (the chat page: `web/dist`).
    #[arg(long, env = "WEB_DIR", value_parser = parse_web_dir)]
    pub web_dir: Option<PathBuf>,
    /// socket.io-client's `dist` directory: its browser bundles are served under the Engine.IO
    /// path (`/socket.io/socket.io.min.js`, ...), as Node's `serveClient` does.
    #[arg(long, env = "CLIENT_DIR", value_parser = parse_client_dir)]
    pub client_dir: Option<PathBuf>,
    /// The socket.io Admin UI (`--admin-ui*`).
    #[command(flatten)]
    pub admin_ui: crate::admin_ui::config::AdminUiConfig,
}

impl Config {
    /// The rules that span flags (exit code 2 when one is broken, as for a bad flag).
    pub fn check(&self) -> Result<(), String> {
        self.admin_ui.check()?;
        if self.max_buffer_bytes < self.max_payload {
            return Err(format!(
                "--max-buffer-bytes ({}) must be at least --max-payload ({}): a queue that cannot hold one \
                 message would close every client a message of the largest allowed size is sent to",
                self.max_buffer_bytes, self.max_payload
            ));
        }
        Ok(())
    }

    /// The node id: the flag, or the host name.
    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned())
    }
}

/// The transports clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling allowed.
    pub polling: bool,
    /// WebSocket allowed.
    pub websocket: bool,
}

/// Allowed CORS origins.
#[derive(Debug, Clone)]
pub enum CorsOrigin {
    /// Any origin (`*`), without credentials.
    Any,
    /// These exact origins, with credentials.
    List(Vec<HeaderValue>),
}

/// Packet parser selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParserKind {
    /// The default socket.io JSON parser.
    Default,
    /// The MessagePack parser of `socket.io-msgpack-parser`.
    Msgpack,
}

/// An on/off setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Whether `presence` events are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Presence {
    /// Sent to the other members of a room on every join and leave (below the size threshold).
    On,
    /// Never sent.
    Off,
}

/// The Node Redis adapter protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedisMode {
    /// PUBLISH/SUBSCRIBE, as `@socket.io/redis-adapter`'s `createAdapter` and the emitters.
    Classic,
    /// SPUBLISH/SSUBSCRIBE, as `createShardedAdapter` (Redis 7+).
    Sharded,
    /// A Redis stream, as `@socket.io/redis-streams-adapter` (connection state recovery on any replica).
    Streams,
}

/// Subscription mode of the sharded protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscriptionMode {
    /// A channel per room (Node's default).
    Dynamic,
    /// Only the namespace channels.
    Static,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (containers).
    Json,
}

/// Parses `25000` (milliseconds) or a humantime duration such as `25s` or `1m 30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("expected milliseconds or a duration like `25s`: {e}"))?,
    };
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn parse_path(s: &str) -> Result<String, String> {
    let valid = s.starts_with('/')
        && s.len() > 1
        && !s.ends_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    if valid {
        Ok(s.to_owned())
    } else {
        Err("expected a path such as `/socket.io` (leading `/`, no trailing `/`)".into())
    }
}

fn parse_transports(s: &str) -> Result<Transports, String> {
    let mut t = Transports {
        polling: false,
        websocket: false,
    };
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "polling" => t.polling = true,
            "websocket" => t.websocket = true,
            other => return Err(format!("unknown transport `{other}` (polling, websocket)")),
        }
    }
    if !t.polling && !t.websocket {
        return Err("at least one transport is required".into());
    }
    Ok(t)
}

fn parse_cors(s: &str) -> Result<CorsOrigin, String> {
    let items: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if items.is_empty() {
        return Err("expected `*` or a comma list of origins".into());
    }
    if items.contains(&"*") {
        return Ok(CorsOrigin::Any);
    }
    items
        .into_iter()
        .map(|o| {
            let ok = (o.starts_with("http://") || o.starts_with("https://")) && !o.ends_with('/');
            if !ok {
                return Err(format!(
                    "`{o}` is not an origin such as `https://app.example.com`"
                ));
            }
            HeaderValue::from_str(o).map_err(|e| format!("`{o}`: {e}"))
        })
        .collect::<Result<_, _>>()
        .map(CorsOrigin::List)
}

fn parse_cookie_name(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(s.to_owned())
    } else {
        Err("not a valid cookie name".into())
    }
}

fn parse_node_id(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(s.to_owned())
    } else {
        Err("expected 1..64 characters of [A-Za-z0-9._-]".into())
    }
}

fn parse_web_dir(s: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(s);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "`{s}` is not a directory (the chat page is built by `npm ci && npm run build` in web/)"
        ))
    }
}

fn parse_client_dir(s: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(s);
    if dir.join("socket.io.min.js").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "`{s}` has no socket.io.min.js: expected socket.io-client's dist directory, \
             e.g. web/node_modules/socket.io-client/dist"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
    }

    #[test]
    fn durations_accept_millis_and_humantime() {
        assert_eq!(parse_duration("25000"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("25s"), Ok(Duration::from_secs(25)));
        assert_eq!(parse_duration("1m 5s"), Ok(Duration::from_secs(65)));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("0").is_err());
    }

    #[test]
    fn invalid_values_name_the_flag_and_exit_2() {
        for args in [
            &["--ping-interval", "soon"][..],
            &["--parser", "xml"],
            &["--presence", "maybe"],
            &["--redis-mode", "ring"],
            &["--presence-max-members", "lots"],
            &["--port", "99999"],
            &["--transports", "carrier-pigeon"],
            &["--path", "no-slash"],
            &["--cors-origin", "example.com"],
            &["--header-timeout", "0"],
            &["--keep-alive-timeout", "soon"],
            &["--max-connections", "0"],
            &["--max-pending-per-peer", "0"],
            &["--web-dir", "/nonexistent/web/dist"],
            &["--client-dir", "/nonexistent/socket.io-client/dist"],
            &["--client-dir", env!("CARGO_MANIFEST_DIR")],
        ] {
            let err = parse(args).err();
            let Some(err) = err else {
                panic!("{args:?} was accepted")
            };
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(args[0]), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_byte_budget_below_one_message_is_refused() -> Result<(), clap::Error> {
        assert_eq!(parse(&[])?.config.check(), Ok(()));
        let small = parse(&["--max-buffer-bytes", "999999"])?.config;
        let err = small.check().err().unwrap_or_default();
        assert!(
            err.contains("--max-buffer-bytes (999999) must be at least --max-payload (1000000)"),
            "{err}"
        );
        let both = parse(&["--max-buffer-bytes", "65536", "--max-payload", "65536"])?.config;
        assert_eq!(both.check(), Ok(()));
        Ok(())
    }

    #[test]
    fn defaults_match_the_contract() -> Result<(), clap::Error> {
        let c = parse(&[])?.config;
        assert_eq!(c.port, 3000);
        assert_eq!(c.admin_port, 9000);
        assert_eq!(c.path, "/socket.io");
        assert_eq!(c.ping_interval, Duration::from_millis(25_000));
        assert_eq!(c.ping_timeout, Duration::from_millis(20_000));
        assert_eq!(c.connect_timeout, Duration::from_millis(45_000));
        assert_eq!(c.max_payload, 1_000_000);
        assert_eq!(
            c.transports,
            Transports {
                polling: true,
                websocket: true
            }
        );
        assert_eq!(c.parser, ParserKind::Default);
        assert_eq!(c.drain_timeout, Duration::from_millis(10_000));
        assert_eq!(c.max_rooms, 100);
        assert_eq!(c.rate_limit.get(), 50);
        assert_eq!(c.rate_burst.get(), 100);
        assert_eq!(c.presence, Presence::On);
        assert_eq!(c.presence_max_members, 1000);
        assert_eq!(c.redis_url, None);
        assert_eq!(c.redis_prefix, "socket.io");
        assert_eq!(c.redis_mode, RedisMode::Classic);
        assert_eq!(c.request_timeout, Duration::from_millis(5000));
        assert_eq!(c.header_timeout, Duration::from_secs(20));
        assert_eq!(c.body_timeout, Duration::from_secs(60));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(c.max_connections, None);
        assert_eq!(c.max_pending_per_peer, 1024);
        Ok(())
    }

    #[test]
    fn cors_star_means_any() {
        assert!(matches!(parse_cors("*"), Ok(CorsOrigin::Any)));
        assert!(
            matches!(parse_cors("https://a.example, http://localhost:8080"), Ok(CorsOrigin::List(l)) if l.len() == 2)
        );
    }
}
