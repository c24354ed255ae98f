//! Reading a history's fingerprint off the server (see [`crate::model::history`]): the origin
//! of a binlog file and the stamp of a transaction, each through a short binlog dump, the
//! only place the server gives an event's header.
//!
//! The dumps use `server_id` 0 and the non-blocking flag, as `mysqlbinlog` does: a replica
//! with the sync's own `server_id` would make the server drop the sync's dump (or a
//! standby's probe the active's).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, EventData};
use mysql_async::binlog::EventType;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Opts};

use crate::config::Flavor;
use crate::model::gtid::{Gtid, GtidState};
use crate::model::history::{Origin, Stamp};

/// MariaDB's GTID event type (unknown to mysql_common).
pub const MARIADB_GTID_EVENT: u8 = 162;

/// A probe gives up after this long: the server answers a dump of its own file at once.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The origin of a FORMAT_DESCRIPTION event's header.
pub fn origin_of(event: &Event) -> Origin {
    let h = event.header();
    Origin {
        server_id: h.server_id(),
        created: h.timestamp(),
    }
}

/// The stamp of a transaction from its GTID event (`gtid` as read from it): MySQL's
/// `original_commit_timestamp` (µs; the header's time on servers before 8.0), MariaDB's
/// header time (s).
pub fn stamp_of(event: &Event, gtid: Gtid) -> Stamp {
    match (&gtid, event.read_data()) {
        (Gtid::Mysql { .. }, Ok(Some(EventData::GtidEvent(g)))) => mysql_stamp(event, &g, gtid),
        _ => Stamp {
            gtid,
            at: event.header().timestamp() as u64,
        },
    }
}

/// [`stamp_of`] for a MySQL GTID event already decoded.
pub fn mysql_stamp(event: &Event, g: &mysql_async::binlog::events::GtidEvent, gtid: Gtid) -> Stamp {
    let at = match g.original_commit_timestamp() {
        0 => event.header().timestamp() as u64 * 1_000_000,
        t => t,
    };
    Stamp { gtid, at }
}

/// Opens a non-blocking dump of `file` from `pos` and hands each event to `take` until it
/// returns `Some`. `None` when the stream ends first.
async fn dump_until<T>(
    opts: &Opts,
    flavor: Flavor,
    file: &str,
    pos: u64,
    mut take: impl FnMut(&Event) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let work = async {
        let mut conn = mysql_async::Conn::new(opts.clone()).await?;
        if flavor == Flavor::Mariadb {
            // Raw GTID events, not the BEGIN queries MariaDB sends older replicas instead.
            conn.query_drop("SET @mariadb_slave_capability = 4").await?;
        }
        let request = BinlogStreamRequest::new(0)
            .with_filename(file.as_bytes())
            .with_pos(pos)
            .with_non_blocking();
        let mut stream = conn.get_binlog_stream(request).await?;
        while let Some(event) = stream.next().await {
            if let Some(t) = take(&event?)? {
                return Ok(Some(t));
            }
        }
        anyhow::Ok(None)
    };
    // A connection that failed or did not answer is worth another try (the MySQL I/O error
    // stays in the chain: `error::is_transient`); the server's refusal is not.
    tokio::time::timeout(PROBE_TIMEOUT, work)
        .await
        .map_err(|_| {
            crate::error::Transient(format!(
                "reading the binlog {file} at {pos}: no answer in {PROBE_TIMEOUT:?}"
            ))
        })?
        .with_context(|| format!("reading the binlog {file} at {pos}"))
}

/// The origin of `file` on the server: its FORMAT_DESCRIPTION event. `None` when the server
/// does not list the file.
pub async fn file_origin(
    opts: &Opts,
    flavor: Flavor,
    logs: &[(String, u64)],
    file: &str,
) -> Result<Option<Origin>> {
    if !logs.iter().any(|(f, _)| f == file) {
        return Ok(None);
    }
    dump_until(opts, flavor, file, 4, |e| {
        Ok(
            (e.header().event_type_raw() == EventType::FORMAT_DESCRIPTION_EVENT as u8)
                .then(|| origin_of(e)),
        )
    })
    .await?
    .map(Some)
    .ok_or_else(|| anyhow!("the server sent no FORMAT_DESCRIPTION event for {file}"))
}

