//! MySQL binlog values → the text PostgreSQL parses into the target column's type.
//!
//! Text, not a binary encoding per type, because PostgreSQL's own input functions are exact
//! for every type we target (numeric keeps all 65 digits, timestamps keep microseconds), and
//! one `text[]` per column lets a whole batch travel as one statement.

use std::borrow::Cow;

use mysql_async::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
use mysql_async::Value;

use crate::config::ZeroDate;
use crate::model::charset::Charset;
use crate::model::kind::Kind;
use crate::model::table::Column;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Not fatal: [`to_pg_text_replacing`] writes `text` (bad bytes as U+FFFD) and reports it.
    #[error("column {column}: bytes that are not {charset} text ({bytes}) are written as U+FFFD")]
    BadText {
        column: String,
        charset: &'static str,
        bytes: String,
        text: String,
    },
    /// Fatal: U+FFFD in a key could make two rows one, so a key is never replaced.
    #[error(
        "key column {column}: bytes that are not {charset} text ({bytes}); the sync does not \
         replace them in a key, where two different values would become one row: correct the \
         value in MySQL (or convert the column to a character set that holds it), then reload \
         the table with `init --tables`"
    )]
    BadKeyText {
        column: String,
        charset: &'static str,
        bytes: String,
    },
    #[error("column {column}: unexpected binlog value {value} for MySQL type {ty}")]
    Unexpected {
        column: String,
        value: String,
        ty: String,
    },
}

/// [`to_pg_text`] with the invalid-text policy of `crate::model::charset` (see
/// [`write_pg_text_replacing`]).
pub fn to_pg_text_replacing(
    col: &Column,
    v: &Value,
    in_key: bool,
    report: impl FnOnce(&ConvertError, u64),
) -> Result<Option<String>, ConvertError> {
    let mut out = String::new();
    Ok(write_pg_text_replacing(col, v, in_key, report, &mut out)?.then_some(out))
}

/// [`write_pg_text`] with the invalid-text policy of `crate::model::charset`: a value whose
/// bytes are not all characters of its column's set is written with U+FFFD in their place, and
/// `report` gets the error (the caller knows the table, key and binlog position to log). The
/// first ten such values of a column are reported. In a key column (`in_key`) it is an error.
pub fn write_pg_text_replacing(
    col: &Column,
    v: &Value,
    in_key: bool,
    report: impl FnOnce(&ConvertError, u64),
    out: &mut String,
) -> Result<bool, ConvertError> {
    match write_pg_text(col, v, out) {
        Err(ConvertError::BadText {
            column,
            charset,
            bytes,
            ..
        }) if in_key => Err(ConvertError::BadKeyText {
            column,
            charset,
            bytes,
        }),
        Err(e @ ConvertError::BadText { .. }) => {
            let n = col
                .bad_text
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if n <= 10 {
                report(&e, n);
            }
            let ConvertError::BadText { text, .. } = e else {
                unreachable!()
            };
            out.clear();
            out.push_str(&text);
            Ok(true)
        }
        other => other,
    }
}

/// `None` is SQL NULL.
pub fn to_pg_text(col: &Column, v: &Value) -> Result<Option<String>, ConvertError> {
    let mut out = String::new();
    Ok(write_pg_text(col, v, &mut out)?.then_some(out))
}

