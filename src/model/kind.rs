//! The MySQL column types this tool knows, parsed once from `information_schema` so that value
//! conversion never looks at a type name per row, and the PostgreSQL type each one maps to.
//!
//! | MySQL / MariaDB | PostgreSQL |
//! |---|---|
//! | TINYINT, SMALLINT (signed or not), TINYINT UNSIGNED | smallint / integer |
//! | MEDIUMINT, INT | integer; INT UNSIGNED → bigint |
//! | BIGINT / BIGINT UNSIGNED | bigint / numeric(20,0) |
//! | DECIMAL(p,s) | numeric(p,s) |
//! | FLOAT / DOUBLE | real / double precision |
//! | BIT(n) | bit(n) |
//! | CHAR(n), VARCHAR(n) | varchar(n) (MySQL returns CHAR without its padding, and so do we) |
//! | TEXT types, ENUM, SET | text (ENUM by name, SET as comma list) |
//! | BINARY, VARBINARY, BLOB types | bytea (BINARY(n) keeps its zero padding) |
//! | DATE / DATETIME(f) / TIMESTAMP(f) | date / timestamp(f) / timestamptz(f) |
//! | TIME(f) | interval |
//! | YEAR | smallint |
//! | JSON | jsonb |
//! | GEOMETRY types | bytea holding WKB (the SRID prefix of MySQL's storage is dropped) |

use anyhow::Result;

use crate::model::charset::Charset;

/// How to read one column's binlog values.
#[derive(Debug, Clone)]
pub enum Kind {
    Int {
        bits: u8,
        unsigned: bool,
    },
    Decimal,
    Float,
    Double,
    Bit(u32),
    /// Character data in the column's character set.
    Text(Charset),
    /// Binary strings; `pad` is n for BINARY(n), whose trailing zero bytes the binlog drops.
    Binary {
        pad: Option<usize>,
    },
    Enum(Vec<String>),
    Set(Vec<String>),
    Date,
    DateTime,
    Timestamp,
    Time,
    Year,
    Json,
    Geometry,
}

impl Kind {
    /// Parses `DATA_TYPE`, `COLUMN_TYPE` and `CHARACTER_SET_NAME` of `information_schema.COLUMNS`.
    pub fn parse(data_type: &str, column_type: &str, charset: Option<&str>) -> Result<Kind> {
        let unsigned = column_type.contains("unsigned");
        Ok(match data_type {
            "tinyint" => Kind::Int { bits: 8, unsigned },
            "smallint" => Kind::Int { bits: 16, unsigned },
            "mediumint" => Kind::Int { bits: 24, unsigned },
            "int" | "integer" => Kind::Int { bits: 32, unsigned },
            "bigint" => Kind::Int { bits: 64, unsigned },
            "decimal" | "numeric" => Kind::Decimal,
            "float" => Kind::Float,
            "double" | "real" => Kind::Double,
            "bit" => Kind::Bit(paren_number(column_type).unwrap_or(1) as u32),
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => match charset {
                Some(cs) => Kind::Text(Charset::for_mysql(cs)?),
                None => Kind::Binary { pad: None },
            },
            "binary" => Kind::Binary {
                pad: Some(paren_number(column_type).unwrap_or(1) as usize),
            },
            "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                Kind::Binary { pad: None }
            }
            "enum" => Kind::Enum(quoted_list(column_type)),
            "set" => Kind::Set(quoted_list(column_type)),
            "date" => Kind::Date,
            "datetime" => Kind::DateTime,
            "timestamp" => Kind::Timestamp,
            "time" => Kind::Time,
            "year" => Kind::Year,
            "json" => Kind::Json,
            "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
            | "multipolygon" | "geometrycollection" | "geomcollection" => Kind::Geometry,
            // MariaDB's UUID / INET4 / INET6 and anything newer: keep the bytes exactly.
            _ => Kind::Binary { pad: None },
        })
    }

    /// DATE, DATETIME and TIMESTAMP columns can hold MySQL's zero dates (`0000-00-00`), even
    /// when declared `NOT NULL`; what they become is the `zero_date` policy's choice.
    pub fn holds_zero_dates(&self) -> bool {
        matches!(self, Kind::Date | Kind::DateTime | Kind::Timestamp)
    }

    /// The PostgreSQL type a target column gets (`schema` command, created tables).
    pub fn pg_type(&self, column_type: &str) -> String {
        let fsp = paren_number(column_type).filter(|&f| f <= 6);
        let with_fsp = |base: &str, tz: &str| match fsp {
            Some(f) => format!("{base}({f}){tz}"),
            None => format!("{base}(0){tz}"),
        };
        match self {
            Kind::Int { bits: 8, .. } => "smallint".into(),
            Kind::Int { bits: 16, unsigned } => {
                if *unsigned { "integer" } else { "smallint" }.into()
            }
            Kind::Int { bits: 24, .. } => "integer".into(),
            Kind::Int { bits: 32, unsigned } => if *unsigned { "bigint" } else { "integer" }.into(),
            Kind::Int { unsigned, .. } => if *unsigned { "numeric(20,0)" } else { "bigint" }.into(),
            Kind::Decimal => match paren_pair(column_type) {
                Some((p, s)) => format!("numeric({p},{s})"),
                None => "numeric".into(),
            },
            Kind::Float => "real".into(),
            Kind::Double => "double precision".into(),
            Kind::Bit(n) => format!("bit({n})"),
            Kind::Text(_) => match (column_type.starts_with("char")
                || column_type.starts_with("varchar"))
            .then(|| paren_number(column_type))
            .flatten()
            {
                Some(n) => format!("varchar({n})"),
                None => "text".into(),
            },
            Kind::Enum(_) | Kind::Set(_) => "text".into(),
            Kind::Binary { .. } | Kind::Geometry => "bytea".into(),
            Kind::Date => "date".into(),
            Kind::DateTime => with_fsp("timestamp", ""),
            Kind::Timestamp => with_fsp("timestamp", " with time zone"),
            Kind::Time => "interval".into(),
            Kind::Year => "smallint".into(),
            Kind::Json => "jsonb".into(),
        }
    }
}