/// Where the server's binlog holds transaction `g`, and its stamp there. `Ok(None)` when the
/// server's binlog does not hold it (its files start after it, or lack it); an error when it
/// cannot tell (the file that would hold it was purged: [`StampSearch::Purged`]).
pub async fn find_stamp(
    conn: &mut mysql_async::Conn,
    opts: &Opts,
    flavor: Flavor,
    logs: &[(String, u64)],
    g: &Gtid,
) -> Result<StampSearch> {
    // Newest first: the first file whose list of earlier GTIDs lacks `g` is the only one that
    // can hold it (every later file lists it as earlier). A file without a list (GTIDs off
    // when it was written) is searched too.
    let mut holder = None;
    for (file, _) in logs.iter().rev() {
        let before = gtids_before(conn, flavor, file).await?;
        if before.is_some_and(|b| b.contains(g)) {
            continue;
        }
        holder = Some(file.clone());
        break;
    }
    let Some(file) = holder else {
        return Ok(StampSearch::Purged);
    };
    let Some(at) = event_of(conn, flavor, &file, g).await? else {
        return Ok(StampSearch::Absent);
    };
    let want = g.clone();
    let stamp = dump_until(opts, flavor, &file.clone(), at, move |e| {
        let t = e.header().event_type_raw();
        if t == MARIADB_GTID_EVENT || matches!(e.read_data(), Ok(Some(EventData::GtidEvent(_)))) {
            return Ok(Some(stamp_of(e, want.clone())));
        }
        if t == EventType::ROTATE_EVENT as u8 || t == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            return Ok(None);
        }
        bail!("the event at {file}:{at} is not the GTID event SHOW BINLOG EVENTS named")
    })
    .await?;
    Ok(match stamp {
        Some(s) => StampSearch::Found(s),
        None => StampSearch::Absent,
    })
}

/// What [`find_stamp`] found.
#[derive(Debug)]
pub enum StampSearch {
    Found(Stamp),
    /// No binlog of the server holds the transaction.
    Absent,
    /// It is older than every binlog the server has.
    Purged,
}

