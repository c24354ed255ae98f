//! Classifies the statements of binlog QUERY events: transaction markers, TRUNCATE, DDL and
//! statement-format DML, with the tables they name. Only what the sync must react to is parsed;
//! everything else is `Other`.

use std::sync::OnceLock;

use regex::Regex;

use crate::catalog::ddl::NAME;
/// A table a statement names (schema defaulted to the session's).
use crate::model::name::TableName;

#[derive(Debug, PartialEq, Eq)]
pub enum Statement {
    Begin,
    Commit,
    Truncate(TableName),
    /// ALTER / CREATE / DROP / RENAME TABLE, CREATE / DROP INDEX.
    Ddl(TableName),
    /// INSERT / REPLACE / UPDATE / DELETE logged as a statement, not as rows.
    Dml(TableName),
    /// `XA START xid` (MySQL logs it; MariaDB says it in the GTID event).
    XaStart,
    /// `XA END xid`: not an end of the transaction, which goes on to XA PREPARE.
    XaEnd,
    /// `XA COMMIT xid` / `XA ROLLBACK xid` of a prepared transaction, with the xid as the
    /// server prints it (`X'7831',X'',1`).
    XaCommit(String),
    XaRollback(String),
    Other,
}

fn patterns() -> &'static [(Kind, Regex)] {
    static P: OnceLock<Vec<(Kind, Regex)>> = OnceLock::new();
    P.get_or_init(|| {
        let r = |s: String| Regex::new(&format!("(?is)^\\s*(?:/\\*.*?\\*/\\s*)*{s}")).unwrap();
        vec![
            (Kind::Truncate, r(format!(r"truncate\s+(?:table\s+)?{NAME}"))),
            (
                Kind::Ddl,
                r(format!(
                    r"(?:alter|create|drop|rename)\s+(?:or\s+replace\s+)?(?:temporary\s+)?(?:online\s+)?(?:ignore\s+)?table\s+(?:if\s+(?:not\s+)?exists\s+)?{NAME}"
                )),
            ),
            (
                Kind::Ddl,
                r(format!(
                    r"(?:create|drop)\s+(?:or\s+replace\s+)?(?:unique\s+|fulltext\s+|spatial\s+)?index\s+(?:if\s+(?:not\s+)?exists\s+)?\S+\s+on\s+{NAME}"
                )),
            ),
            (
                Kind::Dml,
                r(format!(
                    r"(?:insert|replace)\s+(?:low_priority\s+|delayed\s+|high_priority\s+)?(?:ignore\s+)?(?:into\s+)?{NAME}"
                )),
            ),
            (
                Kind::Dml,
                r(format!(r"update\s+(?:low_priority\s+)?(?:ignore\s+)?{NAME}")),
            ),
            (
                Kind::Dml,
                r(format!(
                    r"delete\s+(?:low_priority\s+)?(?:quick\s+)?(?:ignore\s+)?from\s+{NAME}"
                )),
            ),
        ]
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Truncate,
    Ddl,
    Dml,
}

pub fn classify(default_schema: &str, sql: &str) -> Statement {
    let trimmed = sql.trim();
    if trimmed.eq_ignore_ascii_case("BEGIN") {
        return Statement::Begin;
    }
    if trimmed.eq_ignore_ascii_case("COMMIT") {
        return Statement::Commit;
    }
    if let Some(xa) = strip_prefix_ci(trimmed, "XA ") {
        let xa = xa.trim_start();
        if strip_prefix_ci(xa, "START ").is_some() || strip_prefix_ci(xa, "BEGIN ").is_some() {
            return Statement::XaStart;
        }
        if strip_prefix_ci(xa, "END ").is_some() {
            return Statement::XaEnd;
        }
        // `XA COMMIT xid ONE PHASE` is an ordinary transaction's commit.
        if let Some(xid) = strip_prefix_ci(xa, "COMMIT ") {
            if !xid.trim_end().to_ascii_uppercase().ends_with("ONE PHASE") {
                return Statement::XaCommit(xid.trim().to_string());
            }
        }
        if let Some(xid) = strip_prefix_ci(xa, "ROLLBACK ") {
            return Statement::XaRollback(xid.trim().to_string());
        }
    }
    for (kind, re) in patterns() {
        if let Some(c) = re.captures(sql) {
            let t = table_ref(default_schema, &c[1]);
            return match kind {
                Kind::Truncate => Statement::Truncate(t),
                Kind::Ddl => Statement::Ddl(t),
                Kind::Dml => Statement::Dml(t),
            };
        }
    }
    Statement::Other
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// The xid of an XA_PREPARE event's body (one_phase u8, formatID u32, gtrid and bqual lengths
/// u32, then their bytes) as the server prints it in `XA COMMIT`: `X'<gtrid>',X'<bqual>',<fmt>`.
/// `None` when the body is too short. The flag says whether it is a one-phase commit.
pub fn xa_prepare_xid(body: &[u8]) -> Option<(bool, String)> {
    let one_phase = *body.first()? != 0;
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(body.get(i..i + 4)?.try_into().ok()?))
    };
    let format_id = u32_at(1)? as i32;
    let (g, b) = (u32_at(5)? as usize, u32_at(9)? as usize);
    let data = body.get(13..13 + g + b)?;
    let hex = |d: &[u8]| d.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some((
        one_phase,
        format!("X'{}',X'{}',{format_id}", hex(&data[..g]), hex(&data[g..])),
    ))
}

