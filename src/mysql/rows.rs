//! The row images of a rows event, decoded with a plan made once per table map.
//!
//! mysql_common's `RowsEventData::rows` works out every column's type, metadata, signedness and
//! charset from the table map again for every row (the metadata lookup walks all earlier
//! columns, so it is quadratic in the column count), and gives each value a `Column` with
//! owned schema, table and column names. A table map is the same for all the rows after it, so
//! [`RowPlan`] works that out once and decoding a row only reads values. The values themselves
//! are still decoded by mysql_common (`BinlogValue`), which is where the type knowledge lives.

use anyhow::{anyhow, bail, Result};
use mysql_common::binlog::events::{OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;
use mysql_common::Value;

/// One column as the rows of its table map are written.
#[derive(Debug, Clone, PartialEq)]
struct ColumnPlan {
    ty: ColumnType,
    meta: Vec<u8>,
    unsigned: bool,
}

/// What decoding needs of a table map, worked out once.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    columns: Vec<ColumnPlan>,
    /// The table map it was made from: the server repeats it before every transaction's rows,
    /// and comparing bytes is cheaper than making the plan again.
    made_from: TableMapEvent<'static>,
}

/// A row's before and after images (each as present: a delete has no after image), values in
/// binlog column order.
pub type RowImages = (Option<Vec<Value>>, Option<Vec<Value>>);

impl RowPlan {
    pub fn new(tme: &TableMapEvent<'_>) -> Result<RowPlan> {
        let count = tme.columns_count() as usize;
        let optional = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| anyhow!("cannot read the table map's optional metadata: {e}"))?;
        // One flag per numeric column, in column order (absent with binlog_row_metadata=MINIMAL
        // on MySQL; the schema's unsigned flag then decides in `convert`).
        let mut signedness = optional.iter_signedness();
        let mut columns = Vec::with_capacity(count);
        for i in 0..count {
            let ty = match tme.get_column_type(i) {
                Ok(Some(t)) => t,
                Ok(None) => bail!("the table map names no type for column {i}"),
                Err(e) => bail!("column {i}: {e}"),
            };
            // Walks the metadata of every earlier column: once per table map, not per row.
            let meta = tme
                .get_column_metadata(i)
                .ok_or_else(|| anyhow!("cannot read the metadata of column {i} ({ty:?})"))?;
            let unsigned = ty.is_numeric_type() && signedness.next().unwrap_or(false);
            columns.push(ColumnPlan {
                ty,
                meta: meta.to_vec(),
                unsigned,
            });
        }
        Ok(RowPlan {
            columns,
            made_from: tme.clone().into_owned(),
        })
    }

    /// Whether `tme` is the table map this plan was made from (same table, same columns).
    pub fn made_from(&self, tme: &TableMapEvent<'_>) -> bool {
        self.made_from == *tme
    }

    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// Every row of the event. A partial JSON update (a diff, not a value) is refused: applying
    /// it would need the old document, and guessing would write a wrong value.
    pub fn rows(&self, event: &RowsEventData<'_>) -> Result<Vec<RowImages>> {
        if matches!(event, RowsEventData::PartialUpdateRowsEvent(_)) {
            bail!(
                "partial JSON update (binlog_row_value_options = PARTIAL_JSON): switch it off on the \
                 server (SET GLOBAL binlog_row_value_options = '') and re-load the table"
            );
        }
        if event.num_columns() as usize != self.columns.len() {
            bail!(
                "the rows event has {} columns, its table map {}",
                event.num_columns(),
                self.columns.len()
            );
        }
        let n = self.columns.len();
        let before = event.columns_before_image().map(|b| {
            (0..n)
                .map(|i| b.get(i).is_some_and(|x| *x))
                .collect::<Vec<bool>>()
        });
        let after = event.columns_after_image().map(|b| {
            (0..n)
                .map(|i| b.get(i).is_some_and(|x| *x))
                .collect::<Vec<bool>>()
        });
        let mut buf = ParseBuf(event.rows_data());
        let mut rows = Vec::new();
        while !buf.is_empty() {
            let b = before
                .as_deref()
                .map(|cols| self.image(cols, &mut buf))
                .transpose()?;
            let a = after
                .as_deref()
                .map(|cols| self.image(cols, &mut buf))
                .transpose()?;
            rows.push((b, a));
        }
        Ok(rows)
    }

    /// One image: the null bitmap of its present columns, then their non-null values.
    fn image<'a>(&'a self, present: &[bool], buf: &mut ParseBuf<'a>) -> Result<Vec<Value>> {
        let n = present.iter().filter(|p| **p).count();
        let nulls: &[u8] = buf
            .checked_eat(n.div_ceil(8))
            .ok_or_else(|| anyhow!("a row image ends inside its null bitmap"))?;
        let mut values = Vec::with_capacity(n);
        for (col, _) in self.columns.iter().zip(present).filter(|(_, p)| **p) {
            let j = values.len();
            if nulls[j / 8] & (1 << (j % 8)) != 0 {
                values.push(Value::NULL);
                continue;
            }
            let ctx = (col.ty, col.meta.as_slice(), col.unsigned, false);
            let v = BinlogValue::deserialize(ctx, buf)
                .map_err(|e| anyhow!("cannot decode a {:?} value: {e}", col.ty))?;
            values.push(binlog_value(v)?);
        }
        Ok(values)
    }
}

/// A decoded binlog value as a plain value: MySQL's binary JSON becomes JSON text (with
/// DECIMAL, DATE and TIME scalars kept in MySQL's form, see `convert::json_text`).
pub fn binlog_value(v: BinlogValue<'_>) -> Result<Value> {
    match v {
        BinlogValue::Value(v) => Ok(v),
        BinlogValue::Jsonb(j) => {
            let dom = j
                .parse()
                .map_err(|e| anyhow!("cannot read a binary JSON value: {e}"))?;
            Ok(Value::Bytes(crate::convert::json_text(&dom).into_bytes()))
        }
        BinlogValue::JsonDiff(_) => Err(anyhow!(
            "partial JSON update (binlog_row_value_options = PARTIAL_JSON): switch it off on the server \
             (SET GLOBAL binlog_row_value_options = '') and re-load the table"
        )),
    }
}
