//! What survives a restart: the transactional checkpoint in PostgreSQL and the tables being
//! reloaded by `init --tables`.

pub mod checkpoint;
pub mod master_info;
pub mod reload;
pub mod window;
