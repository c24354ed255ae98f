//! mysql-gp-sync: MySQL / MariaDB binlog → PostgreSQL / Greenplum, one module per concern.

pub mod apply;
pub mod binlog;
pub mod change;
pub mod charset;
pub mod check;
pub mod checkpoint;
pub mod config;
pub mod convert;
pub mod logging;
pub mod metrics;
pub mod position;
pub mod reload;
pub mod rows;
pub mod rules;
pub mod schema;
pub mod snapshot;
pub mod sql;
pub mod statement;
pub mod status;
pub mod sync;
pub mod tls;
pub mod types;
pub mod window;
