//! Which binlog history a saved position belongs to.
//!
//! A file name with an offset does not name a history: `RESET MASTER` (MySQL 8.2+: `RESET
//! BINARY LOGS AND GTIDS`) starts `mysql-bin.000001` again, and another server with the same
//! settings writes files of the same names. A GTID sequence number does not either: MariaDB
//! restarts it at a reset and servers share `server_id = 1` and domain 0 by default; MySQL
//! keeps its `server_uuid` across a reset. So every saved position carries a [`Fingerprint`]:
//!
//! - the [`Origin`] of its binlog file: the `server_id` and creation time in the file's
//!   FORMAT_DESCRIPTION event. A file written again after a reset, or by another server, was
//!   created at another second (or by another server id);
//! - the [`Stamp`] of the last transaction applied: its GTID and commit timestamp (MySQL's
//!   `original_commit_timestamp` in microseconds, kept by every replica; MariaDB's event time
//!   in seconds, which replicas keep too). Another server of the same replication group has
//!   that transaction with the same stamp; a restarted or unrelated history, which reuses the
//!   GTID, has it (if at all) at another time.
//!
//! What it cannot tell: a reset within the same second the saved file was created, by a
//! server with the same `server_id`, and (for a resume by GTID) a reused GTID committed in
//! the same second (MariaDB) or microsecond (MySQL) as the one applied.

use std::fmt;

use anyhow::{anyhow, Context, Result};

use crate::model::gtid::{Gtid, GtidState};
use crate::model::position::Position;

/// Where a binlog file comes from: the `server_id` and creation time (seconds since the
/// epoch) its FORMAT_DESCRIPTION event carries. Written `server_id:created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub server_id: u32,
    pub created: u32,
}

impl Origin {
    pub fn parse(text: &str) -> Result<Origin> {
        let bad = || anyhow!("{text:?} is not a binlog file's origin (server_id:created)");
        let (s, c) = text.trim().split_once(':').ok_or_else(bad)?;
        Ok(Origin {
            server_id: s.parse().map_err(|_| bad())?,
            created: c.parse().map_err(|_| bad())?,
        })
    }

    /// For a person: `written by server 1, created 2026-12-07 22:53:12 UTC`.
    pub fn describe(&self) -> String {
        format!(
            "written by server_id {}, created {}",
            self.server_id,
            utc(self.created as u64)
        )
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.server_id, self.created)
    }
}

/// One transaction, as the binlog identifies it across servers: its GTID and its commit time
/// (see the module doc for the unit). Written `gtid@time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub gtid: Gtid,
    pub at: u64,
}

impl Stamp {
    pub fn parse(text: &str, mariadb: bool) -> Result<Stamp> {
        let (g, at) = text
            .trim()
            .rsplit_once('@')
            .ok_or_else(|| anyhow!("{text:?} is not a transaction stamp (gtid@time)"))?;
        let at = at
            .parse()
            .map_err(|_| anyhow!("{text:?} is not a transaction stamp (gtid@time)"))?;
        Ok(Stamp {
            gtid: Gtid::parse(g, mariadb).with_context(|| format!("transaction stamp {text:?}"))?,
            at,
        })
    }

    /// For a person: the GTID and the time in UTC.
    pub fn describe(&self) -> String {
        let secs = match self.gtid {
            Gtid::Mysql { .. } => self.at / 1_000_000,
            Gtid::Mariadb { .. } => self.at,
        };
        format!("{} committed {}", self.gtid, utc(secs))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.gtid, self.at)
    }
}

/// What is saved with every position to tell its history from another (see the module doc).
/// Both parts are optional: a position written by the Go tool or an earlier version has
/// neither, a server without GTIDs gives no stamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// The origin of the position's binlog file.
    pub origin: Option<Origin>,
    /// The last transaction applied at the position.
    pub last: Option<Stamp>,
}

impl Fingerprint {
    /// From the two texts as they are stored (empty or missing: unknown).
    pub fn from_texts(origin: Option<&str>, last: Option<&str>, mariadb: bool) -> Result<Self> {
        fn some(t: Option<&str>) -> Option<&str> {
            t.map(str::trim).filter(|t| !t.is_empty())
        }
        Ok(Fingerprint {
            origin: some(origin).map(Origin::parse).transpose()?,
            last: some(last).map(|t| Stamp::parse(t, mariadb)).transpose()?,
        })
    }

    pub fn origin_text(&self) -> Option<String> {
        self.origin.map(|o| o.to_string())
    }

    pub fn last_text(&self) -> Option<String> {
        self.last.as_ref().map(|s| s.to_string())
    }
}

/// A position with what is saved beside it: the GTID state there (when known) and the
/// fingerprint of its history. Every place a position is saved (master.info, PostgreSQL's
/// note, `init.state`) keeps all three together.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub pos: Position,
    pub gtids: Option<GtidState>,
    pub fp: Fingerprint,
}

impl Place {
    /// A position known by itself (nothing else saved with it).
    pub fn bare(pos: Position) -> Place {
        Place {
            pos,
            gtids: None,
            fp: Fingerprint::default(),
        }
    }
}

/// What happened when a saved position's binlog file is not the server's file of that name:
/// `server` says what the server's file is (its origin, or that the server has none).
pub fn another_history(file: &str, saved: &Origin, server: &str) -> String {
    format!(
        "the saved position is in {file} {}, but {server}: the source's binlog history restarted (RESET MASTER / \
         RESET BINARY LOGS AND GTIDS) or mysql_addr points at another server, so the saved position does not \
         name a place in what this server holds",
        saved.describe(),
    )
}

/// What an operator can do when the saved position belongs to another history.
pub const WAYS_FORWARD: &str = "Either re-load the tables with `mysql-gp-sync init --truncate` (a fresh copy at a \
    position of this server), or, if this server's binlog holds every change since the tables were last \
    right (say, a reset before anything new was written), set new_history = \"replay\" in the config to \
    replay this server's binlog from its first file into the existing tables, once; then set it back.";

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time (civil-from-days, no time-zone database needed).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        let o = Origin::parse("1:1796419979").unwrap();
        assert_eq!(o.to_string(), "1:1796419979");
        assert!(Origin::parse("1-2").is_err());
        let s = Stamp::parse("0-1-803@1796419979", true).unwrap();
        assert_eq!(s.to_string(), "0-1-803@1796419979");
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let m = Stamp::parse(&format!("{u}:tag:7@1796419979123456"), false).unwrap();
        assert_eq!(m.to_string(), format!("{u}:tag:7@1796419979123456"));
        let fp = Fingerprint::from_texts(Some(""), None, true).unwrap();
        assert_eq!(fp, Fingerprint::default());
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_419_979), "2026-12-04 21:32:59 UTC");
    }
}
