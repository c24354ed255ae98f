//! Schema-change statements of the binlog, parsed: which tables an `ALTER`, `CREATE`, `DROP`
//! or `RENAME TABLE` changes and how, in the terms [`crate::catalog::evolve`] applies.
//!
//! The statements are parsed with `sqlparser`'s MySQL dialect. The binlog holds the statement
//! as the client wrote it, so an `ALTER TABLE` is first split into its clauses: clauses that
//! change nothing the sync replicates (indexes, comments, engine, most partition work) are
//! recognised by their leading words, and each other clause is parsed on its own. That keeps
//! MariaDB's extras (`IF [NOT] EXISTS` on columns, `ALTER ONLINE`, `WAIT n`) and clauses the
//! parser lacks from failing the whole statement.

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

use crate::model::source_table::SourceColumn;

/// A table named by a statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// What one statement does to one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    Alter {
        table: Name,
        ops: Vec<AlterOp>,
    },
    Rename {
        from: Name,
        to: Name,
    },
    /// `if_not_exists`: a no-op when the table exists (MySQL logs it all the same).
    Create {
        table: Name,
        def: CreateDef,
        if_not_exists: bool,
    },
    Drop {
        table: Name,
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
    Like(Name),
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
    RenameTable(Name),
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
    let text = strip_comments(sql);
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
    let stmt = parse_one(&text)?;
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
fn alter_ops(default_schema: &str, table: &Name, rest: &str) -> Result<Vec<AlterOp>> {
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

enum Clause {
    NoEffect,
    /// Rows change without row events (`DROP PARTITION`, `TRUNCATE PARTITION`, …).
    LosesRows,
    Unsupported,
    Charset(String),
    Parse,
}

/// Classifies an `ALTER TABLE` clause by its first words.
fn no_effect(w: &[String]) -> Clause {
    let w = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    let partition = |x: &str| x == "partition" || x == "partitions";
    match w(0) {
        "comment"
        | "engine"
        | "auto_increment"
        | "row_format"
        | "key_block_size"
        | "stats_persistent"
        | "stats_auto_recalc"
        | "stats_sample_pages"
        | "pack_keys"
        | "checksum"
        | "page_checksum"
        | "min_rows"
        | "max_rows"
        | "avg_row_length"
        | "delay_key_write"
        | "insert_method"
        | "tablespace"
        | "compression"
        | "encryption"
        | "algorithm"
        | "lock"
        | "force"
        | "order"
        | "union"
        | "transactional"
        | "secondary_engine"
        | "secondary_load"
        | "secondary_unload"
        | "with"
        | "without"
        | "enable"
        | "disable"
        | "autoextend_size"
        | "engine_attribute"
        | "secondary_engine_attribute"
        | "page_compressed"
        | "page_compression_level"
        | "ietf_quotes"
        | "sequence"
        | "system" => Clause::NoEffect,
        "coalesce" | "reorganize" | "rebuild" | "analyze" | "check" | "optimize" | "repair"
        | "remove"
            if partition(w(1)) || w(1) == "partitioning" =>
        {
            Clause::NoEffect
        }
        "partition" if w(1) == "by" => Clause::NoEffect,
        "drop" | "truncate" | "exchange" | "discard" | "import"
            if partition(w(1)) || w(1) == "tablespace" =>
        {
            Clause::LosesRows
        }
        "convert" => Clause::Unsupported,
        "add" | "drop" => match w(1) {
            "index" | "key" | "fulltext" | "spatial" | "unique" | "foreign" | "check"
            | "constraint" | "period" | "system" => {
                // `ADD CONSTRAINT [name] PRIMARY KEY` is a key change.
                if (w(1) == "constraint" && (w(2) == "primary" || w(3) == "primary"))
                    || w(1) == "system"
                {
                    if w(1) == "system" {
                        Clause::NoEffect
                    } else {
                        Clause::Parse
                    }
                } else {
                    Clause::NoEffect
                }
            }
            "partition" => {
                if w(0) == "add" {
                    Clause::NoEffect
                } else {
                    Clause::LosesRows
                }
            }
            _ => Clause::Parse,
        },
        "rename" if matches!(w(1), "index" | "key") => Clause::NoEffect,
        "alter" if matches!(w(1), "index" | "key" | "check" | "constraint") => Clause::NoEffect,
        "alter" => Clause::Parse, // ALTER [COLUMN] x SET/DROP DEFAULT, visibility
        "default" | "character" | "charset" | "collate" => {
            let words: Vec<&str> = (0..4).map(w).collect();
            let at = words
                .iter()
                .position(|x| matches!(*x, "set" | "charset" | "collate"))
                .map(|i| i + 1);
            match at.and_then(|i| words.get(i)).filter(|x| !x.is_empty()) {
                Some(name) if words.contains(&"collate") => {
                    Clause::Charset(charset_of_collation(name))
                }
                Some(name) => Clause::Charset(name.to_string()),
                None => Clause::Unsupported,
            }
        }
        _ => Clause::Parse,
    }
}

fn strip_if_exists(clause: &str) -> (String, bool, bool) {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = R.get_or_init(|| {
        Regex::new(r"(?is)^(add|drop|modify|change)(\s+column)?\s+if\s+(not\s+)?exists\s+").unwrap()
    });
    match r.captures(clause) {
        Some(c) => {
            let not = c.get(3).is_some();
            let head = format!("{}{} ", &c[1], c.get(2).map_or("", |m| m.as_str()));
            let rest = &clause[c.get(0).unwrap().end()..];
            (format!("{head}{rest}"), not, !not)
        }
        None => (clause.to_string(), false, false),
    }
}

/// Splits at commas outside parentheses and quotes.
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur) = (0i32, None::<char>, String::new());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' && q != '`' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    if chars.peek() == Some(&q) {
                        cur.push(chars.next().unwrap());
                    } else {
                        quote = None;
                    }
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            },
        }
    }
    out.push(cur);
    out
}

/// The statement without comments (`/* … */`, `-- …`, `# …`) outside quotes, trimmed.
/// MySQL's executable comments (`/*!50100 … */`) keep their text.
fn strip_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let b: Vec<char> = sql.chars().collect();
    let (mut i, mut quote) = (0, None::<char>);
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && q != '`' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                out.push(c);
            }
            '/' if b.get(i + 1) == Some(&'*') => {
                let end = (i + 2..b.len().saturating_sub(1))
                    .find(|&j| b[j] == '*' && b[j + 1] == '/')
                    .unwrap_or(b.len());
                if b.get(i + 2) == Some(&'!') {
                    // `/*!NNNNN text */`: the text counts.
                    let inner: String = b[i + 3..end.min(b.len())].iter().collect();
                    let inner = inner.trim_start_matches(|ch: char| ch.is_ascii_digit());
                    out.push(' ');
                    out.push_str(inner);
                    out.push(' ');
                } else {
                    out.push(' ');
                }
                i = end + 2;
                continue;
            }
            '-' if b.get(i + 1) == Some(&'-') && b.get(i + 2).is_none_or(|c| c.is_whitespace()) => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '#' => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out.trim().trim_end_matches(';').trim().to_string()
}

