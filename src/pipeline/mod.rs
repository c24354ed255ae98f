//! The running sync: reader → workers → ack window → saved positions.

pub mod run;
pub mod start;