/// The text PostgreSQL parses into the column's type, written into `out` (cleared first);
/// `false` for SQL NULL. Written in place, not returned, because the workers' COPY path calls
/// it for every field and reuses one buffer.
pub fn write_pg_text(col: &Column, v: &Value, out: &mut String) -> Result<bool, ConvertError> {
    use std::fmt::Write;
    out.clear();
    // Rare values whose text is made elsewhere as a whole: `None` is SQL NULL.
    let made: Option<String> = match (&col.kind, v) {
        (_, Value::NULL) => return Ok(false),
        (
            Kind::Int {
                bits,
                unsigned: true,
            },
            Value::Int(i),
        ) if *i < 0 => Some(unsigned_of(*i, *bits).to_string()),
        (Kind::Enum(names), Value::Int(i)) => Some(enum_name(col, names, *i)?),
        // The initial load reads SET as its number (`col+0`): the same bits the binlog carries.
        (Kind::Set(names), Value::Int(i)) => Some(set_members(names, &i.to_le_bytes())),
        (Kind::Set(names), Value::UInt(u)) => Some(set_members(names, &u.to_le_bytes())),
        (Kind::Timestamp, Value::Int(secs)) => epoch_text(col, *secs, 0),
        (Kind::Timestamp, Value::Bytes(b)) => timestamp_text(col, b)?,
        (_, Value::Int(i)) => {
            out.push_str(itoa::Buffer::new().format(*i));
            return Ok(true);
        }
        (_, Value::UInt(u)) => {
            out.push_str(itoa::Buffer::new().format(*u));
            return Ok(true);
        }
        // `{:e}` is the shortest text that reads back to the same bits, sign of zero included.
        (_, Value::Float(f)) => {
            let _ = write!(out, "{f:e}");
            return Ok(true);
        }
        (_, Value::Double(d)) => {
            let _ = write!(out, "{d:e}");
            return Ok(true);
        }
        (_, Value::Date(y, mo, d, h, mi, s, us)) => {
            // Year 0 does not exist in PostgreSQL either.
            if *mo == 0 || *d == 0 || *y == 0 {
                zero_date(col)
            } else {
                let _ = if matches!(col.kind, Kind::Date) {
                    write!(out, "{y:04}-{mo:02}-{d:02}")
                } else {
                    write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
                };
                return Ok(true);
            }
        }
        (_, Value::Time(neg, d, h, mi, s, us)) => {
            let hours = *d as u64 * 24 + *h as u64;
            let sign = if *neg { "-" } else { "" };
            let _ = write!(out, "{sign}{hours}:{mi:02}:{s:02}.{us:06}");
            return Ok(true);
        }
        (kind, Value::Bytes(b)) => {
            bytes_text(col, kind, b, out)?;
            return Ok(true);
        }
    };
    Ok(match made {
        Some(text) => {
            out.push_str(&text);
            true
        }
        None => false,
    })
}

/// The text of a value the binlog carries as bytes, appended to `out`.
fn bytes_text(col: &Column, kind: &Kind, b: &[u8], out: &mut String) -> Result<(), ConvertError> {
    let made = match kind {
        Kind::Text(cs) => {
            let text = decode(col, *cs, b)?;
            if text.contains('\0') {
                // PostgreSQL text cannot hold NUL: drop it (documented), say so once per column.
                if !col
                    .nul_warned
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        "column {} holds text with NUL bytes, which PostgreSQL text cannot store: \
                         they are dropped (further occurrences in this column are not logged)",
                        col.name
                    );
                }
                out.extend(text.split('\0'));
            } else {
                out.push_str(&text);
            }
            return Ok(());
        }
        // mysql_common reads YEAR as 1900 + byte; the byte 0 is the year 0000.
        Kind::Year if b == b"1900" => "0".to_string(),
        Kind::Year | Kind::Decimal | Kind::Json => {
            out.push_str(plain_text(col, b)?);
            return Ok(());
        }
        Kind::Bit(n) => bit_string(b, *n),
        Kind::Set(names) => set_members(names, b),
        Kind::Binary { pad: Some(n) } if b.len() < *n => {
            let mut padded = b.to_vec();
            padded.resize(*n, 0);
            bytea_hex(&padded)
        }
        // MySQL stores geometry as a 4-byte SRID followed by WKB.
        Kind::Geometry if b.len() >= 4 => bytea_hex(&b[4..]),
        Kind::Binary { .. } | Kind::Geometry => bytea_hex(b),
        _ => {
            return Err(ConvertError::Unexpected {
                column: col.name.clone(),
                value: bytea_hex(&b[..b.len().min(32)]),
                ty: col.column_type.clone(),
            })
        }
    };
    out.push_str(&made);
    Ok(())
}

/// Text in `cs`; bytes that are not its characters make a `BadText` holding the text with
/// U+FFFD in their place (NUL bytes already dropped, as for good text).
fn decode<'a>(col: &Column, cs: Charset, b: &'a [u8]) -> Result<Cow<'a, str>, ConvertError> {
    match cs.decode(b) {
        (text, false) => Ok(text),
        (text, true) => Err(ConvertError::BadText {
            column: col.name.clone(),
            charset: cs.name(),
            bytes: bytea_hex(&b[..b.len().min(32)]),
            text: text.replace('\0', ""),
        }),
    }
}