fn object(default_schema: &str, n: &ObjectName) -> Result<Name> {
    let parts: Vec<String> =
        n.0.iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
                other => bail!("unexpected name part {other}"),
            })
            .collect::<Result<_>>()?;
    Ok(match parts.as_slice() {
        [t] => Name {
            schema: default_schema.to_string(),
            table: t.clone(),
        },
        [s, t] => Name {
            schema: s.clone(),
            table: t.clone(),
        },
        _ => bail!("unexpected table name {n}"),
    })
}

/// A table name as a statement writes it (backquoted or not, with or without schema; a
/// dot inside backquotes belongs to the name).
pub fn name_of(default_schema: &str, text: &str) -> Name {
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
        Some(i) => Name {
            schema: unquote(&text[..i]),
            table: unquote(&text[i + 1..]),
        },
        None => Name {
            schema: default_schema.to_string(),
            table: unquote(text),
        },
    }
}

fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Result<Vec<String>> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => Ok(i.value.clone()),
            // `PRIMARY KEY (a(10))`: a prefix does not identify a row.
            other => bail!("key part `{other}` is not a whole column"),
        })
        .collect()
}

fn column_def_spec(c: &ColumnDef) -> Result<ColumnSpec> {
    column_spec(
        &c.name.value,
        &c.data_type,
        &c.options
            .iter()
            .map(|o| o.option.clone())
            .collect::<Vec<_>>(),
    )
}

