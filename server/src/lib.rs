//! A socket.io chat and broadcast backend on axum and the project's own engine (`engine/`).
//!
//! `main.rs` parses the [`config`], then [`app::run`] serves the socket.io endpoint and the
//! HTTP API on the main port and the health, readiness and metrics endpoints on the admin port
//! until a signal starts a graceful drain.

pub mod adapter;
pub mod admin;
pub mod admin_ui;
pub mod api;
pub mod app;
pub mod config;
pub mod contract;
pub mod guard;
pub mod healthcheck;
pub mod listener;
mod memory_trim;
pub mod metrics;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod web;
