//! The end-to-end suite, one test binary: the real `mysql-gp-sync` binary against real
//! MariaDB / MySQL and PostgreSQL servers started by `scripts/test-env.sh`. `support` is the
//! harness; each other module is one area. Run one area with a filter, e.g.
//! `cargo test --test e2e -- sync::`. Tests that use the servers hold them shared or
//! exclusively ([`support::Servers`]), so the suite can run under any runner.

mod support;

mod charsets;
mod checkpoint;
mod consistency;
mod errors;
mod failover;
mod faults;
mod field;
mod greenplum;
mod gtid;
mod history;
mod hostile;
mod init;
mod observability;
mod ops;
mod schema_changes;
mod standby;
mod sync;
mod tls;
mod types;
