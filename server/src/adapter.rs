//! The socketioxide adapter this server runs with.
//!
//! One node runs socketioxide's in-memory adapter; every handler is written against this alias.

/// The adapter type of every socket and handler of the server.
pub type ServerAdapter = socketioxide::adapter::LocalAdapter;
