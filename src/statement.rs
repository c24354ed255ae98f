//! Classifies the statements of binlog QUERY events: transaction markers, TRUNCATE, DDL and
//! statement-format DML, with the tables they name. Only what the sync must react to is parsed;
//! everything else is `Other`.

use std::sync::OnceLock;

use regex::Regex;

#[derive(Debug, PartialEq, Eq)]
pub enum Statement {
    Begin,
    Commit,
    Truncate(TableRef),
    /// ALTER / CREATE / DROP / RENAME TABLE, CREATE / DROP INDEX.
    Ddl(TableRef),
    /// INSERT / REPLACE / UPDATE / DELETE logged as a statement, not as rows.
    Dml(TableRef),
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub struct TableRef {
    pub schema: String,
    pub table: String,
}

const NAME: &str = r"((?:`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|[\w$]+))?)";

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

fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => s.to_string(),
    }
}

fn table_ref(default_schema: &str, name: &str) -> TableRef {
    // Split on the dot outside backquotes.
    let mut in_q = false;
    let mut split = None;
    for (i, ch) in name.char_indices() {
        match ch {
            '`' => in_q = !in_q,
            '.' if !in_q => split = Some(i),
            _ => {}
        }
    }
    match split {
        Some(i) => TableRef {
            schema: unquote(&name[..i]),
            table: unquote(&name[i + 1..]),
        },
        None => TableRef {
            schema: default_schema.to_string(),
            table: unquote(name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, n: &str) -> TableRef {
        TableRef {
            schema: s.into(),
            table: n.into(),
        }
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
