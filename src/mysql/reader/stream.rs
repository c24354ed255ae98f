//! Where the reader is in the stream: the current file, the open transaction, the table maps,
//! and how an event is placed in the file; also what a failed stream means.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::anyhow;
use mysql_async::binlog::events::Event;
use mysql_async::binlog::EventType;

use crate::error::Transient;
use crate::model::change::{Change, TxnId};
use crate::model::gtid::{uuid_text, Gtid, GtidState};
use crate::model::history::Stamp;
use crate::model::position::Position;
use crate::mysql::layout::Layout;

/// What the reader knows of the stream between events.
pub(super) struct StreamState {
    pub(super) file: Arc<str>,
    pub(super) txn: Option<TxnId>,
    /// The GTID of the transaction being read (from its GTID event), with its stamp.
    pub(super) gtid: Option<Stamp>,
    /// A ROTATE moved the stream to `file` at this offset: a resume point once the file's
    /// FORMAT_DESCRIPTION event (which follows) has said the file's origin, so a saved
    /// position never names a file whose origin is not known.
    pub(super) rotated_to: Option<u64>,
    /// Between BEGIN and the transaction's end (COMMIT, ROLLBACK, XID).
    pub(super) in_begin: bool,
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
    /// The GTID of the prepared part.
    pub(super) gtid: Option<Stamp>,
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

/// MariaDB's GTID event (type 162): sequence number (8 bytes), domain (4 bytes), then flags.
pub(super) fn mariadb_gtid(event: &Event) -> Option<Gtid> {
    let d = event.data();
    Some(Gtid::Mariadb {
        seq: u64::from_le_bytes(d.get(0..8)?.try_into().ok()?),
        domain: u32::from_le_bytes(d.get(8..12)?.try_into().ok()?),
        server: event.header().server_id(),
    })
}

/// MariaDB's GTID_LIST event (type 163, at the start of each file): the last GTID of every
/// (domain, server) pair before it; per domain, the newest is the GTID position.
pub(super) fn mariadb_gtid_list(event: &Event) -> Option<GtidState> {
    let d = event.data();
    let n = u32::from_le_bytes(d.get(0..4)?.try_into().ok()?) & 0x0fff_ffff;
    let mut state = GtidState::empty_mariadb();
    let mut newest: std::collections::BTreeMap<u32, (u32, u64)> = Default::default();
    for i in 0..n as usize {
        let at = 4 + i * 16;
        let domain = u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?);
        let server = u32::from_le_bytes(d.get(at + 4..at + 8)?.try_into().ok()?);
        let seq = u64::from_le_bytes(d.get(at + 8..at + 16)?.try_into().ok()?);
        let e = newest.entry(domain).or_insert((server, seq));
        if seq > e.1 {
            *e = (server, seq);
        }
    }
    for (domain, (server, seq)) in newest {
        state
            .add(&Gtid::Mariadb {
                domain,
                server,
                seq,
            })
            .ok()?;
    }
    Some(state)
}

/// MySQL's GTID event: the transaction's source (`uuid` or `uuid:tag`) and number.
pub(super) fn mysql_gtid(g: &mysql_async::binlog::events::GtidEvent) -> Gtid {
    let uuid = uuid_text(g.sid());
    let source = match g.tag() {
        Some(t) if !t.as_str().is_empty() => format!("{uuid}:{}", t.as_str().to_ascii_lowercase()),
        _ => uuid,
    };
    Gtid::Mysql {
        source,
        gno: g.gno(),
    }
}

/// MySQL's PREVIOUS_GTIDS event (at the start of each file): the executed set before it.
pub(super) fn mysql_previous_gtids(
    e: &mysql_async::binlog::events::PreviousGtidsEvent<'_>,
) -> Option<GtidState> {
    let mut text = Vec::new();
    for sid in e.sids() {
        let mut source = uuid_text(sid.uuid());
        if let Some(t) = sid.tag() {
            source = format!("{source}:{}", t.as_str());
        }
        for iv in sid.intervals() {
            // The event's intervals are [start, end).
            text.push(format!(
                "{source}:{}-{}",
                iv.start(),
                iv.end().checked_sub(1)?
            ));
        }
    }
    // A server without GTIDs writes an empty set: that says nothing.
    GtidState::parse(&text.join(","), false)
        .ok()
        .filter(|s| !s.is_empty())
}
