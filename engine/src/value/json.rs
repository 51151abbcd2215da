//! STUB
#![allow(missing_docs, unused_variables)]
pub fn write_string(s: &str, out: &mut String) {
    todo!()
}
