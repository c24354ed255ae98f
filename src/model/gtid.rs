//! GTID positions: which transactions of the replication group a position has passed, in the
//! form each flavor's server reads back.
//!
//! - MySQL: the executed GTID set, `uuid:1-100:105,uuid2:tag:1-7` (a source UUID, an optional
//!   tag (8.4+), and intervals of transaction numbers).
//! - MariaDB: the GTID position, `0-1-100,1-2-5`: per replication domain, the server id and
//!   sequence number of the last transaction.
//!
//! A position's GTID state names the same place as its file and offset, but on every server of
//! the group: a replica promoted to primary has other files and offsets, the same GTIDs.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, bail, Result};

/// One transaction's GTID, as its GTID event gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gtid {
    /// Source (`uuid` or `uuid:tag`, lower case) and transaction number.
    Mysql {
        source: String,
        gno: u64,
    },
    Mariadb {
        domain: u32,
        server: u32,
        seq: u64,
    },
}

impl Gtid {
    /// One GTID in the server's text form: MariaDB `domain-server-seq`, MySQL `uuid[:tag]:n`.
    pub fn parse(text: &str, mariadb: bool) -> Result<Gtid> {
        let text = text.trim();
        if mariadb {
            let n: Vec<&str> = text.split('-').collect();
            let num = |x: &str| {
                x.parse::<u64>()
                    .map_err(|_| anyhow!("{text:?} is not a MariaDB GTID (domain-server-sequence)"))
            };
            let [d, s, q] = n[..] else {
                bail!("{text:?} is not a MariaDB GTID (domain-server-sequence)");
            };
            return Ok(Gtid::Mariadb {
                domain: num(d)? as u32,
                server: num(s)? as u32,
                seq: num(q)?,
            });
        }
        let (source, gno) = text
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("{text:?} is not a MySQL GTID (uuid:number)"))?;
        let gno = gno
            .parse()
            .map_err(|_| anyhow!("{text:?} is not a MySQL GTID (uuid:number)"))?;
        if source.len() < 36 {
            bail!("{text:?} is not a MySQL GTID (uuid:number)");
        }
        Ok(Gtid::Mysql {
            source: source.to_ascii_lowercase(),
            gno,
        })
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gtid::Mysql { source, gno } => write!(f, "{source}:{gno}"),
            Gtid::Mariadb {
                domain,
                server,
                seq,
            } => write!(f, "{domain}-{server}-{seq}"),
        }
    }
}

/// The GTID state of a position (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidState {
    /// Source → sorted, disjoint, non-adjacent intervals `[start, end]`.
    Mysql(BTreeMap<String, Vec<(u64, u64)>>),
    /// Domain → (server id, sequence number).
    Mariadb(BTreeMap<u32, (u32, u64)>),
}

impl GtidState {
    pub fn empty_mysql() -> GtidState {
        GtidState::Mysql(BTreeMap::new())
    }

    pub fn empty_mariadb() -> GtidState {
        GtidState::Mariadb(BTreeMap::new())
    }

    /// Parses the server's own text (`@@gtid_executed`, `Executed_Gtid_Set`,
    /// `@@gtid_binlog_pos`, `BINLOG_GTID_POS()`); `mariadb` says which form.
    pub fn parse(text: &str, mariadb: bool) -> Result<GtidState> {
        let parts = text.split(',').map(str::trim).filter(|p| !p.is_empty());
        if mariadb {
            let mut m = BTreeMap::new();
            for p in parts {
                if let Gtid::Mariadb {
                    domain,
                    server,
                    seq,
                } = Gtid::parse(p, true)?
                {
                    m.insert(domain, (server, seq));
                }
            }
            return Ok(GtidState::Mariadb(m));
        }
        let mut m: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for p in parts {
            let mut fields = p.split(':');
            let uuid = fields.next().unwrap_or_default().to_ascii_lowercase();
            if uuid.len() != 36 || uuid.matches('-').count() != 4 {
                bail!("{p:?} is not a MySQL GTID set entry (uuid:intervals)");
            }
            let mut source = uuid.clone();
            for f in fields {
                if f.starts_with(|c: char| c.is_ascii_digit()) {
                    let (a, b) = f.split_once('-').unwrap_or((f, f));
                    let (a, b): (u64, u64) = match (a.parse(), b.parse()) {
                        (Ok(a), Ok(b)) if a >= 1 && a <= b => (a, b),
                        _ => bail!("{p:?}: {f:?} is not an interval of transaction numbers"),
                    };
                    let ivs = m.entry(source.clone()).or_default();
                    ivs.push((a, b));
                    normalize(ivs);
                } else {
                    // A tag (MySQL 8.4+): the intervals after it are of `uuid:tag`.
                    source = format!("{uuid}:{}", f.to_ascii_lowercase());
                }
            }
        }
        Ok(GtidState::Mysql(m))
    }

