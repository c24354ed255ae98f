//! What survives a restart: `master.info`, the transactional checkpoint in PostgreSQL, the
//! progress of an interrupted `init`, the tables being reloaded by `init --tables`, and the
//! acknowledgement window that decides how far positions may move.

pub mod checkpoint;
pub mod init_state;
pub mod master_info;
pub mod reload;
pub mod window;
