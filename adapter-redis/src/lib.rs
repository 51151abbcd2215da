//! A socketioxide adapter on Redis speaking the Node `@socket.io/redis-adapter` wire protocol.
//!
//! Under construction: see issue 3.
