//! Property tests over the value conversion (binlog value → PostgreSQL text): whatever the
//! value, the conversion never panics, and where the text can be read back without a server it
//! reads back to exactly the value that went in.

use mysql_async::Value;
use mysql_gp_sync::config::ZeroDate;
use mysql_gp_sync::convert::to_pg_text;
use mysql_gp_sync::model::kind::Kind;
use mysql_gp_sync::model::table::Column;
use proptest::prelude::*;

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

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::NULL),
        any::<Vec<u8>>().prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f32>().prop_map(Value::Float),
        any::<f64>().prop_map(Value::Double),
        (
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>()
        )
            .prop_map(|(y, mo, d, h, mi, s, us)| Value::Date(y, mo, d, h, mi, s, us)),
        (
            any::<bool>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>()
        )
            .prop_map(|(n, d, h, mi, s, us)| Value::Time(n, d, h, mi, s, us)),
    ]
}

const TYPES: &[(&str, &str, Option<&str>)] = &[
    ("tinyint", "tinyint(4)", None),
    ("int", "int(10) unsigned", None),
    ("bigint", "bigint(20) unsigned", None),
    ("decimal", "decimal(65,30)", None),
    ("float", "float", None),
    ("double", "double", None),
    ("bit", "bit(13)", None),
    ("varchar", "varchar(10)", Some("utf8mb4")),
    ("text", "text", Some("gbk")),
    ("char", "char(3)", Some("latin1")),
    ("binary", "binary(4)", None),
    ("blob", "blob", None),
    ("enum", "enum('a','b')", Some("utf8mb4")),
    ("set", "set('a','b','c')", Some("utf8mb4")),
    ("date", "date", None),
    ("datetime", "datetime(6)", None),
    ("timestamp", "timestamp(6)", None),
    ("time", "time(6)", None),
    ("year", "year(4)", None),
    ("json", "json", None),
    ("geometry", "geometry", None),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any value for any column type: an answer or an error, never a panic.
    #[test]
    fn never_panics(v in any_value(), t in 0..TYPES.len()) {
        let (dt, ct, cs) = TYPES[t];
        let _ = to_pg_text(&col(dt, ct, cs), &v);
    }

    #[test]
    fn doubles_and_floats_read_back_bit_exact(d in any::<f64>(), f in any::<f32>()) {
        prop_assume!(d.is_finite() && f.is_finite());
        let s = to_pg_text(&col("double", "double", None), &Value::Double(d)).unwrap().unwrap();
        prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), d.to_bits());
        let s = to_pg_text(&col("float", "float", None), &Value::Float(f)).unwrap().unwrap();
        prop_assert_eq!(s.parse::<f32>().unwrap().to_bits(), f.to_bits());
    }

    #[test]
    fn bytes_read_back_from_bytea_hex(b in any::<Vec<u8>>()) {
        let s = to_pg_text(&col("blob", "blob", None), &Value::Bytes(b.clone())).unwrap().unwrap();
        prop_assert!(s.starts_with("\\x"));
        let back: Vec<u8> = (2..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
        prop_assert_eq!(back, b);
    }

    #[test]
    fn unsigned_integers_keep_their_value(v in any::<u32>(), w in any::<u64>()) {
        // The binlog may hand an unsigned INT over as a negative i32 widened to i64.
        let s = to_pg_text(&col("int", "int(10) unsigned", None), &Value::Int(v as i32 as i64)).unwrap().unwrap();
        prop_assert_eq!(s, v.to_string());
        let s = to_pg_text(&col("bigint", "bigint(20) unsigned", None), &Value::Int(w as i64)).unwrap().unwrap();
        prop_assert_eq!(s, w.to_string());
    }

    #[test]
    fn utf8_text_is_kept_except_nul(s in any::<String>()) {
        let out = to_pg_text(&col("text", "text", Some("utf8mb4")), &Value::Bytes(s.clone().into_bytes())).unwrap().unwrap();
        prop_assert_eq!(out, s.replace('\0', ""));
    }
}

/// Values shorter than their column says (a BIT(13) given one byte, an empty BINARY(4)) are
/// converted or refused, never a panic.
#[test]
fn short_values_do_not_panic() {
    for (dt, ct) in [
        ("bit", "bit(13)"),
        ("bit", "bit(64)"),
        ("binary", "binary(4)"),
        ("geometry", "geometry"),
    ] {
        for b in [vec![], vec![1u8]] {
            let _ = to_pg_text(&col(dt, ct, None), &Value::Bytes(b));
        }
    }
}

proptest! {
    /// TIMESTAMP text from the binlog is `sec[.frac]`; anything else is refused, not a panic.
    #[test]
    fn timestamp_text_never_panics(s in "\\PC{0,12}") {
        let _ = to_pg_text(&col("timestamp", "timestamp(6)", None), &Value::Bytes(s.into_bytes()));
    }
}
