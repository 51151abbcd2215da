//! STUB
#![allow(missing_docs, unused_variables)]
use bytes::Bytes;
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}
pub enum WsMessage {
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    Close(Option<u16>),
}
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("too big")]
    TooBig,
    #[error("utf8")]
    InvalidUtf8,
    #[error("protocol {0}")]
    Protocol(&'static str),
}
impl WsError {
    pub fn close_code(&self) -> u16 {
        1002
    }
}
pub struct FrameReader;
impl FrameReader {
    pub fn new(max_message: usize) -> Self {
        FrameReader
    }
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        todo!()
    }
    pub fn is_idle(&self) -> bool {
        true
    }
}
pub fn header(opcode: Opcode, payload_len: usize, out: &mut [u8; 10]) -> usize {
    todo!()
}
pub fn control_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    todo!()
}
pub fn close_frame(code: u16) -> Bytes {
    todo!()
}
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    todo!()
}
