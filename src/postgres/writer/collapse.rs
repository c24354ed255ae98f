//! A batch collapsed to the last change per target row, grouped by statement. Pure.
//!
//! The end state of a row after a sequence of full-image upserts and deletes is the last one,
//! and `ON CONFLICT` may not see one key twice in a statement.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use mysql_async::Value;

use super::encode::{field_text, Group, Text};
use crate::model::change::{Change, Op, RowKind};
use crate::model::name::TableName;
use crate::model::table::TableMeta;

/// Keeps the last change per target row, grouped by statement (not yet encoded: see
/// [`Group::encode`]), deletes first. Rows are told apart by their key as PostgreSQL text,
/// so two source values PostgreSQL holds as one key are one row here too.
pub fn collapse(batch: &[Change]) -> Result<Vec<Group<'_>>> {
    // Per target row: the kind of its first change in the batch, and the index of its last.
    let mut last: HashMap<(&TableName, RowKey), (RowKind, usize), _> =
        HashMap::with_capacity_and_hasher(batch.len(), foldhash::fast::RandomState::default());
    let mut text = String::new();
    for (i, ch) in batch.iter().enumerate() {
        let key = match int_key(ch) {
            Some(n) => RowKey::Int(n),
            None => RowKey::Text(
                ch.table
                    .key
                    .iter()
                    .map(|&k| Ok(field_text(ch, k, &mut text)?.then(|| text.clone())))
                    .collect::<Result<Vec<Text>>>()?,
            ),
        };
        last.entry((&ch.table.target, key))
            .and_modify(|e| e.1 = i)
            .or_insert((ch.kind, i));
    }
    let mut keep: Vec<(usize, bool)> = last
        .into_values()
        .map(|(first, i)| {
            (
                i,
                first == RowKind::Insert && batch[i].kind == RowKind::Insert,
            )
        })
        .collect();
    keep.sort_unstable();

    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(*const TableMeta, Op), usize> = HashMap::new();
    for (i, fresh) in keep {
        let ch = &batch[i];
        let gi = *index
            .entry((Arc::as_ptr(&ch.table), ch.op))
            .or_insert_with(|| {
                groups.push(Group {
                    meta: &ch.table,
                    op: ch.op,
                    changes: Vec::new(),
                    fresh: true,
                    columns: Vec::new(),
                    copy: None,
                });
                groups.len() - 1
            });
        let g = &mut groups[gi];
        g.changes.push(ch);
        g.fresh &= fresh;
    }
    // Deletes first: within a batch each row appears once, so order only matters for
    // other unique constraints, where freeing a value before reusing it is the safe order.
    groups.sort_by_key(|g| g.op == Op::Upsert);
    Ok(groups)
}

/// A target row's key as PostgreSQL will compare it: its text, or for a key of one integer
/// column the number itself (the text of an integer is its decimal digits, so the two tell
/// rows apart alike, and the number needs no allocation).
#[derive(PartialEq, Eq, Hash)]
enum RowKey {
    Int(i128),
    Text(Vec<Text>),
}

/// The key of `ch` as a number, when it is one integer column.
fn int_key(ch: &Change) -> Option<i128> {
    let [k] = ch.table.key[..] else {
        return None;
    };
    let crate::model::kind::Kind::Int { bits, unsigned } = ch.table.columns[k].kind else {
        return None;
    };
    match ch.row[k] {
        Value::Int(i) if unsigned && i < 0 => Some(crate::convert::unsigned_of(i, bits) as i128),
        Value::Int(i) => Some(i as i128),
        Value::UInt(u) => Some(u as i128),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::writer::test_support::{change, table};

    /// (op, fresh, keys) of each group, deletes first.
    fn shape(batch: &[Change]) -> Vec<(Op, bool, Vec<Option<String>>)> {
        collapse(batch)
            .unwrap()
            .into_iter()
            .map(|mut g| {
                g.encode(false).unwrap();
                (g.op, g.fresh, g.columns[0].clone())
            })
            .collect()
    }

    fn keys(k: &[i64]) -> Vec<Option<String>> {
        k.iter().map(|k| Some(k.to_string())).collect()
    }

    #[test]
    fn only_keys_first_and_last_inserted_in_the_batch_are_fresh() {
        use RowKind::*;
        let t = table("t");
        // Inserted (even deleted and inserted again in between): new to the table.
        let b = [
            change(&t, Insert, 1, 1),
            change(&t, Insert, 2, 1),
            change(&t, Delete, 2, 1),
            change(&t, Insert, 2, 2),
        ];
        assert_eq!(shape(&b), vec![(Op::Upsert, true, keys(&[1, 2]))]);
        // Deleted first: the key existed before the batch, so no COPY for its group.
        let b = [
            change(&t, Delete, 3, 1),
            change(&t, Insert, 3, 2),
            change(&t, Insert, 4, 1),
        ];
        assert_eq!(shape(&b), vec![(Op::Upsert, false, keys(&[3, 4]))]);
        // Updated last, or an update's new key: existed, or may have.
        let b = [change(&t, Insert, 5, 1), change(&t, Update, 5, 2)];
        assert_eq!(shape(&b), vec![(Op::Upsert, false, keys(&[5]))]);
        let b = [change(&t, KeyMove, 6, 1), change(&t, Update, 7, 1)];
        assert_eq!(
            shape(&b),
            vec![
                (Op::Delete, false, keys(&[6])),
                (Op::Upsert, false, keys(&[7]))
            ]
        );
    }

    #[test]
    fn the_last_change_of_a_row_wins_and_tables_are_apart() {
        use RowKind::*;
        let (a, b) = (table("a"), table("b"));
        let batch = [
            change(&a, Insert, 1, 1),
            change(&b, Insert, 1, 9),
            change(&a, Update, 1, 2),
            change(&a, Delete, 1, 2),
        ];
        let groups = collapse(&batch).unwrap();
        let got: Vec<(String, Op, usize)> = groups
            .iter()
            .map(|g| (g.meta.target.table.clone(), g.op, g.changes.len()))
            .collect();
        assert_eq!(
            got,
            vec![("a".into(), Op::Delete, 1), ("b".into(), Op::Upsert, 1)]
        );
    }
}
