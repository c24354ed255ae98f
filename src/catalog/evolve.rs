//! A schema change applied: the table's new definition (what later rows are decoded with) and
//! the PostgreSQL statements that make its target follow. Pure: the writer side runs the
//! statements (see `postgres::barrier`), in one transaction with the checkpoint.

use anyhow::{anyhow, bail, Result};
use mysql_async::Value;

use crate::catalog::ddl::{AlterOp, ColumnSpec, DefaultValue, Place};
use crate::catalog::postgres::{create_table_sql, target_not_null};
use crate::config::ZeroDate;
use crate::convert::to_pg_text;
use crate::model::change::TargetStep;
use crate::model::kind::Kind;
use crate::model::name::TableName;
use crate::model::source_table::{SourceColumn, SourceTable};
use crate::model::table::Column;
use crate::sql::{qualified, quote_ident, Quoted};

/// How a change treats the target: follow it, or keep what a drop would remove.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    pub zero_date: ZeroDate,
    /// `ddl_drop = "keep"`: dropped columns stay (nullable).
    pub keep_drops: bool,
}

/// `src` after `ops`, and the statements that change `target` alike.
pub fn alter(
    src: &SourceTable,
    ops: &[AlterOp],
    target: &TableName,
    follow: Follow,
) -> Result<(SourceTable, Vec<TargetStep>)> {
    let t = qualified(&target.schema, &target.table);
    let mut new = src.clone();
    let mut steps = Vec::new();
    // The key as it would be after renames alone: a change beyond that is a new key.
    let mut renamed_key = src.key.clone();
    // MySQL takes the statement's table options before it lays out columns: a column added
    // in the same statement gets the new default character set.
    for op in ops {
        if let AlterOp::DefaultCharset(cs) = op {
            new.charset = Some(cs.clone());
        }
    }
    for op in ops {
        match op {
            AlterOp::Add {
                col,
                if_not_exists,
                place,
            } => {
                if new
                    .columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(&col.column.name))
                {
                    if *if_not_exists {
                        continue;
                    }
                    bail!("column `{}` exists already", col.column.name);
                }
                let column = resolve_charset(col, &new);
                let kind = kind_of(&column)?;
                let q = quote_ident(&column.name);
                steps.push(exec(format!(
                    "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {q} {}",
                    kind.pg_type(&column.column_type)
                )));
                // MySQL gives existing rows the default without a row event: so must the target.
                match fill(col, &column, &kind, follow.zero_date)? {
                    Fill::Nothing => {}
                    Fill::Value(v) => steps.push(TargetStep::Exec {
                        sql: format!(
                            // A text parameter, cast by PostgreSQL as a row's value would be.
                            "UPDATE {t} SET {q} = ($1::text)::{}",
                            kind.pg_type(&column.column_type)
                        ),
                        param: Some(v),
                    }),
                    Fill::Unknown(why) => steps.push(require_empty(
                        &t,
                        format!(
                            "column `{}` was added with {why}: the values MySQL gave the existing rows are not in the binlog",
                            column.name
                        ),
                    )),
                }
                if target_not_null(&column, &kind, col.primary_key, follow.zero_date) {
                    steps.push(exec(format!(
                        "ALTER TABLE {t} ALTER COLUMN {q} SET NOT NULL"
                    )));
                }
                let at = index_for(&new, place.as_ref(), new.columns.len())?;
                new.columns.insert(at, column);
            }
            AlterOp::Drop { name, if_exists } => {
                let Some(i) = find(&new, name) else {
                    if *if_exists {
                        continue;
                    }
                    bail!("column `{name}` does not exist");
                };
                let gone = new.columns.remove(i);
                // MySQL drops the column from the key; the target needs a new key then.
                new.key.retain(|k| k != &gone.name);
                let q = quote_ident(&gone.name);
                steps.push(exec(
                    if follow.keep_drops && !renamed_key.contains(&gone.name) {
                        format!("ALTER TABLE {t} ALTER COLUMN {q} DROP NOT NULL")
                    } else {
                        format!("ALTER TABLE {t} DROP COLUMN IF EXISTS {q}")
                    },
                ));
            }
            AlterOp::Change { old, col, place } => {
                let i = find(&new, old).ok_or_else(|| anyhow!("column `{old}` does not exist"))?;
                let before = new.columns[i].clone();
                // Without a character set, MODIFY / CHANGE give a text column the table's
                // default (not the column's old one), as MySQL does.
                let mut column = resolve_charset(col, &new);
                // A key column stays NOT NULL whatever the statement says, as in MySQL.
                if new.key.iter().any(|k| k.eq_ignore_ascii_case(&before.name)) {
                    column.nullable = false;
                }
                let kind = kind_of(&column)?;
                let old_kind = kind_of(&before)?;
                if before.name != column.name {
                    steps.push(exec(format!(
                        "ALTER TABLE {t} RENAME COLUMN {} TO {}",
                        quote_ident(&before.name),
                        quote_ident(&column.name)
                    )));
                    for k in new.key.iter_mut().chain(renamed_key.iter_mut()) {
                        if *k == before.name {
                            *k = column.name.clone();
                        }
                    }
                }
                let q = quote_ident(&column.name);
                let (pg_old, pg_new) = (
                    old_kind.pg_type(&before.column_type),
                    kind.pg_type(&column.column_type),
                );
                if pg_old != pg_new {
                    let bytes = |k: &Kind| matches!(k, Kind::Binary { .. } | Kind::Geometry);
                    if bytes(&old_kind) != bytes(&kind) {
                        // PostgreSQL's cast between bytea and text is not MySQL's conversion.
                        steps.push(require_empty(
                            &t,
                            format!(
                                "column `{}` changed between binary and character data ({} to {})",
                                column.name, before.column_type, column.column_type
                            ),
                        ));
                    }
                    let cast = crate::catalog::postgres::cast_type(pg_new.clone());
                    let using = convert_using(&q, &old_kind, &kind, &cast);
                    steps.push(exec(format!(
                        "ALTER TABLE {t} ALTER COLUMN {q} TYPE {pg_new} USING {using}"
                    )));
                }
                let in_key = new.key.contains(&column.name);
                let (was, is) = (
                    target_not_null(&before, &old_kind, in_key, follow.zero_date),
                    target_not_null(&column, &kind, in_key, follow.zero_date),
                );
                if was != is {
                    steps.push(exec(format!(
                        "ALTER TABLE {t} ALTER COLUMN {q} {} NOT NULL",
                        if is { "SET" } else { "DROP" }
                    )));
                }
                new.columns[i] = column;
                if place.is_some() {
                    let moved = new.columns.remove(i);
                    let at = index_for(&new, place.as_ref(), i)?;
                    new.columns.insert(at, moved);
                }
            }
            AlterOp::RenameColumn { old, new: to } => {
                let i = find(&new, old).ok_or_else(|| anyhow!("column `{old}` does not exist"))?;
                let from = std::mem::replace(&mut new.columns[i].name, to.clone());
                steps.push(exec(format!(
                    "ALTER TABLE {t} RENAME COLUMN {} TO {}",
                    quote_ident(&from),
                    quote_ident(to)
                )));
                for k in new.key.iter_mut().chain(renamed_key.iter_mut()) {
                    if *k == from {
                        *k = to.clone();
                    }
                }
            }
            AlterOp::DropPrimaryKey => new.key.clear(),
            AlterOp::AddPrimaryKey(cols) => {
                let mut key = Vec::new();
                for c in cols {
                    let i =
                        find(&new, c).ok_or_else(|| anyhow!("key column `{c}` does not exist"))?;
                    new.columns[i].nullable = false;
                    key.push(new.columns[i].name.clone());
                }
                new.key = key;
            }
            AlterOp::DefaultCharset(_) => {}
            // Handled by the caller: it changes the table's name, not its columns.
            AlterOp::RenameTable(_) => {}
        }
    }
    if new.key != renamed_key {
        if new.key.is_empty() {
            bail!(
                "the table has no primary key any more, so its rows cannot be matched in PostgreSQL"
            );
        }
        steps.extend(rekey(&t, &new.key));
    }
    Ok((new, steps))
}

