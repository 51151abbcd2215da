//! STUB
#![allow(missing_docs, unused_variables)]
use super::packet::Packet;
use crate::eio::packet::Frame;
use bytes::Bytes;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    Default,
    Msgpack,
}
impl Parser {
    pub fn encode(self, packet: &Packet) -> Vec<Frame> {
        todo!()
    }
}
#[derive(Debug, thiserror::Error)]
#[error("parse")]
pub struct ParseError;
pub enum Decoder {
    Default,
    Msgpack,
}
impl Decoder {
    pub fn new(parser: Parser, max_attachments: usize) -> Self {
        Decoder::Default
    }
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        todo!()
    }
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ParseError> {
        todo!()
    }
}
