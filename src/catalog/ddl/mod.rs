//! Schema-change statements of the binlog, parsed: which tables an `ALTER`, `CREATE`, `DROP`
//! or `RENAME TABLE` changes and how, in the terms [`crate::catalog::evolve`] applies.
//!
//! The statements are parsed with `sqlparser`'s MySQL dialect. The binlog holds the statement
//! as the client wrote it, so an `ALTER TABLE` is first split into its clauses: clauses that
//! change nothing the sync replicates (indexes, comments, engine, most partition work) are
//! recognised by their leading words, and each other clause is parsed on its own. That keeps
//! MariaDB's extras (`IF [NOT] EXISTS` on columns, `ALTER ONLINE`, `WAIT n`) and clauses the
//! parser lacks from failing the whole statement.
//!
//! `clauses.rs` is that hand-written splitting (clauses, comments, `IF EXISTS`, the clauses
//! with no effect); `columns.rs` turns a parsed column into a [`ColumnSpec`] with MySQL's type
//! names.

use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};
use regex::Regex;
use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, CreateTableLikeKind, DataType, Expr,
    MySQLColumnPosition, ObjectName, ObjectNamePart, ObjectType, RenameTableNameKind, Statement,
    TableConstraint, UnaryOperator, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::model::name::TableName;
use crate::model::source_table::SourceColumn;

mod clauses;
mod columns;

use clauses::*;
use columns::*;

/// What one statement does to one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    Alter {
        table: TableName,
        ops: Vec<AlterOp>,
    },
    Rename {
        from: TableName,
        to: TableName,
    },
    /// `if_not_exists`: a no-op when the table exists (MySQL logs it all the same).
    Create {
        table: TableName,
        def: CreateDef,
        if_not_exists: bool,
    },
    Drop {
        table: TableName,
        if_exists: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateDef {
    Columns {
        columns: Vec<ColumnSpec>,
        key: Vec<String>,
        /// `DEFAULT CHARSET` / `COLLATE` of the table, when the statement says.
        charset: Option<String>,
    },
    Like(TableName),
}

/// Where `FIRST` / `AFTER x` puts a column. It matters on the source side (row images list
/// columns in table order); PostgreSQL columns are written by name, so there they go last.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    First,
    After(String),
}

/// One clause of an `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterOp {
    Add {
        col: ColumnSpec,
        if_not_exists: bool,
        place: Option<Place>,
    },
    Drop {
        name: String,
        if_exists: bool,
    },
    /// `MODIFY x …` (`old` = the new name) or `CHANGE old new …`.
    Change {
        old: String,
        col: ColumnSpec,
        place: Option<Place>,
    },
    RenameColumn {
        old: String,
        new: String,
    },
    RenameTable(TableName),
    DropPrimaryKey,
    AddPrimaryKey(Vec<String>),
    /// The table's default character set (for columns added later).
    DefaultCharset(String),
}

/// A column as a statement defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Its definition; `charset` is `None` until the table's default is known when the
    /// statement does not name one (see `explicit_charset`).
    pub column: SourceColumn,
    pub explicit_charset: bool,
    pub default: DefaultValue,
    /// `PRIMARY KEY` written on the column itself.
    pub primary_key: bool,
    /// A generated column: what existing rows hold is computed, not in the binlog.
    pub generated: bool,
    /// `AUTO_INCREMENT`: MySQL numbers existing rows when the column is added.
    pub auto_increment: bool,
}

/// The `DEFAULT` of a column definition.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// No `DEFAULT` clause.
    Absent,
    Null,
    /// A literal, as text (`5`, `-1.5`, `abc`).
    Literal(String),
    /// An expression (`CURRENT_TIMESTAMP`, `(uuid())`): its value is not in the statement.
    Expr(String),
}

