//! The value model of packet data ([`rmpv::Value`]) and its JSON dialect.
