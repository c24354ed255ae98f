//! The MySQL / MariaDB side: the binlog reader (a replica connection), row decoding, what a
//! QUERY event means, and the consistent snapshot the initial load reads.

pub mod connect;
pub mod history;
pub mod layout;
pub mod reader;
pub mod rows;
pub mod snapshot;
pub mod statement;