/// The tables a statement changes, with how; empty for a statement that changes nothing the
/// sync replicates (an index, a comment, a temporary table). An error when the statement
/// cannot be read: the caller decides whether it concerns a configured table.
pub fn parse(default_schema: &str, sql: &str) -> Result<Vec<Ddl>> {
    let text = normalize_spellings(&strip_comments(sql));
    let lower = text.to_ascii_lowercase();
    if let Some(c) = alter_head().captures(&text) {
        let table = name_of(default_schema, &c[1]);
        let rest = &text[c.get(0).unwrap().end()..];
        let ops = alter_ops(default_schema, &table, rest)?;
        return Ok(if ops.is_empty() {
            Vec::new()
        } else {
            vec![Ddl::Alter { table, ops }]
        });
    }
    if lower.starts_with("create temporary") || lower.starts_with("drop temporary") {
        return Ok(Vec::new());
    }
    let stmt = match parse_one(&text) {
        Ok(s) => s,
        // Table options the parser does not know (MariaDB's PAGE_COMPRESSED, partitioning
        // it cannot read, …) change nothing the sync reads: the definitions alone.
        Err(e) => match definitions_only(&text) {
            Some(t) => parse_one(&t).map_err(|_| e)?,
            None => return Err(e),
        },
    };
    Ok(match stmt {
        Statement::RenameTable(pairs) => pairs
            .iter()
            .map(|p| {
                Ok(Ddl::Rename {
                    from: object(default_schema, &p.old_name)?,
                    to: object(default_schema, &p.new_name)?,
                })
            })
            .collect::<Result<_>>()?,
        Statement::CreateTable(ct) => {
            if ct.temporary {
                return Ok(Vec::new());
            }
            let table = object(default_schema, &ct.name)?;
            let def = match &ct.like {
                Some(CreateTableLikeKind::Plain(l))
                | Some(CreateTableLikeKind::Parenthesized(l)) => {
                    CreateDef::Like(object(default_schema, &l.name)?)
                }
                None => {
                    if ct.columns.is_empty() {
                        bail!("CREATE TABLE {table} without its columns (a SELECT whose columns the statement does not list)");
                    }
                    let mut columns = Vec::new();
                    for c in &ct.columns {
                        columns.push(column_def_spec(c)?);
                    }
                    let mut key: Vec<String> = columns
                        .iter()
                        .filter(|c| c.primary_key)
                        .map(|c| c.column.name.clone())
                        .collect();
                    for tc in &ct.constraints {
                        if let TableConstraint::PrimaryKey(pk) = tc {
                            key = index_columns(&pk.columns)?;
                        }
                    }
                    if key.is_empty() {
                        key = unique_key(&columns, &ct.columns, &ct.constraints);
                    }
                    CreateDef::Columns {
                        columns,
                        key,
                        charset: table_charset(&text),
                    }
                }
            };
            // MariaDB's CREATE OR REPLACE drops the table first: its rows go with it.
            if ct.or_replace {
                vec![
                    Ddl::Drop {
                        table: table.clone(),
                        if_exists: true,
                    },
                    Ddl::Create {
                        table,
                        def,
                        if_not_exists: false,
                    },
                ]
            } else {
                vec![Ddl::Create {
                    table,
                    def,
                    if_not_exists: ct.if_not_exists,
                }]
            }
        }
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            if_exists,
            temporary,
            ..
        } => {
            if temporary {
                return Ok(Vec::new());
            }
            names
                .iter()
                .map(|n| {
                    Ok(Ddl::Drop {
                        table: object(default_schema, n)?,
                        if_exists,
                    })
                })
                .collect::<Result<_>>()?
        }
        // CREATE / DROP INDEX and the like.
        _ => Vec::new(),
    })
}

fn parse_one(text: &str) -> Result<Statement> {
    let mut stmts = Parser::parse_sql(&MySqlDialect {}, text).map_err(|e| anyhow!("{e}"))?;
    if stmts.len() != 1 {
        bail!("{} statements where one was expected", stmts.len());
    }
    Ok(stmts.remove(0))
}