/// `decimal(10,2)` → 10 for the first number in parentheses.
fn paren_number(t: &str) -> Option<u64> {
    let inner = t.split_once('(')?.1.split_once(')')?.0;
    inner.split(',').next()?.trim().parse().ok()
}

fn paren_pair(t: &str) -> Option<(u64, u64)> {
    let inner = t.split_once('(')?.1.split_once(')')?.0;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// `enum('a','it''s','b,c')` → the member names, quotes undone.
fn quoted_list(t: &str) -> Vec<String> {
    let Some(start) = t.find('(') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut chars = t[start + 1..].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    s.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                }
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(dt: &str, ct: &str) -> Kind {
        Kind::parse(dt, ct, None).unwrap()
    }

    #[test]
    fn enum_and_set_members() {
        assert_eq!(
            quoted_list("enum('a','it''s','b,c','')"),
            vec!["a", "it's", "b,c", ""]
        );
        match k("set", "set('x','y')") {
            Kind::Set(m) => assert_eq!(m, vec!["x", "y"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pg_types() {
        assert_eq!(
            k("tinyint", "tinyint(3) unsigned").pg_type("tinyint(3) unsigned"),
            "smallint"
        );
        assert_eq!(
            k("int", "int(10) unsigned").pg_type("int(10) unsigned"),
            "bigint"
        );
        assert_eq!(
            k("bigint", "bigint(20) unsigned").pg_type("bigint(20) unsigned"),
            "numeric(20,0)"
        );
        assert_eq!(
            k("decimal", "decimal(65,30)").pg_type("decimal(65,30)"),
            "numeric(65,30)"
        );
        assert_eq!(
            k("datetime", "datetime(6)").pg_type("datetime(6)"),
            "timestamp(6)"
        );
        assert_eq!(
            k("datetime", "datetime").pg_type("datetime"),
            "timestamp(0)"
        );
        assert_eq!(
            k("timestamp", "timestamp(3)").pg_type("timestamp(3)"),
            "timestamp(3) with time zone"
        );
        assert_eq!(k("bit", "bit(64)").pg_type("bit(64)"), "bit(64)");
        let vc = Kind::parse("varchar", "varchar(20)", Some("utf8mb4")).unwrap();
        assert_eq!(vc.pg_type("varchar(20)"), "varchar(20)");
        let tx = Kind::parse("text", "text", Some("gbk")).unwrap();
        assert_eq!(tx.pg_type("text"), "text");
        assert_eq!(k("binary", "binary(16)").pg_type("binary(16)"), "bytea");
        assert!(matches!(
            k("binary", "binary(16)"),
            Kind::Binary { pad: Some(16) }
        ));
        assert_eq!(k("json", "json").pg_type("json"), "jsonb");
    }
}
