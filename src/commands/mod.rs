//! The commands `main.rs` runs besides the sync itself.

pub mod check;
pub mod init;