/// A table name in a statement, as a regex group: `t`, `` `t` ``, `s.t`, `` `s`.`t` ``.
pub const NAME: &str = r"((?:`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|[\w$]+))?)";

/// `ALTER [ONLINE|IGNORE] TABLE name [WAIT n|NOWAIT]`, up to its clauses.
fn alter_head() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(
            &format!(r"(?is)^alter\s+(?:online\s+)?(?:ignore\s+)?table\s+(?:if\s+exists\s+)?{NAME}\s*(?:wait\s+\d+\s*|nowait\s*)?"),
        )
        .unwrap()
    })
}

/// The clauses of an `ALTER TABLE` after its head, as operations.
fn alter_ops(default_schema: &str, table: &TableName, rest: &str) -> Result<Vec<AlterOp>> {
    let mut ops = Vec::new();
    for clause in split_top_level(rest) {
        let clause = clause.trim();
        if clause.is_empty() {
            continue;
        }
        let words: Vec<String> = clause
            .split(|c: char| c.is_whitespace() || c == '=' || c == '(')
            .filter(|w| !w.is_empty())
            .take(4)
            .map(|w| w.to_ascii_lowercase())
            .collect();
        match no_effect(&words) {
            Clause::NoEffect => continue,
            Clause::LosesRows => {
                bail!("`{clause}` changes the rows of {table} without row events in the binlog")
            }
            Clause::Unsupported => bail!("`{clause}` is not one the sync can follow"),
            Clause::Charset(cs) => {
                ops.push(AlterOp::DefaultCharset(cs));
                continue;
            }
            Clause::Parse => {}
        }
        // MariaDB's `ADD COLUMN IF NOT EXISTS` / `DROP COLUMN IF EXISTS`: the parser lacks them.
        let (clause, if_not_exists, if_exists) = strip_if_exists(clause);
        let parsed = parse_one(&format!("ALTER TABLE t {clause}"))
            .map_err(|e| anyhow!("cannot read `{clause}`: {e}"))?;
        let Statement::AlterTable(at) = parsed else {
            bail!("cannot read `{clause}`");
        };
        for op in at.operations {
            let op = match op {
                AlterTableOperation::AddColumn {
                    column_def,
                    column_position,
                    ..
                } => AlterOp::Add {
                    col: column_def_spec(&column_def)?,
                    if_not_exists,
                    place: place(column_position),
                },
                AlterTableOperation::DropColumn { column_names, .. } => {
                    let (last, before) = column_names
                        .split_last()
                        .ok_or_else(|| anyhow!("DROP COLUMN without a column"))?;
                    ops.extend(before.iter().map(|n| AlterOp::Drop {
                        name: n.value.clone(),
                        if_exists,
                    }));
                    AlterOp::Drop {
                        name: last.value.clone(),
                        if_exists,
                    }
                }
                AlterTableOperation::ModifyColumn {
                    col_name,
                    data_type,
                    options,
                    column_position,
                } => AlterOp::Change {
                    old: col_name.value.clone(),
                    col: column_spec(&col_name.value, &data_type, &options)?,
                    place: place(column_position),
                },
                AlterTableOperation::ChangeColumn {
                    old_name,
                    new_name,
                    data_type,
                    options,
                    column_position,
                } => AlterOp::Change {
                    old: old_name.value.clone(),
                    col: column_spec(&new_name.value, &data_type, &options)?,
                    place: place(column_position),
                },
                AlterTableOperation::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => AlterOp::RenameColumn {
                    old: old_column_name.value,
                    new: new_column_name.value,
                },
                AlterTableOperation::RenameTable { table_name } => {
                    let (RenameTableNameKind::To(n) | RenameTableNameKind::As(n)) = table_name;
                    AlterOp::RenameTable(object(default_schema, &n)?)
                }
                AlterTableOperation::DropPrimaryKey { .. } => AlterOp::DropPrimaryKey,
                AlterTableOperation::AddConstraint {
                    constraint: TableConstraint::PrimaryKey(pk),
                    ..
                } => AlterOp::AddPrimaryKey(index_columns(&pk.columns)?),
                AlterTableOperation::AddConstraint { .. }
                | AlterTableOperation::DropIndex { .. }
                | AlterTableOperation::DropConstraint { .. }
                | AlterTableOperation::DropForeignKey { .. }
                | AlterTableOperation::AlterColumn { .. }
                | AlterTableOperation::Algorithm { .. }
                | AlterTableOperation::Lock { .. }
                | AlterTableOperation::AutoIncrement { .. } => continue,
                other => bail!("`{other}` is not one the sync can follow"),
            };
            ops.push(op);
        }
    }
    Ok(ops)
}