/// A table created by `CREATE TABLE`: its definition (columns without a character set get the
/// table's, else `schema_charset`) and the target's `CREATE TABLE`.
pub fn create(
    schema: &str,
    table: &str,
    columns: &[ColumnSpec],
    key: &[String],
    charset: Option<String>,
    target: &TableName,
    zero_date: ZeroDate,
) -> Result<(SourceTable, Vec<TargetStep>)> {
    let mut src = SourceTable {
        schema: schema.to_string(),
        table: table.to_string(),
        columns: Vec::new(),
        key: key.to_vec(),
        charset,
    };
    for c in columns {
        let column = resolve_charset(c, &src);
        src.columns.push(column);
    }
    let mut spelled = Vec::new();
    for k in key {
        let i = find(&src, k).ok_or_else(|| anyhow!("key column `{k}` does not exist"))?;
        src.columns[i].nullable = false;
        // The column's own spelling: MySQL names are case-insensitive, quoted PostgreSQL ones not.
        spelled.push(src.columns[i].name.clone());
    }
    src.key = spelled;
    let steps = if src.key.is_empty() {
        Vec::new()
    } else {
        vec![exec(create_table_sql(&src, target, zero_date)?)]
    };
    Ok((src, steps))
}

/// The `USING` expression that turns the target's values of `q` into what MySQL's `MODIFY`
/// made of them, where that is not PostgreSQL's cast: an ENUM becomes the number of its member
/// (1 for the first, 0 for the empty error value), a number becomes the ENUM member of that
/// number. Otherwise PostgreSQL's cast, which agrees with MySQL's for the types that reach here.
fn convert_using(q: &Quoted, old: &Kind, new: &Kind, cast: &str) -> String {
    let numeric = |k: &Kind| {
        matches!(
            k,
            Kind::Int { .. } | Kind::Decimal | Kind::Float | Kind::Double | Kind::Year
        )
    };
    match (old, new) {
        (Kind::Enum(members), n) if numeric(n) => {
            let arms: String = members
                .iter()
                .enumerate()
                .map(|(i, m)| format!(" WHEN {} THEN {}", crate::sql::literal(m), i + 1))
                .collect();
            format!("(CASE {q}{arms} WHEN '' THEN 0 END)::{cast}")
        }
        (o, Kind::Enum(members)) if numeric(o) => {
            let list: Vec<String> = members.iter().map(|m| crate::sql::literal(m)).collect();
            format!(
                "(CASE WHEN {q} = 0 THEN '' ELSE (ARRAY[{}]::text[])[{q}::integer] END)::{cast}",
                list.join(", ")
            )
        }
        _ => format!("{q}::{cast}"),
    }
}