/// A column definition as `information_schema` would describe it.
fn column_spec(name: &str, dt: &DataType, options: &[impl AsOption]) -> Result<ColumnSpec> {
    let (data_type, column_type) = mysql_types(dt)?;
    let mut charset = None;
    let mut explicit_charset = false;
    let mut nullable = true;
    let mut default = DefaultValue::Absent;
    let mut primary_key = false;
    let mut generated = false;
    let mut auto_increment = false;
    for o in options {
        match o.option() {
            ColumnOption::Null => nullable = true,
            ColumnOption::NotNull => nullable = false,
            ColumnOption::Default(e) => default = default_of(e),
            ColumnOption::PrimaryKey(_) => {
                primary_key = true;
                nullable = false;
            }
            ColumnOption::CharacterSet(n) => {
                charset = Some(n.to_string().to_ascii_lowercase());
                explicit_charset = true;
            }
            ColumnOption::Collation(n) if !explicit_charset => {
                charset = Some(charset_of_collation(&n.to_string().to_ascii_lowercase()));
                explicit_charset = true;
            }
            ColumnOption::Generated { .. } => generated = true,
            ColumnOption::DialectSpecific(tokens)
                if tokens
                    .iter()
                    .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
            {
                auto_increment = true
            }
            _ => {}
        }
    }
    // A key column is NOT NULL whatever the statement says.
    if primary_key {
        nullable = false;
    }
    let text = matches!(
        data_type.as_str(),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
    );
    if !text {
        charset = None;
        explicit_charset = true;
    }
    Ok(ColumnSpec {
        column: SourceColumn {
            name: name.to_string(),
            data_type,
            column_type,
            charset: charset.filter(|c| c != "binary"),
            nullable,
        },
        explicit_charset,
        default,
        primary_key,
        generated,
        auto_increment,
    })
}

/// Options of `ALTER … MODIFY` come bare, those of a column definition with a name.
trait AsOption {
    fn option(&self) -> &ColumnOption;
}
impl AsOption for ColumnOption {
    fn option(&self) -> &ColumnOption {
        self
    }
}

fn default_of(e: &Expr) -> DefaultValue {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Null => DefaultValue::Null,
            Value::Number(n, _) => DefaultValue::Literal(n.clone()),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                DefaultValue::Literal(s.clone())
            }
            Value::Boolean(b) => DefaultValue::Literal(if *b { "1" } else { "0" }.into()),
            other => DefaultValue::Expr(other.to_string()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match default_of(expr) {
            DefaultValue::Literal(n) if !n.starts_with('-') => {
                DefaultValue::Literal(format!("-{n}"))
            }
            _ => DefaultValue::Expr(e.to_string()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => default_of(expr),
        // `_utf8mb4'abc'`: the introducer names the literal's character set; the text is the value.
        Expr::Prefixed { value, .. } => match default_of(value) {
            lit @ DefaultValue::Literal(_) => lit,
            _ => DefaultValue::Expr(e.to_string()),
        },
        Expr::Nested(inner) => match default_of(inner) {
            DefaultValue::Expr(_) => DefaultValue::Expr(e.to_string()),
            lit => lit,
        },
        other => DefaultValue::Expr(other.to_string()),
    }
}

/// `utf8mb4_0900_ai_ci` → `utf8mb4`.
fn charset_of_collation(c: &str) -> String {
    match c.split_once('_') {
        Some((cs, _)) => cs.to_string(),
        None => c.to_string(),
    }
}

/// The table's `DEFAULT CHARSET` / `COLLATE` after its column list, if written.
fn table_charset(text: &str) -> Option<String> {
    static R: OnceLock<Regex> = OnceLock::new();
    let r = R.get_or_init(|| {
        Regex::new(r"(?i)\b(charset|character\s+set|collate)\s*=?\s*`?'?(\w+)").unwrap()
    });
    // After the column list: the last closing parenthesis at depth 0 of the statement.
    let (mut depth, mut end, mut quote) = (0i32, None, None::<char>);
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 && end.is_none() {
                    end = Some(i);
                }
            }
            _ => {}
        }
    }
    let tail = &text[end? + 1..];
    let tail = match tail.to_ascii_lowercase().find(" select ") {
        Some(i) => &tail[..i],
        None => tail,
    };
    let mut found = None;
    for c in r.captures_iter(tail) {
        let name = c[2].to_ascii_lowercase();
        if c[1].eq_ignore_ascii_case("collate") {
            found.get_or_insert(charset_of_collation(&name));
        } else {
            found = Some(name);
        }
    }
    found
}

