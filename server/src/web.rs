//! Static files on the main port: the chat page of `--web-dir` at `/`, and, as Node's
//! `serveClient` does, socket.io-client's browser bundles of `--client-dir` under the Engine.IO
//! path (`<path>/socket.io.min.js`, the `.esm`/`.msgpack` variants, the unminified bundle, and
//! their source maps), so that plain pages can use `<script src="/socket.io/socket.io.min.js">`.
//!
//! Two plain axum routers, because the two kinds of file sit at different priorities:
//! - [`Web::site`] is what the main router falls back to: only a path that neither the Engine.IO
//!   endpoint nor the HTTP API claims ever reaches the web directory.
//! - [`Web::client_bundle`] has to be asked *before* the Engine.IO endpoint, which claims every
//!   path under its own; it matches only the exact bundle file names, never an Engine.IO request
//!   (those go to `<path>` or `<path>/` with a query), and falls back to the main router for
//!   everything else.
//!
//! Caching: the hashed build output (Vite's `assets/` directory) is immutable for a year;
//! everything else (`index.html` above all, whose new version must be seen at once, and the
//! bundles, whose names carry no version) is `no-cache`: revalidated with `If-Modified-Since` on
//! every use. No directory listing (a directory serves its `index.html` or 404), no path outside
//! the directory (tower-http's `ServeDir` refuses `..`, root and drive components, also
//! percent-encoded), no dotfiles, nothing under `/api/`. A miss is the same JSON 404 as any
//! unknown route.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get_service;
use tower_http::services::{ServeDir, ServeFile};

use crate::api::ApiError;
use crate::config::Config;

/// The files of socket.io-client's `dist` directory that are served, as Node's `serveClient`
/// lists them.
pub const CLIENT_FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// The directory of content-hashed build output (Vite's `build.assetsDir`).
const HASHED_DIR: &str = "assets";
/// Content-hashed files never change under the same name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else is revalidated on every use.
const REVALIDATE: &str = "no-cache";

/// The static files of one node, from `--web-dir` and `--client-dir`.
#[derive(Debug, Clone)]
pub struct Web {
    site: Option<PathBuf>,
    client: Option<PathBuf>,
    sio_path: String,
}

impl Web {
    /// The static files the configuration asks for (the directories were checked by clap).
    pub fn new(config: &Config) -> Self {
        Self {
            site: config.web_dir.clone(),
            client: config.client_dir.clone(),
            sio_path: config.path.clone(),
        }
    }

    /// The router the main router falls back to: the web directory at `/`, else the JSON 404
    /// of unknown routes (also without `--web-dir`).
    pub fn site(&self) -> Router {
        let not_found = (async || ApiError::not_found()).into_service();
        let Some(dir) = &self.site else {
            return Router::new().fallback_service(not_found);
        };
        let files = ServeDir::new(dir)
            .call_fallback_on_method_not_allowed(true)
            .fallback(not_found);
        Router::new()
            .fallback_service(files)
            .layer(middleware::from_fn(site_headers))
    }

    /// The bundle files at `<path>/<file>` ahead of `main` (the Engine.IO endpoint and
    /// everything behind it), which gets every other request; just `main` without
    /// `--client-dir`.
    pub fn client_bundle(&self, main: Router) -> Router {
        let Some(dir) = &self.client else {
            return main;
        };
        CLIENT_FILES
            .iter()
            .fold(Router::new(), |router, name| {
                let route = format!("{}/{name}", self.sio_path);
                let file = get_service(ServeFile::new(dir.join(name)))
                    .layer(middleware::from_fn(bundle_headers));
                router.route(&route, file)
            })
            .fallback_service(main)
    }
}

/// Refuses dotfiles and sets the caching and content headers of the web directory's files.
async fn site_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if has_hidden_segment(&path) || is_api(&path) {
        return ApiError::not_found().into_response();
    }
    let mut res = next.run(req).await;
    let cache = if is_hashed(&path) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    finish(&mut res, &path, cache);
    res
}

/// Sets the caching and content headers of the bundle files.
async fn bundle_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    finish(&mut res, &path, REVALIDATE);
    res
}

/// Cache policy, `nosniff` and a UTF-8 charset on text, for a served file (not for misses).
/// Source maps are JSON (mime_guess does not know `.map`).
fn finish(res: &mut Response, path: &str, cache: &'static str) {
    let served = matches!(
        res.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    );
    if !served {
        return;
    }
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.ends_with(".map") {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    } else if let Some(with_charset) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(content_type_with_charset)
    {
        headers.insert(header::CONTENT_TYPE, with_charset);
    }
}

/// `text/html` -> `text/html; charset=utf-8` (and the other text types a page is built from,
/// which Vite and socket.io-client write in UTF-8); `None` when nothing changes.
fn content_type_with_charset(ct: &str) -> Option<HeaderValue> {
    const TEXT: [&str; 6] = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    ];
    if ct.contains(';') || !TEXT.contains(&ct) {
        return None;
    }
    HeaderValue::from_str(&format!("{ct}; charset=utf-8")).ok()
}

/// Whether a request path belongs to the HTTP API (`/api/...`), which static files never shadow,
/// also while the API is off.
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Whether a request path is under the hashed-assets directory (`/assets/...`).
fn is_hashed(path: &str) -> bool {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .is_some_and(|first| first == HASHED_DIR)
        && !path.ends_with('/')
}

/// Whether any segment of the (percent-decoded) path starts with a dot: `.env`, `.git/...`.
fn has_hidden_segment(path: &str) -> bool {
    let decoded = percent_decode(path);
    Path::new(&decoded)
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}

/// The path with `%XX` escapes decoded (invalid escapes are kept as they are; `+` stays `+`).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_assets_directory_is_immutable() {
        assert!(is_hashed("/assets/index-BYyqMrXy.js"));
        assert!(!is_hashed("/assets/"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/assetsx/a.js"));
        assert!(!is_hashed("/favicon.svg"));
    }

    #[test]
    fn dot_segments_are_hidden_also_encoded() {
        assert!(has_hidden_segment("/.env"));
        assert!(has_hidden_segment("/assets/.git/config"));
        assert!(has_hidden_segment("/%2egit/config"));
        assert!(has_hidden_segment("/a/%2E%2E/b"));
        assert!(!has_hidden_segment("/assets/index-a.js"));
        assert!(!has_hidden_segment("/"));
        assert!(!has_hidden_segment("/100%"));
    }

    #[test]
    fn text_types_get_utf8() {
        assert_eq!(
            content_type_with_charset("text/html")
                .as_ref()
                .map(|v| v.to_str().ok()),
            Some(Some("text/html; charset=utf-8"))
        );
        assert!(content_type_with_charset("text/html; charset=latin1").is_none());
        assert!(content_type_with_charset("image/png").is_none());
    }
}
