//! What the sync is about, independent of either server's connection: binlog positions and
//! marks, one row change, column kinds, which tables go where.

pub mod change;
pub mod charset;
pub mod gtid;
pub mod history;
pub mod kind;
pub mod mark;
pub mod name;
pub mod position;
pub mod rules;
pub mod source_table;
pub mod table;
