//! Dates in packet data: the MessagePack timestamp extension and the ISO-8601 string `JSON.stringify` gives.
//!
//! A Node `Date` travels as the timestamp extension ([`Value::Ext`] with type [`TIMESTAMP_EXT_TYPE`]) in the
//! Redis adapter's notepack.io 3 dialect; socket.io's default parser sends it as its ISO string, and the engine
//! holds every date it reads as this extension so that all encoders agree on one representation.

use rmpv::Value;

/// A timestamp extension whose data is not 4, 8 or 12 bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timestamp extension of {0} bytes (expected 4, 8 or 12)")]
pub struct InvalidTimestamp(pub usize);

/// The MessagePack extension type of timestamps (notepack.io writes every `Date` with it).
pub const TIMESTAMP_EXT_TYPE: i8 = -1;

/// The largest absolute time value, in milliseconds, of a valid JavaScript `Date` (±100,000,000 days).
const MAX_JS_DATE_MS: f64 = 8.64e15;

/// A MessagePack timestamp: seconds and nanoseconds since the Unix epoch.
///
/// Decoding accepts the three forms of the extension (4, 8 and 12 bytes); [`Timestamp::to_ext_data`] picks the form
/// notepack.io picks for a `Date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    pub seconds: i64,
    /// Nanoseconds added to `seconds` (below 1,000,000,000 in well-formed data).
    pub nanoseconds: u32,
}

impl Timestamp {
    /// The timestamp of a JavaScript time value (`date.getTime()`, milliseconds since the epoch).
    pub fn from_unix_millis(ms: i64) -> Self {
        let seconds = ms.div_euclid(1000);
        // rem_euclid(1000) is in 0..1000, so the product is below 1e9.
        let nanoseconds = u32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0);
        Self {
            seconds,
            nanoseconds,
        }
    }

    /// Reads the data of a timestamp extension (4, 8 or 12 bytes).
    pub fn from_ext_data(data: &[u8]) -> Result<Self, InvalidTimestamp> {
        match *data {
            [a, b, c, d] => Ok(Self {
                seconds: i64::from(u32::from_be_bytes([a, b, c, d])),
                nanoseconds: 0,
            }),
            [a, b, c, d, e, f, g, h] => {
                let v = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
                let nanoseconds = u32::try_from(v >> 34).unwrap_or(u32::MAX);
                let seconds = i64::try_from(v & 0x3_ffff_ffff).unwrap_or(i64::MAX);
                Ok(Self {
                    seconds,
                    nanoseconds,
                })
            }
            [a, b, c, d, e, f, g, h, i, j, k, l] => Ok(Self {
                nanoseconds: u32::from_be_bytes([a, b, c, d]),
                seconds: i64::from_be_bytes([e, f, g, h, i, j, k, l]),
            }),
            _ => Err(InvalidTimestamp(data.len())),
        }
    }

    /// Reads a [`Value::Ext`] of type [`TIMESTAMP_EXT_TYPE`]; `None` for any other value.
    pub fn from_value(value: &Value) -> Option<Result<Self, InvalidTimestamp>> {
        match value {
            Value::Ext(TIMESTAMP_EXT_TYPE, data) => Some(Self::from_ext_data(data)),
            _ => None,
        }
    }

    /// The extension data in the form notepack.io writes: 4 bytes for whole seconds in `0..2^32`, 8 bytes for
    /// other times in `0..2^34` seconds, 12 bytes otherwise.
    pub fn to_ext_data(&self) -> Vec<u8> {
        const MAX_34_BITS: i64 = (1 << 34) - 1;
        match u32::try_from(self.seconds) {
            Ok(secs) if self.nanoseconds == 0 => secs.to_be_bytes().to_vec(),
            _ if (0..=MAX_34_BITS).contains(&self.seconds) && self.nanoseconds < (1 << 30) => {
                let v = (u64::from(self.nanoseconds) << 34) | self.seconds.unsigned_abs();
                v.to_be_bytes().to_vec()
            }
            _ => {
                let mut data = self.nanoseconds.to_be_bytes().to_vec();
                data.extend_from_slice(&self.seconds.to_be_bytes());
                data
            }
        }
    }

    /// The timestamp as a value ([`Value::Ext`] of type [`TIMESTAMP_EXT_TYPE`]).
    pub fn to_value(&self) -> Value {
        Value::Ext(TIMESTAMP_EXT_TYPE, self.to_ext_data())
    }

    /// The time value of the `Date` notepack.io decodes this timestamp to (`new Date(s * 1e3 + ns / 1e6)`, computed
    /// in floating point as Node does, then truncated); `None` when that is not a valid `Date`.
    pub fn js_time_value(&self) -> Option<i64> {
        let ms = (self.seconds as f64) * 1e3 + f64::from(self.nanoseconds) / 1e6;
        if !ms.is_finite() || ms.abs() > MAX_JS_DATE_MS {
            return None;
        }
        // |ms| <= 8.64e15 < 2^63: the conversion is exact after truncation.
        Some(ms.trunc() as i64)
    }

    /// The string `JSON.stringify(date)` gives, e.g. `2023-11-14T22:13:20.000Z` (millisecond precision; years
    /// outside 0..=9999 as `+YYYYYY` / `-YYYYYY`); `None` for an invalid `Date`, which JSON writes as `null`.
    pub fn to_iso_string(&self) -> Option<String> {
        self.js_time_value().map(iso_string)
    }
}

