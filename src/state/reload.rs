//! Tables reloaded by `init --tables` while every other table kept its position.
//!
//! The reader goes on from `master.info`, which lies before the reloaded copy. Each reloaded
//! table's copy was taken at a consistent position (its *reload position*): every change of
//! that table before it is in the copy, so the reader skips them, and applies the ones after.
//! This is also the way past an event the sync refuses (a partial JSON update, say): reload the
//! table it belongs to, and the reader no longer needs to read that event's rows.
//!
//! Kept in `var/reload.json` (table → position), replaced atomically; an entry is dropped once
//! the sync starts at or after its position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::history::Origin;
use crate::model::mark::Mark;
use crate::model::position::Position;
use crate::state::master_info;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// `schema.table` → (bin_name, bin_pos).
    tables: BTreeMap<String, (String, u64)>,
    /// `schema.table` → the origin of its reload position's binlog file (`server_id:created`,
    /// see [`crate::model::history`]): the position is skipped up to only in that history.
    #[serde(default)]
    origins: BTreeMap<String, String>,
}

pub fn path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("reload.json")
}

/// The reload position of each reloaded source table (`schema.table`).
#[derive(Debug, Clone, Default)]
pub struct Reloads {
    tables: BTreeMap<String, Position>,
    origins: BTreeMap<String, Origin>,
}

impl Reloads {
    pub fn load(path: &Path) -> Result<Reloads> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reloads::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let f: File = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; it lists tables reloaded by `init --tables`: run that again for them",
                path.display()
            )
        })?;
        let mut origins = BTreeMap::new();
        for (t, o) in f.origins {
            let o = Origin::parse(&o)
                .with_context(|| format!("{}: the origin of {t}", path.display()))?;
            origins.insert(t, o);
        }
        Ok(Reloads {
            tables: f
                .tables
                .into_iter()
                .map(|(t, (f, p))| (t, Position::new(f, p)))
                .collect(),
            origins,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let f = File {
            tables: self
                .tables
                .iter()
                .map(|(t, p)| (t.clone(), (p.file.to_string(), p.pos)))
                .collect(),
            origins: self
                .origins
                .iter()
                .map(|(t, o)| (t.clone(), o.to_string()))
                .collect(),
        };
        master_info::atomic_write(path, &serde_json::to_vec_pretty(&f)?)
    }

    /// `table` was copied at `at`, in a binlog file of origin `origin` (when known).
    pub fn set(&mut self, table: &str, at: Position, origin: Option<Origin>) {
        self.tables.insert(table.to_string(), at);
        match origin {
            Some(o) => self.origins.insert(table.to_string(), o),
            None => self.origins.remove(table),
        };
    }

    /// Each reload position with the origin of its file, for a start to check against the
    /// server: `(what, file, origin)`.
    pub fn origins(&self) -> Vec<(String, String, Origin)> {
        self.origins
            .iter()
            .filter_map(|(t, o)| {
                let p = self.tables.get(t)?;
                Some((
                    format!("the reload position of {t} ({p})"),
                    p.file.to_string(),
                    *o,
                ))
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Forgets the tables whose reload position is at or before `start`: a reader starting
    /// there meets none of their changes from before the copy. Returns whether any was dropped.
    pub fn forget_before(&mut self, start: &Position) -> bool {
        let before = self.tables.len();
        let start = mark(start);
        self.tables.retain(|_, p| mark(p) > start);
        let tables = &self.tables;
        self.origins.retain(|t, _| tables.contains_key(t));
        self.tables.len() != before
    }

    /// Whether a change of `table` in the event starting at `at` is already in the table's
    /// reloaded copy. At the reload position itself too: the events of a transaction after it
    /// start after its first event; only the rows of a MySQL compressed transaction (placed at
    /// its end) sit exactly there, in a transaction that ended there.
    pub fn in_copy(&self, table: &str, at: &Position) -> bool {
        self.tables.get(table).is_some_and(|p| mark(at) <= mark(p))
    }

    pub fn describe(&self) -> String {
        self.tables
            .iter()
            .map(|(t, p)| format!("{t} from {p}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn mark(p: &Position) -> Mark {
    Mark {
        file: p.file.clone(),
        pos: p.pos,
        seq: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_before_the_reload_position_are_in_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reload.json");
        let mut r = Reloads::load(&path).unwrap();
        assert!(r.is_empty());
        let o = Origin::parse("7:1796419979").unwrap();
        r.set("db.t", Position::new("b.000010", 500), Some(o));
        r.save(&path).unwrap();
        let mut r = Reloads::load(&path).unwrap();
        assert_eq!(
            r.origins(),
            vec![(
                "the reload position of db.t (b.000010:500)".to_string(),
                "b.000010".to_string(),
                o
            )]
        );
        assert!(r.in_copy("db.t", &Position::new("b.000009", 900)));
        assert!(r.in_copy("db.t", &Position::new("b.000010", 499)));
        assert!(r.in_copy("db.t", &Position::new("b.000010", 500)));
        assert!(!r.in_copy("db.t", &Position::new("b.000010", 501)));
        assert!(!r.in_copy("db.u", &Position::new("b.000001", 4)));
        assert!(!r.forget_before(&Position::new("b.000010", 4)));
        assert!(r.forget_before(&Position::new("b.000011", 4)));
        assert!(r.is_empty());
        assert!(r.origins().is_empty());
    }
}
