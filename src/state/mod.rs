//! What survives a restart: `master.info`, the transactional checkpoint in PostgreSQL, the
//! progress of an interrupted `init`, the tables being reloaded by `init --tables`, the schema
//! history, and the lease that decides which of several syncs applies; `install` creates their
//! tables in PostgreSQL.

pub mod checkpoint;
pub mod init_state;
pub mod install;
pub mod lease;
pub mod master_info;
pub mod reload;
pub mod schema_history;