/// The text of a value the server writes as UTF-8 (DECIMAL, YEAR, JSON, times): bad bytes there
/// are not a text problem but a value this tool does not understand, which stops the sync.
fn plain_text<'a>(col: &Column, b: &'a [u8]) -> Result<&'a str, ConvertError> {
    std::str::from_utf8(b).map_err(|_| ConvertError::Unexpected {
        column: col.name.clone(),
        value: bytea_hex(&b[..b.len().min(32)]),
        ty: col.column_type.clone(),
    })
}

/// MySQL's binary JSON as JSON text, written here rather than through serde_json because
/// MySQL's typed scalars must keep their exact form: a DECIMAL stays a bare number with all
/// its digits and its scale (`9.00`, not the string "9.00" nor the float 9), DATE / TIME /
/// DATETIME become the strings MySQL prints, other opaque values MySQL's `base64:typeN:…`.
pub fn json_text(dom: &JsonDom) -> String {
    let mut out = String::new();
    write_json(dom, &mut out);
    out
}

fn write_json(dom: &JsonDom, out: &mut String) {
    use std::fmt::Write as _;
    match dom {
        JsonDom::Container(JsonContainer::Array(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        JsonDom::Container(JsonContainer::Object(fields)) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        JsonDom::Scalar(s) => match s {
            JsonScalar::Null => out.push_str("null"),
            JsonScalar::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonScalar::String(s) => {
                out.push_str(&serde_json::Value::String(s.clone()).to_string())
            }
            JsonScalar::Number(JsonNumber::Int(i)) => out.push_str(&i.to_string()),
            JsonScalar::Number(JsonNumber::Uint(u)) => out.push_str(&u.to_string()),
            JsonScalar::Number(JsonNumber::Decimal(d)) => out.push_str(&d.to_string()),
            // Shortest text that reads back to the same double; JSON has no NaN or infinity.
            JsonScalar::Number(JsonNumber::Double(d)) => match serde_json::Number::from_f64(*d) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            JsonScalar::DateTime(t) => {
                let text = format!("{t:.6}");
                out.push_str(&serde_json::Value::String(text).to_string());
            }
            JsonScalar::Opaque(o) => {
                let _ = write!(out, "{}", serde_json::Value::String(o.to_string()));
            }
        },
    }
}

pub fn bytea_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// The unsigned value of an integer the binlog gave without its signedness.
/// An unsigned column's value that the binlog gave as a negative signed number.
pub(crate) fn unsigned_of(i: i64, bits: u8) -> u64 {
    if bits >= 64 {
        i as u64
    } else {
        (i as u64) & ((1u64 << bits) - 1)
    }
}

fn enum_name(col: &Column, names: &[String], i: i64) -> Result<String, ConvertError> {
    match i {
        // Index 0 is the empty string MySQL stores for an invalid value.
        0 => Ok(String::new()),
        _ => names
            .get(i as usize - 1)
            .cloned()
            .ok_or_else(|| ConvertError::Unexpected {
                column: col.name.clone(),
                value: format!("enum index {i}"),
                ty: col.column_type.clone(),
            }),
    }
}

/// A SET value is a little-endian bitmask of its members.
fn set_members(names: &[String], b: &[u8]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if b.get(i / 8).is_some_and(|byte| byte & (1 << (i % 8)) != 0) {
            out.push(name);
        }
    }
    out.join(",")
}

/// BIT(n) arrives big-endian in ceil(n/8) bytes; PostgreSQL's bit(n) reads a string of n digits.
/// Bits are counted from the least significant end, so a shorter value means leading zeros.
fn bit_string(b: &[u8], n: u32) -> String {
    (0..n)
        .rev()
        .map(|bit| {
            let from_end = (bit / 8) as usize;
            let byte = b.len().checked_sub(1 + from_end).map_or(0, |i| b[i]);
            if byte & (1 << (bit % 8)) != 0 {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

fn zero_date(col: &Column) -> Option<String> {
    match col.zero_date {
        ZeroDate::Null => None,
        ZeroDate::NegInfinity => Some("-infinity".into()),
    }
}

/// The binlog carries TIMESTAMP as seconds since the epoch in UTC ("sec" or "sec.usec").
fn timestamp_text(col: &Column, b: &[u8]) -> Result<Option<String>, ConvertError> {
    let s = plain_text(col, b)?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs.parse().map_err(|_| ConvertError::Unexpected {
        column: col.name.clone(),
        value: s.to_string(),
        ty: col.column_type.clone(),
    })?;
    let us: u32 = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect::<String>()
        .parse()
        .map_err(|_| ConvertError::Unexpected {
            column: col.name.clone(),
            value: s.to_string(),
            ty: col.column_type.clone(),
        })?;
    Ok(epoch_text(col, secs, us))
}

fn epoch_text(col: &Column, secs: i64, us: u32) -> Option<String> {
    if secs == 0 && us == 0 {
        return zero_date(col); // '0000-00-00 00:00:00'
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{us:06}+00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(data_type: &str, column_type: &str, charset: Option<&str>) -> Column {
        Column::new(
            "c".into(),
            data_type.into(),
            column_type.into(),
            Kind::parse(data_type, column_type, charset).unwrap(),
            "text".into(),
            ZeroDate::Null,
        )
    }

    fn t(c: &Column, v: Value) -> Option<String> {
        to_pg_text(c, &v).unwrap()
    }

    #[test]
    fn integers_keep_their_unsigned_range() {
        let u = |dt: &str| col(dt, &format!("{dt} unsigned"), None);
        assert_eq!(t(&u("tinyint"), Value::Int(-1)).unwrap(), "255");
        assert_eq!(t(&u("int"), Value::Int(-1)).unwrap(), "4294967295");
        assert_eq!(t(&u("mediumint"), Value::Int(-1)).unwrap(), "16777215");
        assert_eq!(
            t(&u("bigint"), Value::Int(-1)).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(
            t(&col("bigint", "bigint", None), Value::Int(i64::MIN)).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(
            t(&u("bigint"), Value::UInt(u64::MAX)).unwrap(),
            "18446744073709551615"
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        for d in [0.1f64, -0.0, 1e300, 5e-324, -123.456, f64::MAX] {
            let s = t(&col("double", "double", None), Value::Double(d)).unwrap();
            let back: f64 = s.parse().unwrap();
            assert_eq!(back.to_bits(), d.to_bits(), "{s}");
        }
        for f in [0.1f32, -0.0, 3.4e38, 1e-45] {
            let s = t(&col("float", "float", None), Value::Float(f)).unwrap();
            let back: f32 = s.parse().unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{s}");
        }
    }

    #[test]
    fn dates_and_zero_dates() {
        let dt = col("datetime", "datetime(6)", None);
        assert_eq!(
            t(&dt, Value::Date(2024, 2, 29, 23, 59, 58, 123456)).unwrap(),
            "2024-02-29 23:59:58.123456"
        );
        assert_eq!(t(&dt, Value::Date(0, 0, 0, 0, 0, 0, 0)), None);
        assert_eq!(t(&dt, Value::Date(2020, 0, 15, 0, 0, 0, 0)), None);
        assert_eq!(t(&dt, Value::Date(0, 1, 1, 0, 0, 0, 0)), None);
        let mut inf = col("date", "date", None);
        inf.zero_date = ZeroDate::NegInfinity;
        assert_eq!(
            t(&inf, Value::Date(0, 0, 0, 0, 0, 0, 0)).unwrap(),
            "-infinity"
        );
        assert_eq!(
            t(
                &col("date", "date", None),
                Value::Date(1000, 1, 1, 0, 0, 0, 0)
            )
            .unwrap(),
            "1000-01-01"
        );
        assert_eq!(
            t(
                &col("time", "time", None),
                Value::Time(true, 34, 22, 59, 59, 0)
            )
            .unwrap(),
            "-838:59:59.000000"
        );
    }

    #[test]
    fn timestamp_is_utc_instant() {
        let ts = col("timestamp", "timestamp(6)", None);
        assert_eq!(
            t(&ts, Value::Bytes(b"1700000000.5".to_vec())).unwrap(),
            "2023-11-14 22:13:20.500000+00"
        );
        assert_eq!(
            t(&ts, Value::Bytes(b"86400".to_vec())).unwrap(),
            "1970-01-02 00:00:00.000000+00"
        );
        assert_eq!(t(&ts, Value::Bytes(b"0".to_vec())), None);
    }

    #[test]
    fn text_in_its_charset() {
        let s = col("varchar", "varchar(10)", Some("utf8mb4"));
        assert_eq!(
            t(&s, Value::Bytes("é🎉中".as_bytes().to_vec())).unwrap(),
            "é🎉中"
        );
        assert!(to_pg_text(&s, &Value::Bytes(vec![0xff, 0xfe])).is_err());
        let latin1 = col("varchar", "varchar(10)", Some("latin1"));
        assert_eq!(
            t(&latin1, Value::Bytes(vec![b'a', 0xe9, 0x80])).unwrap(),
            "aé€"
        );
        let gbk = col("text", "text", Some("gbk"));
        assert_eq!(
            t(&gbk, Value::Bytes(vec![0xd6, 0xd0, 0xce, 0xc4])).unwrap(),
            "中文"
        );
        assert_eq!(t(&s, Value::Bytes(b"a\0b".to_vec())).unwrap(), "ab");
        assert_eq!(t(&s, Value::NULL), None);
    }

    #[test]
    fn bad_text_is_replaced_and_reported_but_never_in_a_key() {
        let cp1250 = col("varchar", "varchar(10)", Some("cp1250"));
        let bad = Value::Bytes(vec![b'a', 0x81, 0]);
        let mut reported = Vec::new();
        let text = to_pg_text_replacing(&cp1250, &bad, false, |e, n| {
            reported.push((e.to_string(), n))
        });
        assert_eq!(text.unwrap().as_deref(), Some("a\u{FFFD}"));
        assert_eq!(reported.len(), 1);
        assert!(reported[0].0.contains("cp1250"), "{reported:?}");
        // Two different keys must not become one: in a key it is an error.
        let in_key = to_pg_text_replacing(&cp1250, &bad, true, |_, _| panic!("not reported"));
        assert!(matches!(in_key, Err(ConvertError::BadKeyText { .. })));
        // Good text is not reported.
        let ok = to_pg_text_replacing(&cp1250, &Value::Bytes(b"ok".to_vec()), true, |_, _| {
            panic!("not reported")
        });
        assert_eq!(ok.unwrap().as_deref(), Some("ok"));
    }

    #[test]
    fn binary_decimal_bit_enum_set() {
        let b = col("varbinary", "varbinary(4)", None);
        assert_eq!(
            t(&b, Value::Bytes(vec![0, 0xff, b' '])).unwrap(),
            "\\x00ff20"
        );
        let b4 = col("binary", "binary(4)", None);
        assert_eq!(t(&b4, Value::Bytes(vec![1])).unwrap(), "\\x01000000");
        let d = col("decimal", "decimal(65,30)", None);
        assert_eq!(
            t(
                &d,
                Value::Bytes(b"-0.000000000000000000000000000001".to_vec())
            )
            .unwrap(),
            "-0.000000000000000000000000000001"
        );
        let bit = col("bit", "bit(10)", None);
        assert_eq!(
            t(&bit, Value::Bytes(vec![0b10, 0b0000_0001])).unwrap(),
            "1000000001"
        );
        let bit64 = col("bit", "bit(64)", None);
        assert_eq!(
            t(&bit64, Value::Bytes(vec![0xff; 8])).unwrap(),
            "1".repeat(64)
        );
        let e = col("enum", "enum('a','b')", Some("utf8mb4"));
        assert_eq!(t(&e, Value::Int(2)).unwrap(), "b");
        assert_eq!(t(&e, Value::Int(0)).unwrap(), "");
        let s = col("set", "set('x','y','z')", Some("utf8mb4"));
        assert_eq!(t(&s, Value::Bytes(vec![0b101])).unwrap(), "x,z");
        assert_eq!(t(&s, Value::Bytes(vec![0])).unwrap(), "");
        assert_eq!(t(&s, Value::Int(0b110)).unwrap(), "y,z");
        assert_eq!(t(&s, Value::UInt(1)).unwrap(), "x");
        let y = col("year", "year(4)", None);
        assert_eq!(t(&y, Value::Bytes(b"1900".to_vec())).unwrap(), "0");
        assert_eq!(t(&y, Value::Bytes(b"2155".to_vec())).unwrap(), "2155");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