/// The target moves from `from` to `to` (another schema, another name, or both).
pub fn rename(from: &TableName, to: &TableName) -> Vec<TargetStep> {
    let mut steps = Vec::new();
    let mut now = from.clone();
    if from.schema != to.schema {
        steps.push(exec(format!(
            "ALTER TABLE IF EXISTS {} SET SCHEMA {}",
            qualified(&now.schema, &now.table),
            quote_ident(&to.schema)
        )));
        now.schema = to.schema.clone();
    }
    if from.table != to.table {
        steps.push(exec(format!(
            "ALTER TABLE IF EXISTS {} RENAME TO {}",
            qualified(&now.schema, &now.table),
            quote_ident(&to.table)
        )));
    }
    steps
}

/// `DROP TABLE` of the target (nothing with `ddl_drop = "keep"`).
pub fn drop(target: &TableName, follow: Follow) -> Vec<TargetStep> {
    if follow.keep_drops {
        return Vec::new();
    }
    vec![exec(format!(
        "DROP TABLE IF EXISTS {}",
        qualified(&target.schema, &target.table)
    ))]
}

/// Replaces the target's primary key (whatever its constraint is named).
fn rekey(t: &Quoted, key: &[String]) -> Vec<TargetStep> {
    let cols: Vec<Quoted> = key.iter().map(|k| quote_ident(k)).collect();
    vec![
        TargetStep::DropPrimaryKey {
            table: t.to_string(),
        },
        exec(format!(
            "ALTER TABLE {t} ADD PRIMARY KEY ({})",
            cols.join(", ")
        )),
    ]
}

