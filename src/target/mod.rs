//! The PostgreSQL / Greenplum side: the writer (apply workers).

pub mod connect;
pub mod writer;