fn place(p: Option<MySQLColumnPosition>) -> Option<Place> {
    p.map(|p| match p {
        MySQLColumnPosition::First => Place::First,
        MySQLColumnPosition::After(i) => Place::After(i.value),
    })
}

/// Without a primary key, the key of a created table is its first UNIQUE index whose columns
/// are all NOT NULL and whole, first by index name as information_schema lists them: the
/// same key `catalog::mysql` finds for a table that exists. An index without a name is named
/// after its first column (`_2`, `_3` … when taken), as MySQL and MariaDB name it.
fn unique_key(
    specs: &[ColumnSpec],
    defs: &[ColumnDef],
    constraints: &[TableConstraint],
) -> Vec<String> {
    // (name given, columns; None for a prefix or an expression)
    let mut uniques: Vec<(Option<String>, Option<Vec<String>>)> = Vec::new();
    for d in defs {
        for o in &d.options {
            if let ColumnOption::Unique(u) = &o.option {
                let name = u.index_name.as_ref().or(u.name.as_ref());
                uniques.push((
                    name.map(|n| n.value.clone()),
                    Some(vec![d.name.value.clone()]),
                ));
            }
        }
    }
    for tc in constraints {
        if let TableConstraint::Unique(u) = tc {
            let name = u.index_name.as_ref().or(u.name.as_ref());
            uniques.push((
                name.map(|n| n.value.clone()),
                index_columns(&u.columns).ok(),
            ));
        }
    }
    let mut taken: Vec<String> = uniques
        .iter()
        .filter_map(|(n, _)| n.as_ref().map(|n| n.to_ascii_lowercase()))
        .collect();
    let mut named: Vec<(String, Vec<String>)> = Vec::new();
    for (name, cols) in uniques {
        let Some(cols) = cols.filter(|c| !c.is_empty()) else {
            continue;
        };
        let name = name.unwrap_or_else(|| {
            let first = cols[0].clone();
            let mut n = first.clone();
            let mut i = 2;
            while taken.contains(&n.to_ascii_lowercase()) {
                n = format!("{first}_{i}");
                i += 1;
            }
            taken.push(n.to_ascii_lowercase());
            n
        });
        named.push((name, cols));
    }
    let not_null = |c: &String| {
        specs
            .iter()
            .any(|s| s.column.name.eq_ignore_ascii_case(c) && !s.column.nullable)
    };
    named
        .into_iter()
        .filter(|(_, cols)| cols.iter().all(not_null))
        .min_by_key(|(n, _)| n.to_ascii_lowercase())
        .map(|(_, cols)| cols)
        .unwrap_or_default()
}

fn object(default_schema: &str, n: &ObjectName) -> Result<TableName> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
                other => bail!("unexpected name part {other}"),
            })
            .collect::<Result<_>>()?;
    Ok(match parts.as_slice() {
        [t] => TableName {
            schema: default_schema.to_string(),
            table: t.clone(),
        },
        [s, t] => TableName {
            schema: s.clone(),
            table: t.clone(),
        },
        _ => bail!("unexpected table name {n}"),
    })
}