/// Where `FIRST` / `AFTER x` puts a column (`default` without either).
fn index_for(t: &SourceTable, place: Option<&Place>, default: usize) -> Result<usize> {
    Ok(match place {
        None => default,
        Some(Place::First) => 0,
        Some(Place::After(x)) => {
            find(t, x).ok_or_else(|| anyhow!("column `{x}` (of AFTER) does not exist"))? + 1
        }
    })
}

/// A change the target can take only while it holds no rows (why).
fn require_empty(t: &Quoted, why: String) -> TargetStep {
    TargetStep::RequireEmpty {
        sql: format!("SELECT EXISTS (SELECT 1 FROM {t})"),
        why,
    }
}

fn exec(sql: String) -> TargetStep {
    TargetStep::Exec { sql, param: None }
}

fn find(t: &SourceTable, name: &str) -> Option<usize> {
    // MySQL column names are case-insensitive.
    t.columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
}

fn resolve_charset(spec: &ColumnSpec, table: &SourceTable) -> SourceColumn {
    let mut c = spec.column.clone();
    if !spec.explicit_charset && c.charset.is_none() {
        c.charset = table.charset.clone();
    }
    c
}

fn kind_of(c: &SourceColumn) -> Result<Kind> {
    Kind::parse(&c.data_type, &c.column_type, c.charset.as_deref())
        .map_err(|e| anyhow!("column `{}`: {e:#}", c.name))
}

/// What existing rows hold in a column just added.
enum Fill {
    /// NULL: nothing to write.
    Nothing,
    /// This value, as PostgreSQL text.
    Value(String),
    /// Not knowable from the statement (why).
    Unknown(String),
}

fn fill(spec: &ColumnSpec, c: &SourceColumn, kind: &Kind, zero_date: ZeroDate) -> Result<Fill> {
    if spec.generated {
        return Ok(Fill::Unknown("a generated value".into()));
    }
    if spec.auto_increment {
        return Ok(Fill::Unknown(
            "AUTO_INCREMENT (MySQL numbers the existing rows)".into(),
        ));
    }
    let literal = match &spec.default {
        DefaultValue::Null => return Ok(Fill::Nothing),
        DefaultValue::Absent if c.nullable => return Ok(Fill::Nothing),
        DefaultValue::Expr(e) => return Ok(Fill::Unknown(format!("DEFAULT {e}"))),
        DefaultValue::Literal(l) => Some(l.as_str()),
        // NOT NULL without a default: MySQL's implicit default for the type.
        DefaultValue::Absent => None,
    };
    let col = Column::new(
        c.name.clone(),
        c.data_type.clone(),
        c.column_type.clone(),
        kind.clone(),
        kind.pg_type(&c.column_type),
        zero_date,
    );
    let value = match (kind, literal) {
        (Kind::Int { unsigned, .. }, l) => {
            let l = l.unwrap_or("0").trim();
            match l.parse::<i64>() {
                Ok(i) if !*unsigned || i >= 0 => Value::Int(i),
                _ => match l.parse::<u64>() {
                    Ok(u) => Value::UInt(u),
                    Err(_) => return Ok(Fill::Unknown(format!("DEFAULT '{l}'"))),
                },
            }
        }
        (Kind::Year, l) => Value::Int(l.unwrap_or("0").trim().parse().unwrap_or(0)),
        (Kind::Decimal, l) => {
            let l = l.unwrap_or("0").trim();
            if l.parse::<f64>().is_err() {
                return Ok(Fill::Unknown(format!("DEFAULT '{l}'")));
            }
            Value::Bytes(l.as_bytes().to_vec())
        }
        (Kind::Float, l) => match l.unwrap_or("0").trim().parse::<f32>() {
            Ok(f) => Value::Float(f),
            Err(_) => return Ok(Fill::Unknown(format!("DEFAULT '{}'", l.unwrap_or("")))),
        },
        (Kind::Double, l) => match l.unwrap_or("0").trim().parse::<f64>() {
            Ok(f) => Value::Double(f),
            Err(_) => return Ok(Fill::Unknown(format!("DEFAULT '{}'", l.unwrap_or("")))),
        },
        // The statement's text is already characters: no character set to decode.
        (Kind::Text(_), l) => return Ok(Fill::Value(l.unwrap_or("").to_string())),
        (Kind::Enum(names), l) => {
            let v = match l {
                Some(l) => names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(l))
                    .cloned()
                    .ok_or_else(|| anyhow!("DEFAULT '{l}' is not a member of {}", c.column_type))?,
                None => names.first().cloned().unwrap_or_default(),
            };
            return Ok(Fill::Value(v));
        }
        (Kind::Set(_), None) => return Ok(Fill::Value(String::new())),
        (Kind::Date | Kind::DateTime, l) => match parse_datetime(l.unwrap_or("0000-00-00")) {
            Some(v) => v,
            None => return Ok(Fill::Unknown(format!("DEFAULT '{}'", l.unwrap_or("")))),
        },
        (Kind::Binary { .. }, None) => Value::Bytes(Vec::new()),
        (Kind::Binary { pad: None }, Some(l)) => Value::Bytes(l.as_bytes().to_vec()),
        (_, Some(l)) => return Ok(Fill::Unknown(format!("DEFAULT '{l}'"))),
        (_, None) => {
            return Ok(Fill::Unknown(
                "no DEFAULT (its type's implicit default)".into(),
            ))
        }
    };
    match to_pg_text(&col, &value) {
        Ok(Some(v)) => Ok(Fill::Value(v)),
        Ok(None) => Ok(Fill::Nothing),
        Err(e) => bail!("the DEFAULT of column `{}`: {e}", c.name),
    }
}

