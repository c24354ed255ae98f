//! The PostgreSQL / Greenplum side: the writer (apply workers) and the barriers it applies
//! between them (TRUNCATE).

pub mod barrier;
pub mod connect;
pub mod writer;
