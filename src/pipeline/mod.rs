//! The running sync: reader → workers → ack window → saved positions; and the initial load's
//! copy (snapshot readers → COPY).

pub mod copy;
pub mod run;
pub mod servers;
pub mod standby;
pub mod start;