/// `YYYY-MM-DD[ hh:mm:ss[.ffffff]]` as the binlog's date value.
fn parse_datetime(s: &str) -> Option<Value> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let d: Vec<&str> = date.split('-').collect();
    let (sec_part, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = sec_part.split(':').collect();
    if d.len() != 3 || t.len() != 3 || frac.len() > 6 {
        return None;
    }
    let us = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some(Value::Date(
        d[0].parse().ok()?,
        d[1].parse().ok()?,
        d[2].parse().ok()?,
        t[0].parse().ok()?,
        t[1].parse().ok()?,
        t[2].parse().ok()?,
        us,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ddl::{parse, Ddl};

    fn table() -> SourceTable {
        SourceTable {
            schema: "d".into(),
            table: "t".into(),
            columns: vec![
                SourceColumn {
                    name: "id".into(),
                    data_type: "int".into(),
                    column_type: "int".into(),
                    charset: None,
                    nullable: false,
                },
                SourceColumn {
                    name: "v".into(),
                    data_type: "varchar".into(),
                    column_type: "varchar(10)".into(),
                    charset: Some("utf8mb4".into()),
                    nullable: true,
                },
            ],
            key: vec!["id".into()],
            charset: Some("latin1".into()),
        }
    }

    fn run(sql: &str) -> Result<(SourceTable, Vec<TargetStep>)> {
        let Ddl::Alter { ops, .. } = parse("d", sql).unwrap().remove(0) else {
            panic!()
        };
        let target = TableName {
            schema: "p".into(),
            table: "t".into(),
        };
        alter(
            &table(),
            &ops,
            &target,
            Follow {
                zero_date: ZeroDate::Null,
                keep_drops: false,
            },
        )
    }

    fn sqls(steps: &[TargetStep]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                TargetStep::Exec { sql, param } => format!(
                    "{sql}{}",
                    param
                        .as_ref()
                        .map(|p| format!(" <- {p}"))
                        .unwrap_or_default()
                ),
                TargetStep::RequireEmpty { why, .. } => format!("empty? {why}"),
                TargetStep::DropPrimaryKey { table } => format!("drop the primary key of {table}"),
            })
            .collect()
    }

    #[test]
    fn add_with_default_fills_existing_rows_as_a_parameter() {
        let (t, steps) = run("ALTER TABLE t ADD COLUMN n DECIMAL(5,2) NOT NULL DEFAULT '1.5' FIRST, ADD s VARCHAR(3) AFTER id").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["n", "id", "s", "v"],
            "source order follows FIRST / AFTER"
        );
        assert_eq!(
            t.columns[2].charset.as_deref(),
            Some("latin1"),
            "the table's default"
        );
        assert_eq!(
            sqls(&steps),
            vec![
                r#"ALTER TABLE "p"."t" ADD COLUMN IF NOT EXISTS "n" numeric(5,2)"#.to_string(),
                r#"UPDATE "p"."t" SET "n" = ($1::text)::numeric(5,2) <- 1.5"#.into(),
                r#"ALTER TABLE "p"."t" ALTER COLUMN "n" SET NOT NULL"#.into(),
                r#"ALTER TABLE "p"."t" ADD COLUMN IF NOT EXISTS "s" varchar(3)"#.into(),
            ]
        );
    }

    #[test]
    fn implicit_defaults_and_unknown_ones() {
        let (_, steps) = run("ALTER TABLE t ADD c INT UNSIGNED NOT NULL, ADD e ENUM('x','y') NOT NULL, ADD ts TIMESTAMP DEFAULT CURRENT_TIMESTAMP").unwrap();
        let s = sqls(&steps);
        assert!(s[1].ends_with("<- 0"), "{s:?}");
        assert!(s[4].ends_with("<- x"), "{s:?}");
        assert!(
            s.last()
                .unwrap()
                .starts_with("empty? column `ts` was added with DEFAULT CURRENT_TIMESTAMP"),
            "{s:?}"
        );
    }

    #[test]
    fn widen_rename_and_rekey() {
        let (t, steps) = run("ALTER TABLE t MODIFY id BIGINT NOT NULL, CHANGE v w VARCHAR(200), DROP PRIMARY KEY, ADD PRIMARY KEY (id, w)").unwrap();
        assert_eq!(t.key, vec!["id".to_string(), "w".into()]);
        assert_eq!(
            t.columns[1].charset.as_deref(),
            Some("latin1"),
            "MODIFY without a charset takes the table's"
        );
        let s = sqls(&steps);
        assert!(
            s[0].contains(r#"ALTER COLUMN "id" TYPE bigint USING "id"::bigint"#),
            "{s:?}"
        );
        assert!(s[1].contains(r#"RENAME COLUMN "v" TO "w""#), "{s:?}");
        assert!(s[2].contains("TYPE varchar(200)"), "{s:?}");
        assert!(
            s.last().unwrap().contains(r#"ADD PRIMARY KEY ("id", "w")"#),
            "{s:?}"
        );
        // Renaming a key column is no new key.
        let (t, steps) = run("ALTER TABLE t RENAME COLUMN id TO ident").unwrap();
        assert_eq!(t.key, vec!["ident".to_string()]);
        assert_eq!(steps.len(), 1);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(run("ALTER TABLE t DROP COLUMN nope").is_err());
        assert!(run("ALTER TABLE t DROP COLUMN IF EXISTS nope")
            .unwrap()
            .1
            .is_empty());
        assert!(run("ALTER TABLE t ADD COLUMN v INT").is_err());
        assert!(run("ALTER TABLE t DROP PRIMARY KEY").is_err());
        // Dropping the only key column leaves no key either.
        assert!(run("ALTER TABLE t DROP COLUMN id").is_err());
        // MODIFY of a key column without NOT NULL keeps it NOT NULL.
        let (t, steps) = run("ALTER TABLE t MODIFY id BIGINT AUTO_INCREMENT").unwrap();
        assert!(!t.columns[0].nullable);
        assert_eq!(steps.len(), 1, "{:?}", sqls(&steps));
        // Added in the same statement as a new default character set: gets it.
        let (t, _) = run("ALTER TABLE t ADD c VARCHAR(3), DEFAULT CHARSET=utf8mb4").unwrap();
        assert_eq!(t.columns[2].charset.as_deref(), Some("utf8mb4"));
        // A numbering MySQL does for existing rows is not in the binlog.
        let (_, steps) = run("ALTER TABLE t ADD seq INT NOT NULL AUTO_INCREMENT UNIQUE").unwrap();
        assert!(
            sqls(&steps).iter().any(|s| s.contains("AUTO_INCREMENT")),
            "{:?}",
            sqls(&steps)
        );
    }
}
