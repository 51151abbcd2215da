//! STUB
pub mod json;
