//! `server healthcheck`: probes `/ready` for container health checks in images without curl.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Returns true when `url` answers 200 within `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> bool {
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        eprintln!("healthcheck: invalid URL `{url}`");
        return false;
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    match tokio::time::timeout(timeout, client.get(uri)).await {
        Ok(Ok(res)) if res.status() == hyper::StatusCode::OK => true,
        Ok(Ok(res)) => {
            eprintln!("healthcheck: {url} answered {}", res.status());
            false
        }
        Ok(Err(err)) => {
            eprintln!("healthcheck: {url}: {err}");
            false
        }
        Err(_) => {
            eprintln!("healthcheck: {url}: no answer within {timeout:?}");
            false
        }
    }
}
