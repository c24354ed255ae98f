//! Where one change sits in the binlog, finer than a [`Position`]: the order the checkpoint,
//! the workers and the reader agree on.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::position::{file_index, Position};

/// Where one change sits in the binlog: file, start of its rows event, and its number within
/// the event (from 1; a TRUNCATE is marked with 0 at the end of its event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub file: Arc<str>,
    pub pos: u64,
    pub seq: u32,
}

impl Ord for Mark {
    fn cmp(&self, other: &Self) -> Ordering {
        (file_index(&self.file), &*self.file, self.pos, self.seq).cmp(&(
            file_index(&other.file),
            &*other.file,
            other.pos,
            other.seq,
        ))
    }
}

impl PartialOrd for Mark {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Mark {
    /// The mark of a transaction boundary.
    pub fn at(p: &Position) -> Mark {
        Mark {
            file: p.file.clone(),
            pos: p.pos,
            seq: 0,
        }
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
