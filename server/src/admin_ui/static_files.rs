//! The UI itself, served under `/admin-ui/` of the main port: the built `ui/dist` of `@socket.io/admin-ui` with
//! its fonts local (see `admin-ui/`), so it works without internet and from the same origin as the socket.io
//! endpoint (no CORS needed). The hosted UI at `https://admin.socket.io` works too, with `--cors-origin`.

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Where the UI is served.
pub const PREFIX: &str = "/admin-ui";

/// `router` with the UI from `dir` under [`PREFIX`], or unchanged (with a warning) when `dir` has no UI.
pub fn routes(router: Router, dir: &Path) -> Router {
    if !dir.join("index.html").is_file() {
        tracing::warn!(
            dir = %dir.display(),
            "admin UI files not found (build them with `cd admin-ui && npm ci && npm run build`, or set \
             --admin-ui-dir); the namespace works with the hosted UI at https://admin.socket.io"
        );
        return router;
    }
    // The files are looked up by the path after the prefix.
    let files = ServeDir::new(dir).map_request(|mut req: Request<Body>| {
        let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or("/");
        let rest = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        if let Ok(uri) = rest.parse() {
            *req.uri_mut() = uri;
        }
        req
    });
    // The page loads its scripts by relative paths: `/admin-ui` must become `/admin-ui/`.
    router
        .route(PREFIX, get(to_directory))
        .route_service(&format!("{PREFIX}/"), files.clone())
        .route_service(&format!("{PREFIX}/{{*path}}"), files)
}

async fn to_directory() -> impl IntoResponse {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("admin-ui/"))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn get(router: &Router, uri: &str) -> (StatusCode, Option<String>, String) {
        let req = axum::http::Request::get(uri).body(Body::empty());
        let Ok(req) = req else { panic!("request") };
        let Ok(res) = router.clone().oneshot(req).await;
        let location = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn serves_the_ui_under_its_prefix() -> std::io::Result<()> {
        let dir = std::env::temp_dir().join(format!("admin-ui-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("js"))?;
        std::fs::write(dir.join("index.html"), "<html>ui</html>")?;
        std::fs::write(dir.join("js/app.js"), "app")?;
        let router = routes(Router::new(), &dir);
        assert_eq!(
            get(&router, "/admin-ui").await.0,
            StatusCode::PERMANENT_REDIRECT
        );
        assert_eq!(
            get(&router, "/admin-ui").await.1.as_deref(),
            Some("admin-ui/")
        );
        assert_eq!(get(&router, "/admin-ui/").await.2, "<html>ui</html>");
        assert_eq!(get(&router, "/admin-ui/js/app.js").await.2, "app");
        assert_eq!(
            get(&router, "/admin-ui/../Cargo.toml").await.0,
            StatusCode::NOT_FOUND
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn without_files_nothing_is_served() {
        let router = routes(Router::new(), Path::new("/nonexistent/admin-ui"));
        assert_eq!(get(&router, "/admin-ui/").await.0, StatusCode::NOT_FOUND);
    }
}
