//! MySQL binlog values → the text PostgreSQL parses into the target column's type.
//!
//! Text, not a binary encoding per type, because PostgreSQL's own input functions are exact
//! for every type we target (numeric keeps all 65 digits, timestamps keep microseconds), and
//! one `text[]` per column lets a whole batch travel as one statement.

use mysql_async::Value;

use crate::schema::Column;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("column {column}: bytes are not valid {charset}: {bytes}")]
    BadText {
        column: String,
        charset: String,
        bytes: String,
    },
    #[error("column {column}: unexpected {value} for MySQL type {ty}")]
    Unexpected {
        column: String,
        value: String,
        ty: String,
    },
}

/// `None` is SQL NULL. Zero and partly-zero dates (`0000-00-00`, `2020-00-15`) become NULL:
/// PostgreSQL has no such dates, and a failed apply would stop the whole sync.
pub fn to_pg_text(col: &Column, v: &Value) -> Result<Option<String>, ConvertError> {
    Ok(Some(match v {
        Value::NULL => return Ok(None),
        Value::Int(i) => {
            if col.unsigned && *i < 0 {
                unsigned_of(*i, &col.data_type).to_string()
            } else {
                i.to_string()
            }
        }
        Value::UInt(u) => u.to_string(),
        // `{:e}` is the shortest text that reads back to the same bits, sign of zero included.
        Value::Float(f) => format!("{f:e}"),
        Value::Double(d) => format!("{d:e}"),
        Value::Date(y, mo, d, h, mi, s, us) => {
            if *mo == 0 || *d == 0 {
                return Ok(None);
            }
            if col.data_type == "date" {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            }
        }
        Value::Time(neg, d, h, mi, s, us) => {
            let hours = *d as u64 * 24 + *h as u64;
            let sign = if *neg { "-" } else { "" };
            format!("{sign}{hours}:{mi:02}:{s:02}.{us:06}")
        }
        Value::Bytes(b) => return bytes_to_text(col, b),
    }))
}

fn bytes_to_text(col: &Column, b: &[u8]) -> Result<Option<String>, ConvertError> {
    match col.data_type.as_str() {
        // The binlog carries TIMESTAMP as seconds since the epoch in UTC ("sec" or "sec.usec").
        "timestamp" => Ok(epoch_text(col, b)?),
        // mysql_common reads YEAR as 1900 + byte; the byte 0 is the year 0000.
        "year" => Ok(Some(match b {
            b"1900" => "0".to_string(),
            _ => utf8(col, b)?,
        })),
        _ if col.charset.is_some() => Ok(Some(decode(col, b)?)),
        "decimal" | "newdecimal" => Ok(Some(utf8(col, b)?)),
        // Binary strings, BLOBs, GEOMETRY and anything without a charset: bytea hex form.
        _ => Ok(Some(bytea_hex(b))),
    }
}

fn decode(col: &Column, b: &[u8]) -> Result<String, ConvertError> {
    // Other charsets are decoded in the type-fidelity work; until then they must be UTF-8.
    utf8(col, b)
}

fn utf8(col: &Column, b: &[u8]) -> Result<String, ConvertError> {
    String::from_utf8(b.to_vec()).map_err(|_| ConvertError::BadText {
        column: col.name.clone(),
        charset: col.charset.clone().unwrap_or_else(|| "utf8".into()),
        bytes: bytea_hex(&b[..b.len().min(32)]),
    })
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
fn unsigned_of(i: i64, data_type: &str) -> u64 {
    let bits = match data_type {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        _ => 64,
    };
    if bits == 64 {
        i as u64
    } else {
        (i as u64) & ((1u64 << bits) - 1)
    }
}

fn epoch_text(col: &Column, b: &[u8]) -> Result<Option<String>, ConvertError> {
    let s = utf8(col, b)?;
    let (secs, frac) = s.split_once('.').unwrap_or((&s, "0"));
    let secs: i64 = secs.parse().map_err(|_| ConvertError::Unexpected {
        column: col.name.clone(),
        value: s.clone(),
        ty: col.column_type.clone(),
    })?;
    let us: u32 = format!("{frac:0<6}")[..6].parse().unwrap_or(0);
    if secs == 0 && us == 0 {
        return Ok(None); // '0000-00-00 00:00:00'
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Ok(Some(format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{us:06}+00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )))
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

    fn col(data_type: &str, unsigned: bool, charset: Option<&str>) -> Column {
        Column {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            unsigned,
            charset: charset.map(Into::into),
            pg_type: "text".into(),
        }
    }

    fn t(c: &Column, v: Value) -> Option<String> {
        to_pg_text(c, &v).unwrap()
    }

    #[test]
    fn integers_keep_their_unsigned_range() {
        assert_eq!(
            t(&col("tinyint", true, None), Value::Int(-1)).unwrap(),
            "255"
        );
        assert_eq!(
            t(&col("int", true, None), Value::Int(-1)).unwrap(),
            "4294967295"
        );
        assert_eq!(
            t(&col("mediumint", true, None), Value::Int(-1)).unwrap(),
            "16777215"
        );
        assert_eq!(
            t(&col("bigint", true, None), Value::Int(-1)).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(
            t(&col("bigint", false, None), Value::Int(i64::MIN)).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(
            t(&col("bigint", true, None), Value::UInt(u64::MAX)).unwrap(),
            "18446744073709551615"
        );
    }

    #[test]
    fn floats_round_trip_exactly() {
        for d in [0.1f64, -0.0, 1e300, 5e-324, -123.456, f64::MAX] {
            let s = t(&col("double", false, None), Value::Double(d)).unwrap();
            let back: f64 = s.parse().unwrap();
            assert_eq!(back.to_bits(), d.to_bits(), "{s}");
        }
    }

    #[test]
    fn dates_and_zero_dates() {
        let dt = col("datetime", false, None);
        assert_eq!(
            t(&dt, Value::Date(2024, 2, 29, 23, 59, 58, 123456)).unwrap(),
            "2024-02-29 23:59:58.123456"
        );
        assert_eq!(t(&dt, Value::Date(0, 0, 0, 0, 0, 0, 0)), None);
        assert_eq!(t(&dt, Value::Date(2020, 0, 15, 0, 0, 0, 0)), None);
        assert_eq!(
            t(
                &col("date", false, None),
                Value::Date(1000, 1, 1, 0, 0, 0, 0)
            )
            .unwrap(),
            "1000-01-01"
        );
        assert_eq!(
            t(
                &col("time", false, None),
                Value::Time(true, 34, 22, 59, 59, 0)
            )
            .unwrap(),
            "-838:59:59.000000"
        );
    }

    #[test]
    fn timestamp_is_utc_instant() {
        let ts = col("timestamp", false, None);
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
    fn text_binary_and_decimal() {
        let s = col("varchar", false, Some("utf8mb4"));
        assert_eq!(
            t(&s, Value::Bytes("é🎉中".as_bytes().to_vec())).unwrap(),
            "é🎉中"
        );
        assert!(to_pg_text(&s, &Value::Bytes(vec![0xff, 0xfe])).is_err());
        let b = col("varbinary", false, None);
        assert_eq!(
            t(&b, Value::Bytes(vec![0, 0xff, b' '])).unwrap(),
            "\\x00ff20"
        );
        let d = col("decimal", false, None);
        assert_eq!(
            t(
                &d,
                Value::Bytes(b"-0.000000000000000000000000000001".to_vec())
            )
            .unwrap(),
            "-0.000000000000000000000000000001"
        );
        assert_eq!(t(&s, Value::NULL), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
