//! The hand-written part of the DDL parser: an `ALTER TABLE`'s clauses split at the top level,
//! comments stripped, `IF [NOT] EXISTS` taken off, and the clauses that change nothing the sync
//! replicates recognised by their leading words.

use super::*;

pub(super) enum Clause {
    NoEffect,
    /// Rows change without row events (`DROP PARTITION`, `TRUNCATE PARTITION`, …).
    LosesRows,
    Unsupported,
    Charset(String),
    Parse,
}

/// Classifies an `ALTER TABLE` clause by its first words.
pub(super) fn no_effect(w: &[String]) -> Clause {
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

pub(super) fn strip_if_exists(clause: &str) -> (String, bool, bool) {
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

/// The bytes of `sql` outside quotes (`'…'`, `"…"`, `` `…` ``; a backslash escapes the next
/// byte inside the first two, and a doubled quote closes and reopens), with their offsets; the
/// quote characters count as inside. The one quote scanner of the clauses below.
fn unquoted(sql: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut quote, mut escaped) = (None::<u8>, false);
    sql.bytes().enumerate().filter_map(move |(i, c)| {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == b'\\' && q != b'`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            return None;
        }
        if matches!(c, b'\'' | b'"' | b'`') {
            quote = Some(c);
            return None;
        }
        Some((i, c))
    })
}

/// Splits at commas outside parentheses and quotes.
pub(super) fn split_top_level(s: &str) -> Vec<String> {
    let mut depth = 0i32;
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in unquoted(s) {
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b',' if depth == 0 => {
                out.push(s[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].to_string());
    out
}

/// The statement without comments (`/* … */`, `-- …`, `# …`) outside quotes, trimmed.
/// MySQL's executable comments (`/*!50100 … */`) keep their text.
pub(super) fn strip_comments(sql: &str) -> String {
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
                // `/*!NNNNN text */` (MySQL) and `/*M!NNNNNN text */` (MariaDB): the text
                // counts, as the server that wrote the binlog ran it.
                let skip = match (b.get(i + 2), b.get(i + 3)) {
                    (Some('!'), _) => Some(3),
                    (Some('M'), Some('!')) => Some(4),
                    _ => None,
                };
                if let Some(skip) = skip {
                    let inner: String = b[(i + skip).min(end)..end.min(b.len())].iter().collect();
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

/// MariaDB's spellings that sqlparser's MySQL dialect lacks, said its way, outside quotes:
/// `PERSISTENT` (MariaDB's `STORED`) for generated columns; column attributes that change
/// nothing the sync reads (`INVISIBLE`, `COMPRESSED`, but not `ROW_FORMAT=COMPRESSED`) and the
/// table option `WITH[OUT] SYSTEM VERSIONING` dropped.
pub(super) fn normalize_spellings(sql: &str) -> String {
    // Words outside quotes, with where they start and end (a word's bytes are consecutive;
    // bytes of non-ASCII letters are all >= 0x80, so a word ends on a character boundary).
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut words: Vec<(usize, usize)> = Vec::new();
    for (i, _) in unquoted(sql).filter(|&(_, c)| is_word(c)) {
        match words.last_mut() {
            Some((_, end)) if *end == i => *end = i + 1,
            _ => words.push((i, i + 1)),
        }
    }
    let word = |k: usize| -> String {
        words
            .get(k)
            .map(|&(s, e)| sql[s..e].to_ascii_uppercase())
            .unwrap_or_default()
    };
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    let mut k = 0;
    while k < words.len() {
        let s = words[k].0;
        let before = sql[..s].trim_end();
        let (replace, span) = match word(k).as_str() {
            "PERSISTENT" => (Some("STORED"), 1),
            "INVISIBLE" => (Some(""), 1),
            "COMPRESSED" if !before.ends_with('=') => (Some(""), 1),
            "WITH" | "WITHOUT" if word(k + 1) == "SYSTEM" && word(k + 2) == "VERSIONING" => {
                (Some(""), 3)
            }
            _ => (None, 1),
        };
        if let Some(r) = replace {
            let end = words[k + span - 1].1;
            out.push_str(&sql[at..s]);
            out.push_str(r);
            at = end;
        }
        k += span;
    }
    out.push_str(&sql[at..]);
    out
}

/// A `CREATE TABLE name (definitions) options` cut after its definitions; `None` for any
/// other statement.
pub(super) fn definitions_only(sql: &str) -> Option<String> {
    let lower = sql.trim_start().to_ascii_lowercase();
    if !lower.starts_with("create") || !lower.contains("table") {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in unquoted(sql) {
        match c {
            b'(' => depth += 1,
            b')' if depth == 1 => return Some(sql[..=i].to_string()),
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_split_only_outside_quotes_and_parentheses() {
        let parts = split_top_level(
            "ADD a ENUM('x,y', 'it''s, \\', ok') , MODIFY b DECIMAL(5,2) COMMENT \"c,d\", DROP `e,f`",
        );
        assert_eq!(
            parts,
            vec![
                "ADD a ENUM('x,y', 'it''s, \\', ok') ",
                " MODIFY b DECIMAL(5,2) COMMENT \"c,d\"",
                " DROP `e,f`",
            ]
        );
        assert_eq!(
            definitions_only("CREATE TABLE t (a INT COMMENT ')', b INT) PAGE_COMPRESSED=1")
                .as_deref(),
            Some("CREATE TABLE t (a INT COMMENT ')', b INT)")
        );
        assert_eq!(
            normalize_spellings("x INT AS (y) PERSISTENT COMMENT 'PERSISTENT', z TEXT COMPRESSED) ROW_FORMAT=COMPRESSED"),
            "x INT AS (y) STORED COMMENT 'PERSISTENT', z TEXT ) ROW_FORMAT=COMPRESSED"
        );
    }
}
