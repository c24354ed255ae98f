//! mysql-gp-sync: MySQL / MariaDB binlog → PostgreSQL / Greenplum.
//!
//! Rooms by role; imports point down this list, never up (see docs/architecture.md):
//! - [`config`], [`error`], [`sql`], [`tls`]: leaves (settings, the error taxonomy and retry
//!   policy, PostgreSQL SQL text, TLS set-up);
//! - [`model`]: positions, marks, changes, column kinds, table rules and resolved tables;
//! - [`convert`]: MySQL values (and character sets) to PostgreSQL text;
//! - [`source`]: the MySQL side: connection, binlog reader, rows, statements, catalog;
//! - [`state`]: what survives a restart: `master.info`, the checkpoint, reloads;
//! - [`target`]: the PostgreSQL side: connection, catalog, the writer (apply workers);
//! - [`pipeline`]: wiring reader → workers → ack window → saved positions;
//! - [`ops`]: metrics, status, logging;
//! - [`commands`]: what `main.rs` runs (`run`, `init`, `check`, `schema`).

pub mod catalog;
pub mod commands;
pub mod config;
pub mod convert;
pub mod error;
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod source;
pub mod sql;
pub mod state;
pub mod target;
pub mod tls;
