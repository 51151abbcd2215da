//! socket.io: packets and parsers.

pub mod packet;
pub mod parser;