/// `Date.prototype.toISOString()` of a valid time value.
fn iso_string(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", year.unsigned_abs())
    } else {
        format!("+{year:06}")
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The ISO-8601 string `JSON.stringify` gives for a timestamp value; `None` when `value` is not a timestamp
/// extension, is malformed, or is an invalid `Date`.
pub fn timestamp_to_iso(value: &Value) -> Option<String> {
    Timestamp::from_value(value)?.ok()?.to_iso_string()
}

/// Replaces, anywhere inside `value`, every timestamp extension by its ISO-8601 string (an invalid one by nil),
/// which is what a socket.io client receives for a `Date`. Binary is left as it is.
pub fn dates_to_iso_strings(value: &mut Value) {
    match value {
        Value::Ext(TIMESTAMP_EXT_TYPE, _) => {
            *value = timestamp_to_iso(value).map_or(Value::Nil, Value::from);
        }
        Value::Array(items) => items.iter_mut().for_each(dates_to_iso_strings),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| dates_to_iso_strings(v)),
        _ => {}
    }
}

/// Whether `value` holds binary anywhere, in the sense of Node's `hasBinary`: [`Value::Binary`], or an extension
/// other than a timestamp (notepack.io decodes those to `[type, Buffer]`). A timestamp is not binary: a `Date` is
/// JSON-encodable.
pub fn has_binary(value: &Value) -> bool {
    match value {
        Value::Binary(_) => true,
        Value::Ext(ty, _) => *ty != TIMESTAMP_EXT_TYPE,
        Value::Array(items) => items.iter().any(has_binary),
        Value::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_three_timestamp_forms() {
        // 1700000000000 ms, as notepack.io writes it (vector "binary + Date").
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        assert_eq!(t.to_ext_data(), [0x65, 0x53, 0xf1, 0x00]);
        assert_eq!(t.to_iso_string().unwrap(), "2023-11-14T22:13:20.000Z");

        let t = Timestamp::from_unix_millis(1_700_000_000_123);
        let data = t.to_ext_data();
        assert_eq!(data.len(), 8);
        assert_eq!(Timestamp::from_ext_data(&data).unwrap(), t);
        assert_eq!(t.to_iso_string().unwrap(), "2023-11-14T22:13:20.123Z");

        let t = Timestamp::from_unix_millis(-1);
        let data = t.to_ext_data();
        assert_eq!(data.len(), 12);
        assert_eq!(Timestamp::from_ext_data(&data).unwrap(), t);
        assert_eq!(t.to_iso_string().unwrap(), "1969-12-31T23:59:59.999Z");

        assert_eq!(
            Timestamp::from_unix_millis(0).to_iso_string().unwrap(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_000)
                .to_iso_string()
                .unwrap(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-62_198_755_200_000)
                .to_iso_string()
                .unwrap(),
            "-000001-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(8_640_000_000_000_000)
                .to_iso_string()
                .unwrap(),
            "+275760-09-13T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(8_640_000_000_000_001).to_iso_string(),
            None
        );
        assert!(Timestamp::from_ext_data(&[1, 2, 3]).is_err());
    }

    #[test]
    fn relaying_replaces_dates_only() {
        let mut v = Value::Array(vec![
            Value::Binary(vec![1]),
            Timestamp::from_unix_millis(0).to_value(),
        ]);
        dates_to_iso_strings(&mut v);
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Binary(vec![1]),
                Value::from("1970-01-01T00:00:00.000Z")
            ])
        );
        assert!(has_binary(&v));
        assert!(!has_binary(&Timestamp::from_unix_millis(0).to_value()));
    }
}