    /// Adds one transaction. A GTID of the other flavor is an error (it cannot happen with a
    /// state read from the same server).
    pub fn add(&mut self, g: &Gtid) -> Result<()> {
        match (self, g) {
            (GtidState::Mysql(m), Gtid::Mysql { source, gno }) => {
                let ivs = m.entry(source.clone()).or_default();
                // The common case: the next number of the last interval.
                match ivs.last_mut() {
                    Some(last) if last.1 + 1 == *gno => last.1 = *gno,
                    Some(last) if last.0 <= *gno && *gno <= last.1 => {}
                    _ => {
                        ivs.push((*gno, *gno));
                        normalize(ivs);
                    }
                }
                Ok(())
            }
            (
                GtidState::Mariadb(m),
                Gtid::Mariadb {
                    domain,
                    server,
                    seq,
                },
            ) => {
                m.insert(*domain, (*server, *seq));
                Ok(())
            }
            (s, g) => bail!("GTID {g:?} does not fit the GTID state {s}"),
        }
    }

    /// A MariaDB domain where this position is past `server`'s (or that `server` lacks).
    pub fn mariadb_ahead_of(&self, server: &GtidState) -> Option<u32> {
        let (GtidState::Mariadb(mine), GtidState::Mariadb(theirs)) = (self, server) else {
            return None;
        };
        mine.iter()
            .find(|(d, (_, seq))| theirs.get(d).is_none_or(|(_, s)| s < seq))
            .map(|(d, _)| *d)
    }

    /// Takes in every transaction of `other` (a state only grows).
    pub fn merge(&mut self, other: &GtidState) {
        match (self, other) {
            (GtidState::Mysql(m), GtidState::Mysql(o)) => {
                for (source, ivs) in o {
                    let mine = m.entry(source.clone()).or_default();
                    mine.extend(ivs.iter().copied());
                    normalize(mine);
                }
            }
            (GtidState::Mariadb(m), GtidState::Mariadb(o)) => {
                for (d, (s, q)) in o {
                    let e = m.entry(*d).or_insert((*s, *q));
                    if *q > e.1 {
                        *e = (*s, *q);
                    }
                }
            }
            (me, o) => *me = o.clone(),
        }
    }

    /// Whether the state has passed transaction `g` (MariaDB: its domain is at or past its
    /// sequence number; MySQL: the set holds it).
    pub fn contains(&self, g: &Gtid) -> bool {
        match (self, g) {
            (GtidState::Mysql(m), Gtid::Mysql { source, gno }) => m
                .get(source)
                .is_some_and(|ivs| ivs.iter().any(|(a, b)| a <= gno && gno <= b)),
            (GtidState::Mariadb(m), Gtid::Mariadb { domain, seq, .. }) => {
                m.get(domain).is_some_and(|(_, s)| s >= seq)
            }
            _ => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            GtidState::Mysql(m) => m.is_empty(),
            GtidState::Mariadb(m) => m.is_empty(),
        }
    }