/// Whether a MariaDB GTID event's body opens a prepared XA transaction (flags2 FL_PREPARED_XA).
pub fn mariadb_gtid_prepared_xa(body: &[u8]) -> bool {
    const FL_PREPARED_XA: u8 = 64;
    body.get(12).is_some_and(|f| f & FL_PREPARED_XA != 0)
}

/// Two xids as the server prints them are the same (hex digits in either case).
pub fn same_xid(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn table_ref(default_schema: &str, name: &str) -> TableName {
    crate::catalog::ddl::name_of(default_schema, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xa_statements_as_the_servers_log_them() {
        assert_eq!(classify("", "XA START X'7831',X'',1"), Statement::XaStart);
        assert_eq!(classify("", "XA END X'7831',X'',1"), Statement::XaEnd);
        assert_eq!(
            classify("", "XA COMMIT X'7831',X'',1"),
            Statement::XaCommit("X'7831',X'',1".into())
        );
        assert_eq!(
            classify("", "XA ROLLBACK X'7832',X'',1"),
            Statement::XaRollback("X'7832',X'',1".into())
        );
        // One phase is an ordinary commit, not the outcome of a prepared transaction.
        assert_eq!(
            classify("", "XA COMMIT X'7833',X'',1 ONE PHASE"),
            Statement::Other
        );
        assert!(same_xid("X'AB',X'',1", "X'ab',X'',1"));
    }

    #[test]
    fn xa_prepare_event_body() {
        // one_phase 0, formatID 1, gtrid "x1", bqual "".
        let mut b = vec![0u8];
        b.extend(1u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(b"x1");
        assert_eq!(xa_prepare_xid(&b), Some((false, "X'7831',X'',1".into())));
        b[0] = 1;
        assert!(xa_prepare_xid(&b).unwrap().0);
        assert_eq!(xa_prepare_xid(&b[..10]), None);
        let mut gtid = vec![0u8; 13];
        gtid[12] = 64;
        assert!(mariadb_gtid_prepared_xa(&gtid));
        gtid[12] = 128;
        assert!(!mariadb_gtid_prepared_xa(&gtid));
    }

    fn t(s: &str, n: &str) -> TableName {
        TableName::new(s, n)
    }

    #[test]
    fn markers() {
        assert_eq!(classify("d", "BEGIN"), Statement::Begin);
        assert_eq!(classify("d", "COMMIT"), Statement::Commit);
    }

    #[test]
    fn truncate_forms() {
        assert_eq!(
            classify("d", "TRUNCATE TABLE `t1`"),
            Statement::Truncate(t("d", "t1"))
        );
        assert_eq!(
            classify("d", "truncate x.y"),
            Statement::Truncate(t("x", "y"))
        );
        assert_eq!(
            classify("d", "/* c */ TRUNCATE `my db`.`we``ird`"),
            Statement::Truncate(t("my db", "we`ird"))
        );
    }

    #[test]
    fn ddl_and_dml() {
        assert_eq!(
            classify("d", "ALTER TABLE t COMMENT='x'"),
            Statement::Ddl(t("d", "t"))
        );
        assert_eq!(
            classify("d", "CREATE TABLE IF NOT EXISTS s.n (id int)"),
            Statement::Ddl(t("s", "n"))
        );
        assert_eq!(
            classify("d", "create unique index ix on t (a)"),
            Statement::Ddl(t("d", "t"))
        );
        assert_eq!(
            classify("d", "DROP TABLE IF EXISTS `t` /* generated by server */"),
            Statement::Ddl(t("d", "t"))
        );
        assert_eq!(
            classify("d", "insert into t values (1)"),
            Statement::Dml(t("d", "t"))
        );
        assert_eq!(
            classify("d", "UPDATE s.t SET a=1"),
            Statement::Dml(t("s", "t"))
        );
        assert_eq!(
            classify("d", "DELETE FROM t WHERE 1"),
            Statement::Dml(t("d", "t"))
        );
        assert_eq!(classify("d", "FLUSH PRIVILEGES"), Statement::Other);
        assert_eq!(classify("d", "CREATE USER x"), Statement::Other);
    }
}
