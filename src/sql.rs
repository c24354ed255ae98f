//! The PostgreSQL statements the workers run, built once per table.
//!
//! Every statement takes one `text[]` parameter per column and `unnest`s them, so a whole batch
//! is one round trip and values travel as parameters, never spliced into SQL. Each value is cast
//! from text to the column's base type (no typmod: an explicit cast to `varchar(n)` would
//! silently truncate, while the assignment into the column checks the length and errors).

/// An identifier, or a schema-qualified name, quoted for PostgreSQL (`"a""b"`, `"s"."t"`):
/// SQL text built from it needs no further quoting, and a plain `&str` cannot pass for one,
/// so quoting is a type rather than a promise in a comment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quoted(String);

impl Quoted {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Quoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Joins like strings (`names.join(", ")`).
impl std::borrow::Borrow<str> for Quoted {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A string as a PostgreSQL literal, for the few texts a statement cannot take as a parameter
/// (an `ALTER … USING` expression, where PostgreSQL allows none): quotes doubled, and a
/// backslash doubled inside `E'…'`, so the text reads back as itself whatever
/// `standard_conforming_strings` says. Row values never go this way.
pub fn literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Quotes an identifier the way PostgreSQL does (`"a""b"`), always, whatever its case.
pub fn quote_ident(name: &str) -> Quoted {
    Quoted(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, table: &str) -> Quoted {
    Quoted(format!("{}.{}", quote_ident(schema), quote_ident(table)))
}

/// `INSERT … SELECT … FROM unnest(…) ON CONFLICT (key) DO UPDATE SET` every non-key column.
pub fn upsert(table: &Quoted, columns: &[(&str, &str)], key: &[usize]) -> String {
    let names: Vec<String> = columns.iter().map(|(n, _)| quote_ident(n).0).collect();
    let (arrays, casts) = unnest_parts(columns);
    let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    let conflict: Vec<&str> = key.iter().map(|&k| names[k].as_str()).collect();
    let updates: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| !key.contains(i))
        .map(|(_, n)| format!("{n} = EXCLUDED.{n}"))
        .collect();
    let action = if updates.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS u({}) ON CONFLICT ({}) DO {action}",
        names.join(", "),
        casts.join(", "),
        arrays.join(", "),
        aliases.join(", "),
        conflict.join(", "),
    )
}

/// `INSERT … SELECT … FROM unnest(…)` without `ON CONFLICT`, for Greenplum, which has none
/// (6) or refuses it on distribution keys (7): there a batch deletes its keys first.
pub fn insert(table: &Quoted, columns: &[(&str, &str)]) -> String {
    let names: Vec<String> = columns.iter().map(|(n, _)| quote_ident(n).0).collect();
    let (arrays, casts) = unnest_parts(columns);
    let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS u({})",
        names.join(", "),
        casts.join(", "),
        arrays.join(", "),
        aliases.join(", "),
    )
}

/// One statement for every key of a batch: `= ANY(array)` for a single-column key (an index
/// scan the planner sizes by the array), `USING unnest(…)` for a composite one.
pub fn delete(table: &Quoted, key_columns: &[(&str, &str)]) -> String {
    if let [(name, ty)] = key_columns {
        return format!(
            "DELETE FROM {table} WHERE {} = ANY($1::text[]::{ty}[])",
            quote_ident(name)
        );
    }
    let (arrays, casts) = unnest_parts(key_columns);
    let aliases: Vec<String> = (1..=key_columns.len()).map(|i| format!("c{i}")).collect();
    let conds: Vec<String> = key_columns
        .iter()
        .zip(&casts)
        .map(|((n, _), cast)| format!("t.{} = {cast}", quote_ident(n)))
        .collect();
    format!(
        "DELETE FROM {table} AS t USING unnest({}) AS u({}) WHERE {}",
        arrays.join(", "),
        aliases.join(", "),
        conds.join(" AND "),
    )
}

/// `COPY … FROM STDIN` (text format) into every column: the fast path for rows that are new
/// to the table (see `apply`), since it skips the conflict check and the casts of `unnest`.
pub fn copy_in(table: &Quoted, columns: &[(&str, &str)]) -> String {
    let names: Vec<String> = columns.iter().map(|(n, _)| quote_ident(n).0).collect();
    format!("COPY {table} ({}) FROM STDIN", names.join(", "))
}

