//! A parsed column definition as a [`ColumnSpec`]: MySQL's type names, its options, its default,
//! its character set.

use super::*;

pub(super) fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Result<Vec<String>> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => Ok(i.value.clone()),
            // `PRIMARY KEY (a(10))`: a prefix does not identify a row.
            other => bail!("key part `{other}` is not a whole column"),
        })
        .collect()
}

pub(super) fn column_def_spec(c: &ColumnDef) -> Result<ColumnSpec> {
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
pub(super) fn column_spec(
    name: &str,
    dt: &DataType,
    options: &[impl AsOption],
) -> Result<ColumnSpec> {
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
pub(super) trait AsOption {
    fn option(&self) -> &ColumnOption;
}
impl AsOption for ColumnOption {
    fn option(&self) -> &ColumnOption {
        self
    }
}

pub(super) fn default_of(e: &Expr) -> DefaultValue {
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
pub(super) fn charset_of_collation(c: &str) -> String {
    match c.split_once('_') {
        Some((cs, _)) => cs.to_string(),
        None => c.to_string(),
    }
}

/// The table's `DEFAULT CHARSET` / `COLLATE` after its column list, if written.
pub(super) fn table_charset(text: &str) -> Option<String> {
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
pub(super) fn mysql_types(dt: &DataType) -> Result<(String, String)> {
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
