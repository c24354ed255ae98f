//! Where the reader is in the stream: the current file, the open transaction, the table maps,
//! and how an event is placed in the file; also what a failed stream means.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::anyhow;
use mysql_async::binlog::events::Event;
use mysql_async::binlog::EventType;

use crate::error::Transient;
use crate::model::change::{Change, TxnId};
use crate::model::position::Position;
use crate::source::layout::Layout;

/// What the reader knows of the stream between events.
pub(super) struct StreamState {
    pub(super) file: Arc<str>,
    pub(super) txn: Option<TxnId>,
    pub(super) tables: HashMap<u64, Option<Arc<Layout>>>,
    /// The end of the last event that said where it ends (`end_log_pos`): a real place in the
    /// file, and where events that do not say are placed. Rows of such events are numbered on
    /// from `anchor_seq`, so their marks still grow in binlog order. Events without a position
    /// are those of MariaDB 11.8's default `binlog_legacy_event_pos = OFF` (all but GTID, XID
    /// and a few others) and those inside a MySQL TRANSACTION_PAYLOAD (compressed transaction),
    /// whose end is the payload's. Counting event sizes instead would not work: MariaDB does
    /// not send a replica the ANNOTATE_ROWS events that sit between them in the file.
    pub(super) anchor: u64,
    /// The last change number given since `anchor`.
    pub(super) anchor_seq: u32,
    /// Inside an XA transaction (between XA START and XA PREPARE): its changes, held back.
    pub(super) xa: Option<Vec<Change>>,
    /// Prepared XA transactions whose outcome (XA COMMIT / XA ROLLBACK) is not read yet.
    pub(super) prepared: Vec<Prepared>,
}

/// A prepared XA transaction. Its changes are applied only when its XA COMMIT is read, and
/// never after XA ROLLBACK. Meanwhile its window entry (`hold`, opened where the transaction
/// began) stays open, so the saved position cannot pass the transaction's start: a restart
/// before the outcome reads the prepared rows again.
pub(super) struct Prepared {
    pub(super) xid: String,
    pub(super) hold: TxnId,
    /// End of the XA_PREPARE event: the hold's end once the outcome is applied.
    pub(super) end: Position,
    pub(super) changes: Vec<Change>,
}

/// Where `event` ends in the current file, or `None` for an artificial event that is not in
/// the file at this place. An event that does not say where it ends is placed at the anchor
/// (see [`StreamState::anchor`]); one that says moves the anchor to its end.
pub(super) fn place_event(st: &mut StreamState, event: &Event) -> Option<u64> {
    let hdr = event.header();
    let raw_type = hdr.event_type_raw();
    let log_pos = hdr.log_pos() as u64;
    let artificial = hdr
        .flags()
        .contains(mysql_common::binlog::consts::EventFlags::LOG_EVENT_ARTIFICIAL_F);
    if artificial || raw_type == EventType::HEARTBEAT_EVENT as u8 {
        return None;
    }
    if log_pos == 0 {
        // A dump that starts inside a file is sent that file's FORMAT_DESCRIPTION first,
        // with no position: it is not at this place of the file.
        if raw_type == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            return None;
        }
        return Some(st.anchor);
    }
    st.anchor = log_pos;
    st.anchor_seq = 0;
    Some(log_pos)
}

/// The file name an artificial ROTATE announces. It arrives before the FORMAT_DESCRIPTION, so
/// whether a checksum trails it is not yet known: MariaDB appends one, MySQL does not. The
/// last four bytes are a checksum exactly when they are the CRC32 of the event before them
/// (a file name ending by chance in its own event's CRC32 is a 1 in 2^32 event).
pub(super) fn rotate_name(event: &Event, name: &[u8]) -> String {
    let hdr = event.header();
    let data = event.data();
    if name.len() > 4 && data.ends_with(name) {
        let (body, tail) = data.split_at(data.len() - 4);
        let mut h = crc32fast::Hasher::new();
        h.update(&hdr.timestamp().to_le_bytes());
        h.update(&[hdr.event_type_raw()]);
        h.update(&hdr.server_id().to_le_bytes());
        h.update(&hdr.event_size().to_le_bytes());
        h.update(&hdr.log_pos().to_le_bytes());
        h.update(&hdr.flags_raw().to_le_bytes());
        h.update(body);
        if h.finalize().to_le_bytes() == tail {
            return String::from_utf8_lossy(&name[..name.len() - 4]).to_string();
        }
    }
    String::from_utf8_lossy(name).to_string()
}

pub(super) enum StreamError {
    Fatal(anyhow::Error),
    Transient(Transient),
}

impl StreamError {
    pub(super) fn into_anyhow(self) -> anyhow::Error {
        match self {
            StreamError::Fatal(e) => e,
            StreamError::Transient(t) => t.into(),
        }
    }
}

pub(super) fn classify_stream_error(e: mysql_async::Error, file: &str) -> StreamError {
    match &e {
        mysql_async::Error::Server(s) if s.code == 1236 => StreamError::Fatal(anyhow!(
            "the server cannot send the binlog from {file} ({}): the position in master.info was probably purged; \
             re-load the tables and set master.info to a position the server still has (SHOW BINARY LOGS)",
            s.message
        )),
        mysql_async::Error::Server(s) => StreamError::Fatal(anyhow!("binlog stream error {}: {}", s.code, s.message)),
        _ => StreamError::Transient(Transient(format!("binlog connection lost: {e}"))),
    }
}
