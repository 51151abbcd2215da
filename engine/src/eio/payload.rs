//! STUB (replaced by the codec branch).
#![allow(missing_docs, unused_variables)]
use super::packet::{DecodeError, Frame, Packet, Protocol};
use bytes::Bytes;
pub fn decode_payload(protocol: Protocol, body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    todo!()
}
pub fn encode_payload(
    protocol: Protocol,
    frames: &[Frame],
    supports_binary: bool,
) -> (Bytes, &'static str) {
    todo!()
}