    /// MySQL's set as the `Sid`s of a COM_BINLOG_DUMP_GTID request.
    pub fn mysql_sids(&self) -> Result<Vec<mysql_common::packets::Sid<'static>>> {
        let GtidState::Mysql(m) = self else {
            bail!("a MariaDB GTID position is not a MySQL GTID set");
        };
        m.iter()
            .map(|(source, ivs)| {
                let text = format!(
                    "{source}:{}",
                    ivs.iter()
                        .map(|(a, b)| if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        })
                        .collect::<Vec<_>>()
                        .join(":")
                );
                text.parse::<mysql_common::packets::Sid<'static>>()
                    .map_err(|e| anyhow!("GTID set entry {text:?}: {e}"))
            })
            .collect()
    }
}

/// Sorts and merges overlapping or adjacent intervals.
fn normalize(ivs: &mut Vec<(u64, u64)>) {
    ivs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
    for &(a, b) in ivs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *ivs = out;
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidState::Mysql(m) => {
                for (i, (source, ivs)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(source)?;
                    for (a, b) in ivs {
                        if a == b {
                            write!(f, ":{a}")?;
                        } else {
                            write!(f, ":{a}-{b}")?;
                        }
                    }
                }
                Ok(())
            }
            GtidState::Mariadb(m) => {
                for (i, (d, (s, q))) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}-{s}-{q}")?;
                }
                Ok(())
            }
        }
    }
}

/// The UUID text of a 16-byte server id (`sid` of a GTID event).
/// Called once per MySQL transaction by the reader: one allocation, no formatting machinery.
pub fn uuid_text(sid: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in sid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn mysql_sets_read_back_as_the_server_writes_them() {
        let text = format!("{U}:1-5:7,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3");
        let s = GtidState::parse(&text, false).unwrap();
        assert_eq!(s.to_string(), text);
        // The server's own text may wrap lines after commas and use upper case.
        let s2 = GtidState::parse(
            &format!(
                "{},\n{}",
                &text[..text.find(',').unwrap()].to_uppercase(),
                &text[text.find(',').unwrap() + 1..]
            ),
            false,
        )
        .unwrap();
        assert_eq!(s2, s);
        assert!(GtidState::parse("", false).unwrap().is_empty());
        assert!(GtidState::parse("x:1-2", false).is_err());
        assert!(GtidState::parse(&format!("{U}:5-2"), false).is_err());
    }

    #[test]
    fn mysql_tags_are_sources_of_their_own() {
        let s = GtidState::parse(&format!("{U}:1-3:etl:1-2"), false).unwrap();
        assert_eq!(s.to_string(), format!("{U}:1-3,{U}:etl:1-2"));
    }

    #[test]
    fn adding_transactions_extends_merges_and_fills_gaps() {
        let mut s = GtidState::parse(&format!("{U}:1-5:7"), false).unwrap();
        let g = |gno| Gtid::Mysql {
            source: U.into(),
            gno,
        };
        s.add(&g(8)).unwrap();
        assert_eq!(s.to_string(), format!("{U}:1-5:7-8"));
        s.add(&g(6)).unwrap();
        assert_eq!(s.to_string(), format!("{U}:1-8"));
        s.add(&g(3)).unwrap();
        assert_eq!(s.to_string(), format!("{U}:1-8"));
        s.add(&Gtid::Mysql {
            source: "4e11fa47-71ca-11e1-9e33-c80aa9429562".into(),
            gno: 1,
        })
        .unwrap();
        assert_eq!(s.mysql_sids().unwrap().len(), 2);
        assert!(s
            .add(&Gtid::Mariadb {
                domain: 0,
                server: 1,
                seq: 1
            })
            .is_err());
    }

    #[test]
    fn mariadb_positions_keep_the_last_per_domain() {
        let mut s = GtidState::parse("0-1-100, 1-2-5", true).unwrap();
        s.add(&Gtid::Mariadb {
            domain: 0,
            server: 3,
            seq: 101,
        })
        .unwrap();
        s.add(&Gtid::Mariadb {
            domain: 2,
            server: 1,
            seq: 1,
        })
        .unwrap();
        assert_eq!(s.to_string(), "0-3-101,1-2-5,2-1-1");
        assert!(GtidState::parse("0-1", true).is_err());
    }

    #[test]
    fn uuid_text_of_a_sid() {
        let sid: [u8; 16] = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(uuid_text(sid), U);
    }
}
