//! One error taxonomy and one retry policy.

/// A failure worth retrying from the last acknowledged position (the connection dropped).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transient(pub String);
