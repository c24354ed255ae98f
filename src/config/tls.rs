//! The TLS modes of both connections, as the stock clients spell them (`mysql --ssl-mode`,
//! libpq's `sslmode`); what each mode does is the `tls` module's business.

use std::fmt;

use serde::Deserialize;

/// `mysql_ssl`: MySQL's `--ssl-mode` values (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MysqlSsl {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// `pg_sslmode`: libpq's `sslmode` values (`allow` is not offered: it prefers plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgSslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgSslMode {
    pub const NAMES: [(&'static str, PgSslMode); 5] = [
        ("disable", PgSslMode::Disable),
        ("prefer", PgSslMode::Prefer),
        ("require", PgSslMode::Require),
        ("verify-ca", PgSslMode::VerifyCa),
        ("verify-full", PgSslMode::VerifyFull),
    ];
}

impl MysqlSsl {
    pub const NAMES: [(&'static str, MysqlSsl); 5] = [
        ("disabled", MysqlSsl::Disabled),
        ("preferred", MysqlSsl::Preferred),
        ("required", MysqlSsl::Required),
        ("verify_ca", MysqlSsl::VerifyCa),
        ("verify_identity", MysqlSsl::VerifyIdentity),
    ];
}

fn parse_mode<'de, D, T: Copy>(d: D, names: &[(&str, T)], key: &str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    let wanted = s.to_ascii_lowercase().replace('-', "_");
    names
        .iter()
        .find(|(n, _)| n.replace('-', "_") == wanted)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            serde::de::Error::custom(format!(
                "`{key}` = {s:?}: expected one of {}",
                all.join(", ")
            ))
        })
}

impl<'de> Deserialize<'de> for MysqlSsl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_mode(d, &MysqlSsl::NAMES, "mysql_ssl")
    }
}

impl<'de> Deserialize<'de> for PgSslMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_mode(d, &PgSslMode::NAMES, "pg_sslmode")
    }
}

impl fmt::Display for MysqlSsl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = MysqlSsl::NAMES.iter().find(|(_, v)| v == self).unwrap().0;
        f.write_str(name)
    }
}

impl fmt::Display for PgSslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = PgSslMode::NAMES.iter().find(|(_, v)| v == self).unwrap().0;
        f.write_str(name)
    }
}
