//! Which source tables are replicated and where their rows go (the `[[source]]` and `[[rule]]`
//! sections), as go-mysql-elasticsearch's `rule.go` does: `"*"` is every table, a name holding
//! regular-expression characters is a regex matched against the whole table name.

use anyhow::{Context, Result};
use regex::Regex;

use crate::config::{Config, DdlPolicy};
use crate::model::name::TableName;

/// A table name pattern from the config.
#[derive(Debug, Clone)]
enum NameMatcher {
    All,
    Exact(String),
    Regex(Regex),
}

impl NameMatcher {
    fn new(pattern: &str) -> Result<Self> {
        if pattern == "*" {
            Ok(NameMatcher::All)
        } else if regex::escape(pattern) == pattern {
            Ok(NameMatcher::Exact(pattern.to_string()))
        } else {
            let re = Regex::new(&format!("^(?:{pattern})$"))
                .with_context(|| format!("table pattern {pattern:?} is not a valid regex"))?;
            Ok(NameMatcher::Regex(re))
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::All => true,
            NameMatcher::Exact(n) => n == name,
            NameMatcher::Regex(re) => re.is_match(name),
        }
    }
}

#[derive(Debug, Clone)]
struct RuleEntry {
    schema: String,
    table: NameMatcher,
    pg_schema: Option<String>,
    pg_table: Option<String>,
    ddl: Option<DdlPolicy>,
}

#[derive(Debug, Clone)]
pub struct TableRules {
    sources: Vec<(String, Vec<NameMatcher>, Option<DdlPolicy>)>,
    rules: Vec<RuleEntry>,
    ddl: DdlPolicy,
}

impl TableRules {
    pub fn new(cfg: &Config) -> Result<Self> {
        let sources = cfg
            .source
            .iter()
            .map(|s| {
                let m = s
                    .tables
                    .iter()
                    .map(|t| NameMatcher::new(t))
                    .collect::<Result<Vec<_>>>()
                    .with_context(|| format!("[[source]] schema = {:?}", s.schema))?;
                Ok((s.schema.clone(), m, s.ddl))
            })
            .collect::<Result<Vec<_>>>()?;
        let rules = cfg
            .rule
            .iter()
            .map(|r| {
                Ok(RuleEntry {
                    schema: r.schema.clone(),
                    table: NameMatcher::new(&r.table).with_context(|| {
                        format!("[[rule]] schema = {:?} table = {:?}", r.schema, r.table)
                    })?,
                    pg_schema: r.pg_schema.clone(),
                    pg_table: r.pg_table.clone(),
                    ddl: r.ddl,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TableRules {
            sources,
            rules,
            ddl: cfg.ddl,
        })
    }

    /// The schemas named in `[[source]]`.
    pub fn schemas(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|(s, _, _)| s.as_str())
    }

    /// Is `schema.table` one of the configured tables?
    pub fn is_configured(&self, schema: &str, table: &str) -> bool {
        self.sources
            .iter()
            .any(|(s, m, _)| s == schema && m.iter().any(|m| m.matches(table)))
    }

    /// What a schema change of `schema.table` does: the first matching `[[rule]]` that says,
    /// else the first matching `[[source]]` that says, else the top-level `ddl`.
    pub fn ddl(&self, schema: &str, table: &str) -> DdlPolicy {
        self.rules
            .iter()
            .filter(|r| r.schema == schema && r.table.matches(table))
            .find_map(|r| r.ddl)
            .or_else(|| {
                self.sources
                    .iter()
                    .filter(|(s, m, _)| s == schema && m.iter().any(|m| m.matches(table)))
                    .find_map(|(_, _, d)| *d)
            })
            .unwrap_or(self.ddl)
    }

    /// The PostgreSQL table for a configured source table: the first matching rule, else the same names.
    pub fn target(&self, schema: &str, table: &str) -> TableName {
        let rule = self
            .rules
            .iter()
            .find(|r| r.schema == schema && r.table.matches(table));
        TableName {
            schema: rule
                .and_then(|r| r.pg_schema.clone())
                .unwrap_or_else(|| schema.to_string()),
            table: rule
                .and_then(|r| r.pg_table.clone())
                .unwrap_or_else(|| table.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules(extra: &str) -> TableRules {
        let t = format!(
            r#"
mysql_addr = "h:1"
mysql_user = "u"
server_id = 1
pg_host = "h"
pg_user = "u"
pg_dbname = "d"
{extra}
"#
        );
        TableRules::new(&Config::parse(&t, Path::new("t.toml")).unwrap()).unwrap()
    }

    #[test]
    fn star_exact_and_regex() {
        let r = rules(
            r#"
[[source]]
schema = "a"
tables = ["*"]
[[source]]
schema = "b"
tables = ["users", "order_[0-9]{4}"]
"#,
        );
        assert!(r.is_configured("a", "anything"));
        assert!(r.is_configured("b", "users"));
        assert!(!r.is_configured("b", "users2"));
        assert!(r.is_configured("b", "order_2024"));
        assert!(!r.is_configured("b", "order_2024x"), "whole-name match");
        assert!(!r.is_configured("c", "users"));
    }

    #[test]
    fn shards_map_into_one_table_and_default_is_same_name() {
        let r = rules(
            r#"
[[source]]
schema = "b"
tables = ["order_[0-9]{4}", "users"]
[[rule]]
schema = "b"
table = "order_[0-9]{4}"
pg_schema = "dw"
pg_table = "orders"
"#,
        );
        assert_eq!(r.target("b", "order_0001").to_string(), "dw.orders");
        assert_eq!(r.target("b", "order_0002").to_string(), "dw.orders");
        assert_eq!(r.target("b", "users").to_string(), "b.users");
    }

    #[test]
    fn bad_regex_is_an_error() {
        let t = r#"
mysql_addr = "h:1"
mysql_user = "u"
server_id = 1
pg_host = "h"
pg_user = "u"
pg_dbname = "d"
[[source]]
schema = "b"
tables = ["order_[0-9"]
"#;
        let cfg = Config::parse(t, Path::new("t.toml")).unwrap();
        let e = format!("{:#}", TableRules::new(&cfg).err().unwrap());
        assert!(e.contains("order_[0-9"), "{e}");
    }
}
