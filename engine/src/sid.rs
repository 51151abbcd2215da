//! Session and socket ids: 20 characters of base64url, like Node's `base64id` (15 random bytes).
//!
//! Held inline (no allocation) because every connection and every room index entry carries one. Node's sharded
//! Redis adapter tells socket ids from room names by their 20-character shape; matching it keeps a Node peer's
//! `io.to(socketId)` on the per-socket route without per-socket subscriptions.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A 20-character base64url id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// Length of an id in characters.
    pub const LEN: usize = 20;

    /// A fresh random id.
    pub fn new() -> Self {
        let bytes: [u8; 15] = rand::random();
        let mut out = [0u8; 20];
        // 15 bytes encode to exactly 20 characters without padding.
        let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut out);
        Self(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Parses an id received from a client or a peer: 20 base64url characters.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes: [u8; 20] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(Self(bytes))
    }
}

impl Default for Sid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_base64url_characters_and_round_trip() {
        for _ in 0..1000 {
            let sid = Sid::new();
            assert_eq!(sid.as_str().len(), 20);
            assert_eq!(Sid::parse(sid.as_str()), Some(sid));
        }
        assert_ne!(Sid::new(), Sid::new());
    }

    #[test]
    fn parse_refuses_other_shapes() {
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa/"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaaaa"), None);
        assert!(Sid::parse("aZ09-_aaaaaaaaaaaaaa").is_some());
    }
}
