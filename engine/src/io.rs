//! The server handle (Node's `Server`): built once with its namespaces and adapter, mounted in axum as a tower
//! layer, closed on shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};

use crate::adapter::{AdapterFactory, LocalNamespace, MemoryAdapterFactory};
use crate::config::EngineConfig;
use crate::eio::reason::DisconnectReason;
use crate::eio::server::Engine;
use crate::eio::stats::EngineStats;
use crate::sio::namespace::{Namespace, NamespaceHandler, Namespaces};

/// Builds an [`Io`].
pub struct IoBuilder {
    config: EngineConfig,
    namespaces: Vec<(String, Arc<dyn NamespaceHandler>)>,
    adapter: Arc<dyn AdapterFactory>,
    hooks: crate::hooks::MaybeHooks,
}

impl IoBuilder {
    /// A server with `config`, no namespace yet, and the in-memory adapter.
    pub fn new(config: EngineConfig) -> Self {
        Self {
            config,
            namespaces: Vec::new(),
            adapter: Arc::new(MemoryAdapterFactory),
            hooks: None,
        }
    }

    /// Registers namespace `name` with its handler.
    pub fn namespace(
        mut self,
        name: impl Into<String>,
        handler: Arc<dyn NamespaceHandler>,
    ) -> Self {
        self.namespaces.push((name.into(), handler));
        self
    }

    /// Uses `factory` to create each namespace's adapter.
    pub fn adapter(mut self, factory: Arc<dyn AdapterFactory>) -> Self {
        self.adapter = factory;
        self
    }

    /// Observes the engine with `hooks` (none by default: no cost).
    pub fn hooks(mut self, hooks: Arc<dyn crate::hooks::Hooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// The server.
    pub fn build(self) -> Io {
        let parser = self.config.parser;
        let mut map = HashMap::new();
        for (name, handler) in self.namespaces {
            let ns = Arc::new(Namespace::new(
                name.clone(),
                handler,
                parser,
                self.hooks.clone(),
                self.config.recovery.clone(),
            ));
            ns.set_adapter(self.adapter.create(LocalNamespace(Arc::downgrade(&ns))));
            map.insert(name, ns);
        }
        Io {
            engine: Arc::new(Engine::new(self.config, Namespaces(map), self.hooks)),
        }
    }
}

/// The socket.io server.
#[derive(Clone)]
pub struct Io {
    engine: Arc<Engine>,
}

impl Io {
    /// A builder.
    pub fn builder(config: EngineConfig) -> IoBuilder {
        IoBuilder::new(config)
    }

    /// The namespace `name`, when registered.
    pub fn of(&self, name: &str) -> Option<Arc<Namespace>> {
        self.engine.namespaces.get(name).cloned()
    }

    /// Every registered namespace.
    pub fn namespaces(&self) -> Vec<Arc<Namespace>> {
        self.engine.namespaces.0.values().cloned().collect()
    }

    #[cfg(test)]
    pub(crate) fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.engine.stats
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.engine.config
    }

    /// Closes every connection (`server shutting down`) and waits until they are gone.
    pub async fn close(&self) {
        self.engine
            .close_all(DisconnectReason::ServerShuttingDown)
            .await;
    }

    /// The tower layer that answers Engine.IO requests under the configured path and passes the others on.
    pub fn layer(&self) -> EngineLayer {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

/// Mounts the engine in front of a service.
#[derive(Clone)]
pub struct EngineLayer {
    engine: Arc<Engine>,
}

impl<S> tower::Layer<S> for EngineLayer {
    type Service = EngineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineService {
            engine: self.engine.clone(),
            inner,
        }
    }
}

/// Answers Engine.IO requests; everything else goes to the inner service.
#[derive(Clone)]
pub struct EngineService<S> {
    engine: Arc<Engine>,
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for EngineService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>,
    S::Future: Send + 'static,
    ReqBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let path = self.engine.config.path.as_str();
        let ours = req
            .uri()
            .path()
            .strip_prefix(path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if ours {
            let engine = self.engine.clone();
            Box::pin(async move { Ok(engine.handle(req).await) })
        } else {
            let fut = self.inner.call(req);
            Box::pin(fut)
        }
    }
}
