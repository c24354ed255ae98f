//! Where one change sits in the binlog, finer than a [`Position`]: the order the checkpoint,
//! the workers and the reader agree on.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::position::{file_index, Position};

/// Where one change sits in the binlog: file, start of its rows event, and its number within
/// the event (from 1; a TRUNCATE is marked with 0 at the end of its event).
///
/// Marks are ordered only within one binlog sequence (the same base name): `partial_cmp` of
/// marks in different sequences is `None`, so `<`, `<=`, `>` and `>=` between them are all
/// false, and no caller can take an order that means nothing for one that does. Within a
/// sequence the file's number orders first (`.1000000` after `.999999`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub file: Arc<str>,
    pub pos: u64,
    pub seq: u32,
}

impl PartialOrd for Mark {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        order(
            (&self.file, self.pos, self.seq),
            (&other.file, other.pos, other.seq),
        )
    }
}

/// The order of two places (file, offset, number within the event) of one binlog sequence;
/// `None` across sequences. What both [`Mark`] and [`Position`] order by.
pub(crate) fn order(a: (&str, u64, u32), b: (&str, u64, u32)) -> Option<Ordering> {
    (binlog_base(a.0) == binlog_base(b.0)).then(|| cmp_any(a, b))
}

/// File number, file name, offset, number.
fn cmp_any(a: (&str, u64, u32), b: (&str, u64, u32)) -> Ordering {
    (file_index(a.0), a.0, a.1, a.2).cmp(&(file_index(b.0), b.0, b.1, b.2))
}

impl Mark {
    pub fn new(file: impl Into<Arc<str>>, pos: u64, seq: u32) -> Mark {
        Mark {
            file: file.into(),
            pos,
            seq,
        }
    }

    /// The mark of a transaction boundary.
    pub fn at(p: &Position) -> Mark {
        Mark {
            file: p.file.clone(),
            pos: p.pos,
            seq: 0,
        }
    }

    /// An order over marks of every sequence: by file number, file name, offset and number. It
    /// says which came first only within one sequence ([`PartialOrd`]); across sequences it is
    /// merely stable, for the one reader that must pick among marks of several (the schema
    /// history: the latest definition whatever sequence it was recorded in, as the file
    /// numbers of a new server usually go on from the old one's).
    pub fn cmp_any(&self, other: &Mark) -> Ordering {
        cmp_any(
            (&self.file, self.pos, self.seq),
            (&other.file, other.pos, other.seq),
        )
    }

    /// Whether two marks are in the same binlog sequence (same base name, `mysql-bin` of
    /// `mysql-bin.000042`): only then does their order say which came first.
    pub fn same_sequence(&self, other: &Mark) -> bool {
        binlog_base(&self.file) == binlog_base(&other.file)
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}#{}", self.file, self.pos, self.seq)
    }
}

/// The base name of a binlog file (`mysql-bin` of `mysql-bin.000042`).
pub fn binlog_base(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_order_by_file_index_then_position() {
        let m = Mark::new;
        assert!(m("b.000009", 900, 5) < m("b.000010", 4, 1));
        assert!(
            m("b.999999", 900, 5) < m("b.1000000", 4, 1),
            "numeric, not lexical"
        );
        assert!(
            m("b.000001", 100, 0) < m("b.000001", 100, 1),
            "a truncate precedes a change at its end"
        );
    }

    #[test]
    fn marks_order_within_a_sequence_only() {
        let m = Mark::new;
        let other = m("other.000009", 4, 0);
        assert_eq!(m("b.000001", 4, 0).partial_cmp(&other), None);
        let a = m("b.000001", 4, 0);
        let (lt, ge) = (a < other, a >= other);
        assert!(!lt && !ge, "no order across sequences");
        let p = |f: &str, n| Position::new(f, n);
        assert!(p("b.000002", 4) > p("b.000001", 900));
        assert_eq!(p("b.000002", 4).partial_cmp(&p("c.000001", 4)), None);
    }
}
