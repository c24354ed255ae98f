//! `init.state`: how far an interrupted initial load got (see `commands::init`). Tables already
//! copied are kept, a table that was being copied is emptied and copied again, and replay
//! starts from the first snapshot's position.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::state::master_info;

/// What survives a crash of `init`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InitState {
    /// The position of the first snapshot: replay starts here, whatever was copied later.
    pub bin_name: String,
    pub bin_pos: u64,
    /// The GTID state there, when the server gave it with the position (MySQL).
    #[serde(default)]
    pub gtid: Option<String>,
    /// The origin of that position's binlog file (`server_id:created`, see
    /// [`crate::model::history`]): a resumed load checks it is still the server's history.
    #[serde(default)]
    pub bin_origin: Option<String>,
    /// Source tables whose copy completed.
    pub done: Vec<String>,
    /// Target tables this run has written into (safe to empty again on resume).
    pub started: Vec<String>,
    /// A reload of some tables (`init --tables`): nothing to resume, so nothing is saved.
    #[serde(skip)]
    pub reload: bool,
}

/// Where it is kept: `init.state` in `data_dir`.
pub fn path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("init.state")
}

/// Saves it atomically (nothing for a reload).
pub fn save(cfg: &Config, s: &InitState) -> Result<()> {
    if s.reload {
        return Ok(());
    }
    master_info::atomic_write(&path(cfg), &serde_json::to_vec_pretty(s)?)
}
