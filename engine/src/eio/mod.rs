//! Engine.IO: packets and payloads.

pub mod packet;
pub mod payload;
