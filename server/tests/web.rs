//! Static files on the main router in process (`--web-dir`, `--client-dir`): content types,
//! caching headers, 404s, no directory listing, no path traversal, and the priority of the
//! Engine.IO endpoint and the HTTP API over static files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use server::app;
use server::config::Cli;
use server::state::AppState;
use tower::ServiceExt;

/// A scratch tree, removed on drop:
/// `<root>/secret.txt` (outside the web directory), `<root>/web/...` and `<root>/client/...`.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "server-web-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let files: &[(&str, &str)] = &[
            ("secret.txt", "SECRET outside the web directory"),
            ("web/index.html", "<!doctype html><title>chat</title>"),
            ("web/assets/index-BYyqMrXy.js", "console.log('app')"),
            ("web/assets/index-BYyqMrXy.js.map", "{\"version\":3}"),
            ("web/assets/index-RGrpRzlh.css", "body{}"),
            (
                "web/favicon.svg",
                "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            ),
            ("web/logo.png", "\u{89}PNG"),
            ("web/docs/index.html", "<p>docs</p>"),
            ("web/empty/.keep", ""),
            ("web/.env", "API_KEY=leaked"),
            ("web/api/v1/emit", "a file shadowing the API"),
            ("web/socket.io/index.html", "a file shadowing Engine.IO"),
            ("client/socket.io.js", "/* full */"),
            ("client/socket.io.min.js", "/* min */"),
            ("client/socket.io.min.js.map", "{\"version\":3}"),
            ("client/socket.io.esm.min.js", "export {}"),
            ("client/socket.io.msgpack.min.js", "/* msgpack */"),
            ("client/package.json", "{}"),
        ];
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Self { root }
    }

    fn dir(&self, name: &str) -> String {
        self.root.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn state(args: &[&str]) -> Arc<AppState> {
    let cli = Cli::parse_from(std::iter::once("server").chain(args.iter().copied()));
    Arc::new(AppState::new(cli.config).unwrap())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn is_json_404(&self) -> bool {
        let json: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        self.status == StatusCode::NOT_FOUND && json["error"] == "not_found"
    }
}

async fn send(app: &Arc<AppState>, req: Request<Body>) -> Answer {
    let (router, _io) = app::build(app.clone());
    let res = router.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Arc<AppState>, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn with_web(tree: &Tree, extra: &[&str]) -> Arc<AppState> {
    let web = tree.dir("web");
    let client = tree.dir("client");
    let mut args = vec!["--web-dir", web.as_str(), "--client-dir", client.as_str()];
    args.extend_from_slice(extra);
    state(&args)
}

#[tokio::test]
async fn serves_the_page_with_content_types_and_cache_headers() {
    let tree = Tree::new();
    let app = with_web(&tree, &[]);

    for uri in ["/", "/index.html"] {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.body, "<!doctype html><title>chat</title>");
        assert_eq!(a.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(a.header(header::CACHE_CONTROL), "no-cache", "{uri}");
        assert_eq!(a.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
    let cases = [
        (
            "/assets/index-BYyqMrXy.js",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/index-BYyqMrXy.js.map",
            "application/json; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/assets/index-RGrpRzlh.css",
            "text/css; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        ("/favicon.svg", "image/svg+xml; charset=utf-8", "no-cache"),
        ("/logo.png", "image/png", "no-cache"),
        ("/docs/", "text/html; charset=utf-8", "no-cache"),
    ];
    for (uri, content_type, cache) in cases {
        let a = get(&app, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.header(header::CONTENT_TYPE), content_type, "{uri}");
        assert_eq!(a.header(header::CACHE_CONTROL), cache, "{uri}");
    }

    // HEAD: the headers without the body; a conditional GET: 304 with the same policy.
    let a = send(&app, Request::head("/").body(Body::empty()).unwrap()).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, ""));
    let modified = get(&app, "/")
        .await
        .header(header::LAST_MODIFIED)
        .to_owned();
    assert!(!modified.is_empty());
    let a = send(
        &app,
        Request::get("/")
            .header(header::IF_MODIFIED_SINCE, modified)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_MODIFIED);
    assert_eq!(a.header(header::CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn misses_listings_traversal_and_dotfiles_are_json_404s() {
    let tree = Tree::new();
    let app = with_web(&tree, &[]);
    for uri in [
        "/missing.js",
        "/assets/",
        "/empty/",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "//secret.txt",
        &format!("/{}", tree.dir("secret.txt")),
        "/.env",
        "/%2eenv",
        "/empty/.keep",
    ] {
        let a = get(&app, uri).await;
        assert!(a.is_json_404(), "{uri}: {} {}", a.status, a.body);
        assert!(!a.body.contains("SECRET") && !a.body.contains("leaked"));
        assert_eq!(a.header(header::CACHE_CONTROL), "", "{uri}");
    }
    // Other methods than GET and HEAD are unknown routes too.
    let a = send(&app, Request::post("/").body(Body::from("x")).unwrap()).await;
    assert!(a.is_json_404(), "{} {}", a.status, a.body);
    // A directory without a trailing slash is only redirected to itself, never listed.
    let a = get(&app, "/assets").await;
    assert!(a.status.is_redirection(), "{}", a.status);
    assert_eq!(a.header(header::LOCATION), "/assets/");
}

#[tokio::test]
async fn engine_io_and_the_api_keep_priority_over_files() {
    let tree = Tree::new();
    let app = with_web(&tree, &["--api-key", "k1"]);

    // The Engine.IO endpoint answers its path, although the web directory has a socket.io/ folder.
    let a = get(&app, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.starts_with("0{"), "{}", a.body);
    // The API answers its routes (401: no key), although a file has the same path.
    let a = send(
        &app,
        Request::post("/api/v1/emit").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    // Nothing under /api/ is ever a file, also while the API is off.
    let app = with_web(&tree, &[]);
    let a = get(&app, "/api/v1/emit").await;
    assert!(a.is_json_404(), "{} {}", a.status, a.body);
}

#[tokio::test]
async fn client_bundles_are_served_under_the_engine_io_path() {
    let tree = Tree::new();
    let app = with_web(&tree, &["--cookie", "io"]);
    let cases = [
        (
            "/socket.io/socket.io.min.js",
            "/* min */",
            "text/javascript",
        ),
        ("/socket.io/socket.io.js", "/* full */", "text/javascript"),
        (
            "/socket.io/socket.io.esm.min.js",
            "export {}",
            "text/javascript",
        ),
        (
            "/socket.io/socket.io.msgpack.min.js",
            "/* msgpack */",
            "text/javascript",
        ),
        (
            "/socket.io/socket.io.min.js.map",
            "{\"version\":3}",
            "application/json",
        ),
    ];
    for (uri, body, content_type) in cases {
        let a = get(&app, uri).await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, body), "{uri}");
        assert_eq!(
            a.header(header::CONTENT_TYPE),
            format!("{content_type}; charset=utf-8")
        );
        assert_eq!(a.header(header::CACHE_CONTROL), "no-cache");
        // Not an Engine.IO handshake: no stickiness cookie.
        assert_eq!(a.header(header::SET_COOKIE), "", "{uri}");
    }
    // A listed file missing from the directory, and files that are not bundles: not served (the
    // Engine.IO endpoint answers them as malformed requests, as before).
    for uri in [
        "/socket.io/socket.io.esm.min.js.map",
        "/socket.io/package.json",
        "/socket.io/../secret.txt",
    ] {
        let a = get(&app, uri).await;
        assert_ne!(a.status, StatusCode::OK, "{uri}");
        assert!(!a.body.contains("SECRET"));
    }
    let a = get(&app, "/socket.io/?EIO=4&transport=polling").await;
    assert!(a.body.starts_with("0{"), "{}", a.body);
    assert!(a.header(header::SET_COOKIE).starts_with("io="));
    // The bundles' headers stay on the bundles.
    assert_eq!(a.header(header::X_CONTENT_TYPE_OPTIONS), "");
}

#[tokio::test]
async fn client_bundles_follow_the_path_option() {
    let tree = Tree::new();
    let app = with_web(&tree, &["--path", "/wsk"]);
    let a = get(&app, "/wsk/socket.io.min.js").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "/* min */"));
    let a = get(&app, "/wsk/?EIO=4&transport=polling").await;
    assert!(a.body.starts_with("0{"), "{}", a.body);
    // /socket.io/ is an ordinary path now: the web directory's file.
    let a = get(&app, "/socket.io/socket.io.min.js").await;
    assert!(a.is_json_404(), "{} {}", a.status, a.body);
    let a = get(&app, "/socket.io/").await;
    assert_eq!(a.body, "a file shadowing Engine.IO");
}

#[tokio::test]
async fn without_the_flags_nothing_is_served() {
    let app = state(&[]);
    for uri in ["/", "/index.html", "/socket.io/socket.io.min.js"] {
        let a = get(&app, uri).await;
        assert_ne!(a.status, StatusCode::OK, "{uri}");
    }
    assert!(get(&app, "/").await.is_json_404());
    let a = send(
        &app,
        Request::builder()
            .method(Method::GET)
            .uri("/favicon.ico")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(a.is_json_404());
}

#[test]
fn flags_refuse_directories_that_cannot_serve() {
    let tree = Tree::new();
    let parse =
        |args: &[&str]| Cli::try_parse_from(std::iter::once("server").chain(args.iter().copied()));
    let file = tree.dir("secret.txt");
    let web = tree.dir("web");
    for args in [
        vec!["--web-dir", "/nonexistent/dist"],
        vec!["--web-dir", file.as_str()],
        vec!["--client-dir", web.as_str()],
    ] {
        let err = parse(&args).expect_err("refused");
        assert_eq!(err.exit_code(), 2, "{args:?}");
        assert!(err.to_string().contains(args[0]), "{err}");
    }
    assert!(parse(&["--web-dir", &web]).is_ok());
    assert!(
        Path::new(&tree.dir("client"))
            .join("socket.io.min.js")
            .is_file()
    );
}