/// `DATA_TYPE` and `COLUMN_TYPE` as MySQL's `information_schema` spells them.
fn mysql_types(dt: &DataType) -> Result<(String, String)> {
    let shown = dt.to_string();
    let lower = shown.to_ascii_lowercase();
    let head_end = lower.find(['(', ' ']).unwrap_or(lower.len());
    let head = &lower[..head_end];
    let rest = &lower[head_end..];
    let args = rest
        .strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .map(|(a, _)| a.replace(' ', ""));
    // ZEROFILL makes a column UNSIGNED.
    let unsigned = lower.contains("unsigned") || lower.contains("zerofill");
    let flags = format!(
        "{}{}",
        if unsigned { " unsigned" } else { "" },
        if lower.contains("zerofill") {
            " zerofill"
        } else {
            ""
        }
    );
    let with = |base: &str, args: Option<String>| match args {
        Some(a) => format!("{base}({a}){flags}"),
        None => format!("{base}{flags}"),
    };
    Ok(match head {
        "tinyint" | "smallint" | "mediumint" | "bigint" => (head.to_string(), with(head, args)),
        "int" | "integer" | "int4" => ("int".into(), with("int", args)),
        "bool" | "boolean" => ("tinyint".into(), "tinyint(1)".into()),
        "decimal" | "dec" | "numeric" | "fixed" => {
            let a = match args.as_deref() {
                None => "10,0".to_string(),
                Some(a) if !a.contains(',') => format!("{a},0"),
                Some(a) => a.to_string(),
            };
            ("decimal".into(), with("decimal", Some(a)))
        }
        "float" => match args.as_deref().and_then(|a| a.parse::<u32>().ok()) {
            Some(p) if p > 24 => ("double".into(), with("double", None)),
            Some(_) => ("float".into(), with("float", None)),
            None => ("float".into(), with("float", args)),
        },
        "double" | "real" => (
            "double".into(),
            with("double", args.filter(|a| a.contains(','))),
        ),
        "bit" => (
            "bit".into(),
            format!("bit({})", args.unwrap_or_else(|| "1".into())),
        ),
        "char" | "character" | "nchar" if !lower.contains("varying") => (
            "char".into(),
            format!("char({})", args.unwrap_or_else(|| "1".into())),
        ),
        "varchar" | "nvarchar" | "character" | "char" => match args {
            Some(a) => ("varchar".into(), format!("varchar({a})")),
            None => bail!("{shown} without a length"),
        },
        "binary" => (
            "binary".into(),
            format!("binary({})", args.unwrap_or_else(|| "1".into())),
        ),
        "varbinary" => match args {
            Some(a) => ("varbinary".into(), format!("varbinary({a})")),
            None => bail!("{shown} without a length"),
        },
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob"
        | "longblob" | "date" | "year" | "json" | "geometry" | "point" | "linestring"
        | "polygon" | "multipoint" | "multilinestring" | "multipolygon" | "geometrycollection"
        | "geomcollection" => (head.to_string(), head.to_string()),
        "datetime" | "timestamp" | "time" => (head.to_string(), with(head, args)),
        // Members keep their case: they are data.
        "enum" | "set" => (head.to_string(), format!("{head}{}", &shown[head_end..])),
        "long" if lower.starts_with("long varchar") => ("mediumtext".into(), "mediumtext".into()),
        _ => bail!("column type {shown} is not one the sync knows"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str, t: &str) -> Name {
        Name {
            schema: s.into(),
            table: t.into(),
        }
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
