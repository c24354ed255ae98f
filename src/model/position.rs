//! Binlog positions: a file and the byte offset of the next event to read.

use std::fmt;
use std::sync::Arc;

use crate::model::mark::order;

/// A point in the server's binlog: the file and the byte offset of the next event to read.
///
/// Ordered as [`crate::model::mark::Mark`]s are: only within one binlog sequence (`partial_cmp` is `None`
/// across sequences), by file number, then offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub file: Arc<str>,
    pub pos: u64,
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        order((&self.file, self.pos, 0), (&other.file, other.pos, 0))
    }
}

impl Position {
    pub fn new(file: impl Into<Arc<str>>, pos: u64) -> Self {
        Position {
            file: file.into(),
            pos,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// The index in a binlog file name (`mysql-bin.000042` → 42), for the metrics.
pub fn file_index(file: &str) -> u64 {
    file.rsplit('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod file_index_tests {
    use super::*;

    #[test]
    fn file_index_of_names() {
        assert_eq!(file_index("mysql-bin.000042"), 42);
        assert_eq!(file_index("x"), 0);
    }
}
