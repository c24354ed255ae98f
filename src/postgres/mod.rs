//! The PostgreSQL / Greenplum side: the writer (apply workers), the barriers it applies
//! between them (TRUNCATE), and the targets of the initial load.

pub mod barrier;
pub mod connect;
pub mod initial;
pub mod writer;