/// Appends one value to a COPY text-format row: `\N` for NULL, and the backslash, tab,
/// newline and carriage return escaped so they stay data.
pub fn copy_field(out: &mut impl bytes::BufMut, value: Option<&str>) {
    let Some(v) = value else {
        out.put_slice(b"\\N");
        return;
    };
    let mut rest = v.as_bytes();
    // One pass the compiler can vectorise finds most values plain (no byte at or below \r,
    // no backslash); only the others are scanned for the bytes to escape.
    if !rest
        .iter()
        .fold(false, |any, &b| any | (b <= b'\r') | (b == b'\\'))
    {
        out.put_slice(rest);
        return;
    }
    let special = |b: &u8| matches!(b, b'\\' | b'\t' | b'\n' | b'\r');
    // Copy the runs between special bytes whole: most values have none.
    while let Some(i) = rest.iter().position(special) {
        out.put_slice(&rest[..i]);
        out.put_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            _ => b"\\r",
        });
        rest = &rest[i + 1..];
    }
    out.put_slice(rest);
}

/// `TRUNCATE` of a target table.
pub fn truncate(table: &Quoted) -> String {
    format!("TRUNCATE TABLE {table}")
}

fn unnest_parts(columns: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let arrays = (1..=columns.len())
        .map(|i| format!("${i}::text[]"))
        .collect();
    let casts = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("u.c{}::{ty}", i + 1))
        .collect();
    (arrays, casts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_back_as_themselves() {
        assert_eq!(literal("b2b"), "'b2b'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            literal("a\\'; DROP TABLE x; --"),
            "E'a\\\\''; DROP TABLE x; --'"
        );
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("Order").as_str(), "\"Order\"");
        assert_eq!(
            quote_ident("a\"; DROP TABLE x; --").as_str(),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(qualified("s", "t").as_str(), "\"s\".\"t\"");
    }

    #[test]
    fn upsert_updates_non_key_columns_from_excluded() {
        let sql = upsert(
            &qualified("s", "t"),
            &[("id", "integer"), ("v", "numeric"), ("w", "text")],
            &[0],
        );
        assert_eq!(
            sql,
            "INSERT INTO \"s\".\"t\" (\"id\", \"v\", \"w\") SELECT u.c1::integer, u.c2::numeric, u.c3::text \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS u(c1, c2, c3) \
             ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\", \"w\" = EXCLUDED.\"w\""
        );
    }

    #[test]
    fn all_key_table_does_nothing_on_conflict() {
        let sql = upsert(
            &qualified("s", "t"),
            &[("a", "integer"), ("b", "integer")],
            &[0, 1],
        );
        assert!(
            sql.ends_with("ON CONFLICT (\"a\", \"b\") DO NOTHING"),
            "{sql}"
        );
    }

    #[test]
    fn plain_insert_has_no_conflict_clause() {
        let sql = insert(&qualified("s", "t"), &[("a", "integer"), ("b", "text")]);
        assert_eq!(
            sql,
            "INSERT INTO \"s\".\"t\" (\"a\", \"b\") SELECT u.c1::integer, u.c2::text FROM unnest($1::text[], $2::text[]) AS u(c1, c2)"
        );
    }

    #[test]
    fn copy_quotes_columns_and_escapes_data() {
        assert_eq!(
            copy_in(
                &qualified("s", "t"),
                &[("id", "integer"), ("Order by", "text")]
            ),
            "COPY \"s\".\"t\" (\"id\", \"Order by\") FROM STDIN"
        );
        let mut row = Vec::new();
        copy_field(&mut row, Some("a\\b\tc\nd\re \\N"));
        row.push(b'\t');
        copy_field(&mut row, None);
        row.push(b'\t');
        copy_field(&mut row, Some("\\x00ff"));
        assert_eq!(row, b"a\\\\b\\tc\\nd\\re \\\\N\t\\N\t\\\\x00ff");
        // The initial load writes into a BytesMut with the same function.
        let mut b = bytes::BytesMut::new();
        copy_field(&mut b, Some("a\tb\\c\nd\re\\x00"));
        assert_eq!(&b[..], b"a\\tb\\\\c\\nd\\re\\\\x00");
    }

    #[test]
    fn single_key_delete_uses_any() {
        assert_eq!(
            delete(&qualified("s", "t"), &[("id", "integer")]),
            "DELETE FROM \"s\".\"t\" WHERE \"id\" = ANY($1::text[]::integer[])"
        );
    }

    #[test]
    fn delete_joins_on_every_key_column() {
        let sql = delete(&qualified("s", "t"), &[("a", "integer"), ("b", "text")]);
        assert_eq!(
            sql,
            "DELETE FROM \"s\".\"t\" AS t USING unnest($1::text[], $2::text[]) AS u(c1, c2) \
             WHERE t.\"a\" = u.c1::integer AND t.\"b\" = u.c2::text"
        );
    }
}