/// The GTID state a file's first events list (MySQL PREVIOUS_GTIDS, MariaDB GTID_LIST);
/// `None` when it lists none.
async fn gtids_before(
    conn: &mut mysql_async::Conn,
    flavor: Flavor,
    file: &str,
) -> Result<Option<GtidState>> {
    let rows = binlog_events(conn, file, 4, 0, 4).await?;
    for BinlogEvent { kind, info, .. } in rows {
        match (flavor, kind.as_str()) {
            (Flavor::Mysql, "Previous_gtids") => {
                return Ok(Some(GtidState::parse(&info, false)?));
            }
            (Flavor::Mariadb, "Gtid_list") => {
                return Ok(Some(mariadb_list(&info)?));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// MariaDB's `[0-1-802,0-2-5,1-3-9]`: per domain, the newest sequence number.
fn mariadb_list(info: &str) -> Result<GtidState> {
    let mut newest = std::collections::BTreeMap::new();
    let inner = info.trim().trim_start_matches('[').trim_end_matches(']');
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Gtid::Mariadb {
            domain,
            server,
            seq,
        } = Gtid::parse(part, true)?
        {
            let e = newest.entry(domain).or_insert((server, seq));
            if seq > e.1 {
                *e = (server, seq);
            }
        }
    }
    Ok(GtidState::Mariadb(newest))
}

/// The position of `g`'s GTID event in `file`, from SHOW BINLOG EVENTS, read in pages.
async fn event_of(
    conn: &mut mysql_async::Conn,
    flavor: Flavor,
    file: &str,
    g: &Gtid,
) -> Result<Option<u64>> {
    const PAGE: u64 = 5000;
    // Paged from the start of the last event read, skipping the rows already read there:
    // the events inside a MySQL compressed transaction are all listed at the payload's start.
    let (mut from, mut skip) = (4u64, 0u64);
    loop {
        let rows = binlog_events(conn, file, from, skip, PAGE).await?;
        for e in &rows {
            if e.kind.starts_with("Gtid") && e.kind != "Gtid_list" && info_names(flavor, &e.info, g)
            {
                return Ok(Some(e.pos));
            }
        }
        if (rows.len() as u64) < PAGE {
            return Ok(None);
        }
        let last = rows.last().map_or(from, |e| e.pos);
        let at_last = rows.iter().rev().take_while(|e| e.pos == last).count() as u64;
        if last == from {
            skip += at_last;
        } else {
            (from, skip) = (last, at_last);
        }
    }
}

/// One row of SHOW BINLOG EVENTS: where the event starts, its type and its text.
struct BinlogEvent {
    pos: u64,
    kind: String,
    info: String,
}

/// `SHOW BINLOG EVENTS IN file FROM from LIMIT skip, limit`.
async fn binlog_events(
    conn: &mut mysql_async::Conn,
    file: &str,
    from: u64,
    skip: u64,
    limit: u64,
) -> Result<Vec<BinlogEvent>> {
    conn.exec_map(
        format!(
            "SHOW BINLOG EVENTS IN {} FROM {from} LIMIT {skip}, {limit}",
            quote_lit(file)
        ),
        (),
        |r: mysql_async::Row| BinlogEvent {
            pos: r.get_opt::<u64, _>(1).and_then(Result::ok).unwrap_or(0),
            kind: r
                .get_opt::<String, _>(2)
                .and_then(Result::ok)
                .unwrap_or_default(),
            info: r
                .get_opt::<String, _>(5)
                .and_then(Result::ok)
                .unwrap_or_default(),
        },
    )
    .await
    .with_context(|| format!("SHOW BINLOG EVENTS IN {file} FROM {from}"))
}

/// Whether a GTID event's SHOW BINLOG EVENTS text names `g`: MySQL `SET @@SESSION.GTID_NEXT=
/// 'uuid[:tag]:n'`, MariaDB `BEGIN GTID d-s-n` or `GTID d-s-n` (then maybe ` cid=…`).
fn info_names(flavor: Flavor, info: &str, g: &Gtid) -> bool {
    match flavor {
        Flavor::Mysql => info
            .split('\'')
            .nth(1)
            .and_then(|t| Gtid::parse(t, false).ok())
            .is_some_and(|x| x == *g),
        Flavor::Mariadb => info
            .split_whitespace()
            .skip_while(|w| *w != "GTID")
            .nth(1)
            .and_then(|t| Gtid::parse(t, true).ok())
            .is_some_and(|x| x == *g),
    }
}

/// A string literal for a statement that takes no parameters (SHOW BINLOG EVENTS IN).
fn quote_lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_event_texts_are_read() {
        let g = Gtid::parse("0-1-803", true).unwrap();
        assert!(info_names(Flavor::Mariadb, "BEGIN GTID 0-1-803", &g));
        assert!(info_names(Flavor::Mariadb, "GTID 0-1-803 cid=77", &g));
        assert!(!info_names(Flavor::Mariadb, "BEGIN GTID 0-1-8030", &g));
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let m = Gtid::parse(&format!("{u}:23"), false).unwrap();
        let info = format!("SET @@SESSION.GTID_NEXT= '{}:23'", u.to_uppercase());
        assert!(info_names(Flavor::Mysql, &info, &m));
        assert!(!info_names(
            Flavor::Mysql,
            &format!("SET @@SESSION.GTID_NEXT= '{u}:24'"),
            &m
        ));
        let list = mariadb_list("[0-1-802,0-2-5,1-3-9]").unwrap();
        assert_eq!(list.to_string(), "0-1-802,1-3-9");
        assert!(list.contains(&Gtid::parse("0-1-802", true).unwrap()));
        assert!(!list.contains(&g));
    }
}
