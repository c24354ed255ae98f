//! mysql-gp-sync: MySQL / MariaDB binlog → PostgreSQL / Greenplum.
//!
//! Rooms by role, named after what they speak to; imports point down this list, never up
//! (docs/architecture.md; `tests/layout.rs` checks it):
//! - [`config`], [`error`], [`sql`], [`tls`]: leaves (settings, the error taxonomy and retry
//!   policy, PostgreSQL SQL text, TLS set-up);
//! - [`model`]: positions, marks, histories, changes, column kinds, table rules and tables;
//! - [`convert`]: MySQL values (and character sets) to PostgreSQL text;
//! - [`catalog`]: what a table looks like on both sides, and schema changes;
//! - [`state`]: what survives a restart: `master.info`, the checkpoint, reloads, the lease;
//! - [`ops`]: metrics, status, logging;
//! - [`window`]: the acknowledgement window, in-memory flow control between the reader and
//!   the workers (how far the saved position may move);
//! - [`mysql`]: the MySQL / MariaDB side: connection, binlog reader, rows, statements;
//! - [`postgres`]: the PostgreSQL / Greenplum side: connection, the writer (apply workers);
//! - [`pipeline`]: wiring reader → workers → ack window → saved positions;
//! - [`commands`]: what `main.rs` runs (`run`, `init`, `check`, `schema`).

pub mod catalog;
pub mod commands;
pub mod config;
pub mod convert;
pub mod error;
pub mod model;
pub mod mysql;
pub mod ops;
pub mod pipeline;
pub mod postgres;
pub mod sql;
pub mod state;
pub mod tls;
pub mod window;