/// A table name as a statement writes it (backquoted or not, with or without schema; a
/// dot inside backquotes belongs to the name).
pub fn name_of(default_schema: &str, text: &str) -> TableName {
    let mut in_q = false;
    let mut split = None;
    for (i, ch) in text.char_indices() {
        match ch {
            '`' => in_q = !in_q,
            '.' if !in_q => split = Some(i),
            _ => {}
        }
    }
    let unquote = |s: &str| {
        let s = s.trim();
        match s.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
            Some(inner) => inner.replace("``", "`"),
            None => s.to_string(),
        }
    };
    match split {
        Some(i) => TableName {
            schema: unquote(&text[..i]),
            table: unquote(&text[i + 1..]),
        },
        None => TableName {
            schema: default_schema.to_string(),
            table: unquote(text),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str, t: &str) -> TableName {
        TableName::new(s, t)
    }

    fn alter(sql: &str) -> Vec<AlterOp> {
        match parse("d", sql).unwrap().as_slice() {
            [Ddl::Alter { ops, .. }] => ops.clone(),
            [] => Vec::new(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_column_with_default_after_and_first() {
        let ops = alter("ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT -5 AFTER b, ADD d DECIMAL(12,4) UNSIGNED FIRST");
        let AlterOp::Add { col, .. } = &ops[0] else {
            panic!()
        };
        assert_eq!(col.column.name, "c");
        assert_eq!(
            (
                col.column.data_type.as_str(),
                col.column.column_type.as_str()
            ),
            ("int", "int")
        );
        assert!(!col.column.nullable);
        assert_eq!(col.default, DefaultValue::Literal("-5".into()));
        assert!(matches!(&ops[0], AlterOp::Add { place: Some(Place::After(b)), .. } if b == "b"));
        let AlterOp::Add { col, place, .. } = &ops[1] else {
            panic!()
        };
        assert_eq!(place, &Some(Place::First));
        assert_eq!(col.column.column_type, "decimal(12,4) unsigned");
        assert_eq!(col.default, DefaultValue::Absent);
    }

    #[test]
    fn change_modify_rename_drop() {
        let ops = alter(
            "ALTER TABLE `s`.`t` MODIFY v VARCHAR(200) CHARACTER SET latin1, CHANGE a b BIGINT UNSIGNED, \
             RENAME COLUMN x TO y, DROP COLUMN z, ALGORITHM=INPLACE, LOCK=NONE",
        );
        assert_eq!(ops.len(), 4);
        let AlterOp::Change { old, col, .. } = &ops[0] else {
            panic!()
        };
        assert_eq!(old, "v");
        assert_eq!(col.column.charset.as_deref(), Some("latin1"));
        assert_eq!(col.column.column_type, "varchar(200)");
        let AlterOp::Change { old, col, .. } = &ops[1] else {
            panic!()
        };
        assert_eq!((old.as_str(), col.column.name.as_str()), ("a", "b"));
        assert_eq!(col.column.column_type, "bigint unsigned");
        assert_eq!(
            ops[2],
            AlterOp::RenameColumn {
                old: "x".into(),
                new: "y".into()
            }
        );
        assert_eq!(
            ops[3],
            AlterOp::Drop {
                name: "z".into(),
                if_exists: false
            }
        );
    }

    #[test]
    fn no_effect_clauses_pass() {
        for sql in [
            "ALTER TABLE t ADD INDEX ix (a)",
            "ALTER TABLE t ADD UNIQUE KEY ux (a), DROP INDEX iy",
            "ALTER TABLE t COMMENT 'x', ENGINE=InnoDB",
            "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (2000))",
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 3",
            "alter table t /* why */ add fulltext key f (v)",
            "CREATE INDEX ix ON t (a)",
            "DROP INDEX ix ON t",
            "CREATE TEMPORARY TABLE tmp (a int)",
            "DROP TEMPORARY TABLE IF EXISTS tmp",
        ] {
            assert_eq!(parse("d", sql).unwrap(), Vec::new(), "{sql}");
        }
    }

    #[test]
    fn clauses_that_lose_rows_or_cannot_be_followed_fail() {
        assert!(parse("d", "ALTER TABLE t DROP PARTITION p1").is_err());
        assert!(parse("d", "ALTER TABLE t TRUNCATE PARTITION p1").is_err());
        assert!(parse("d", "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4").is_err());
        assert!(parse("d", "ALTER TABLE t FROBNICATE").is_err());
    }

    #[test]
    fn mariadb_forms() {
        let ops = alter("ALTER ONLINE TABLE t WAIT 5 ADD COLUMN IF NOT EXISTS z INT(11), DROP COLUMN IF EXISTS w");
        assert!(
            matches!(&ops[0], AlterOp::Add { if_not_exists: true, col, .. } if col.column.column_type == "int(11)")
        );
        assert_eq!(
            ops[1],
            AlterOp::Drop {
                name: "w".into(),
                if_exists: true
            }
        );
    }

    #[test]
    fn keys_and_renames() {
        assert_eq!(
            alter("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)"),
            vec![
                AlterOp::DropPrimaryKey,
                AlterOp::AddPrimaryKey(vec!["a".into(), "b".into()])
            ]
        );
        assert_eq!(
            alter("ALTER TABLE t RENAME TO s.u"),
            vec![AlterOp::RenameTable(n("s", "u"))]
        );
        assert_eq!(
            parse("d", "RENAME TABLE a TO b, x.c TO x.d").unwrap(),
            vec![
                Ddl::Rename {
                    from: n("d", "a"),
                    to: n("d", "b")
                },
                Ddl::Rename {
                    from: n("x", "c"),
                    to: n("x", "d")
                }
            ]
        );
        assert_eq!(
            alter("ALTER TABLE t DEFAULT CHARSET=latin1"),
            vec![AlterOp::DefaultCharset("latin1".into())]
        );
    }

    #[test]
    fn create_and_drop() {
        let d = parse(
            "d",
            "CREATE TABLE `t3` (\n  `id` int NOT NULL,\n  `v` varchar(10) DEFAULT NULL,\n  e enum('A','b') ,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 START TRANSACTION",
        )
        .unwrap();
        let [Ddl::Create {
            table,
            def:
                CreateDef::Columns {
                    columns,
                    key,
                    charset,
                    ..
                },
            ..
        }] = d.as_slice()
        else {
            panic!("{d:?}")
        };
        assert_eq!(table, &n("d", "t3"));
        assert_eq!(key, &vec!["id".to_string()]);
        assert_eq!(charset.as_deref(), Some("latin1"));
        assert_eq!(columns[2].column.column_type, "enum('A', 'b')");
        assert!(!columns[1].explicit_charset);
        assert_eq!(
            parse("d", "CREATE TABLE t2 LIKE s.t").unwrap(),
            vec![Ddl::Create {
                table: n("d", "t2"),
                def: CreateDef::Like(n("s", "t")),
                if_not_exists: false,
            }]
        );
        assert_eq!(
            parse(
                "d",
                "DROP TABLE IF EXISTS `a`, s.b /* generated by server */"
            )
            .unwrap(),
            vec![
                Ddl::Drop {
                    table: n("d", "a"),
                    if_exists: true
                },
                Ddl::Drop {
                    table: n("s", "b"),
                    if_exists: true
                }
            ]
        );
    }

    #[test]
    fn type_spellings() {
        let t = |s: &str| {
            let ops = alter(&format!("ALTER TABLE t ADD c {s}"));
            let AlterOp::Add { col, .. } = &ops[0] else {
                panic!()
            };
            (col.column.data_type.clone(), col.column.column_type.clone())
        };
        assert_eq!(t("DECIMAL"), ("decimal".into(), "decimal(10,0)".into()));
        assert_eq!(t("NUMERIC(7)"), ("decimal".into(), "decimal(7,0)".into()));
        assert_eq!(t("FLOAT(30)"), ("double".into(), "double".into()));
        assert_eq!(t("DATETIME(6)"), ("datetime".into(), "datetime(6)".into()));
        assert_eq!(t("BOOLEAN"), ("tinyint".into(), "tinyint(1)".into()));
        assert_eq!(
            t("VARBINARY(5)"),
            ("varbinary".into(), "varbinary(5)".into())
        );
        assert_eq!(t("CHAR"), ("char".into(), "char(1)".into()));
        assert_eq!(t("SET('x','Y')"), ("set".into(), "set('x', 'Y')".into()));
    }
}

#[cfg(test)]
mod field_spellings {
    use super::*;

    /// A column as (name, column type, nullable, generated).
    type Col = (String, String, bool, bool);

    /// The columns and key of a CREATE TABLE.
    fn create(sql: &str) -> (Vec<Col>, Vec<String>) {
        match parse("d", sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"))
            .as_slice()
        {
            [Ddl::Create {
                def: CreateDef::Columns { columns, key, .. },
                ..
            }] => (
                columns
                    .iter()
                    .map(|c| {
                        (
                            c.column.name.clone(),
                            c.column.column_type.clone(),
                            c.column.nullable,
                            c.generated,
                        )
                    })
                    .collect(),
                key.clone(),
            ),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn mariadb_spellings_of_columns_parse() {
        for sql in [
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2) AS (price * qty) PERSISTENT)",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2) GENERATED ALWAYS AS (price * qty) STORED)",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2) AS (price * qty) VIRTUAL)",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT INVISIBLE, total DECIMAL(14,2) AS (price*qty) PERSISTENT)",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2)) WITH SYSTEM VERSIONING",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT COMMENT 'it''s \\'q\\'', total DECIMAL(14,2))",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2) CHECK (price > 0), qty INT, total DECIMAL(14,2))",
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2)) /*M!100301 PAGE_COMPRESSED=1 */",
            "CREATE TABLE IF NOT EXISTS o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2))",
        ] {
            let (cols, key) = create(sql);
            assert_eq!(cols.len(), 4, "{sql}: {cols:?}");
            assert_eq!(key, vec!["id".to_string()], "{sql}");
        }
        let (cols, _) = create(
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, total DECIMAL(14,2) AS (price * qty) PERSISTENT)",
        );
        assert!(cols[3].3, "PERSISTENT is a generated column");
        let (cols, _) = create(
            "CREATE TABLE c (id INT PRIMARY KEY, body TEXT COMPRESSED, b BLOB COMPRESSED NOT NULL)",
        );
        assert_eq!(cols[1].1, "text");
        assert!(!cols[2].2);
    }

    #[test]
    fn the_key_is_the_primary_key_else_the_first_not_null_unique_key() {
        let (_, key) =
            create("CREATE TABLE u (email VARCHAR(100) NOT NULL, name TEXT, UNIQUE KEY (email))");
        assert_eq!(key, vec!["email".to_string()]);
        let (_, key) = create("CREATE TABLE u (email VARCHAR(100) NOT NULL UNIQUE, name TEXT)");
        assert_eq!(key, vec!["email".to_string()]);
        // A nullable unique key identifies no row; the first by name of the others does, as
        // information_schema orders them.
        let (_, key) = create(
            "CREATE TABLE u (a INT, b INT NOT NULL, c INT NOT NULL, UNIQUE KEY z_b (b), UNIQUE KEY a_a (a), UNIQUE KEY m_c (c))",
        );
        assert_eq!(key, vec!["c".to_string()]);
        // A prefix does not identify a row.
        let (_, key) = create("CREATE TABLE u (t VARCHAR(200) NOT NULL, UNIQUE KEY (t(10)))");
        assert!(key.is_empty());
        let (_, key) =
            create("CREATE TABLE u (a INT NOT NULL, b INT NOT NULL, PRIMARY KEY (b), UNIQUE (a))");
        assert_eq!(key, vec!["b".to_string()]);
    }
}
