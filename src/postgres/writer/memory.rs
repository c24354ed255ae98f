//! A destination in memory for the appliers' unit tests: the seam the appliers speak through,
//! with the parts of PostgreSQL's behaviour they depend on (a transaction is all or nothing,
//! COPY refuses a key that exists, a refused value, a lost connection, the fence, a lost
//! commit). The same appliers run against PostgreSQL in the e2e suite.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::destination::{Destination, Failure};
use super::encode::Group;
use crate::model::change::Op;
use crate::model::history::Origin;
use crate::model::mark::Mark;

/// Table, key text → the row's fields.
type Rows = BTreeMap<(String, String), Vec<Option<String>>>;

/// What the memory holds and what it is told to do wrong, shared with the test.
#[derive(Default)]
pub struct Store {
    pub rows: Rows,
    /// The checkpoint of each commit, in order, with the rows written in it.
    pub commits: Vec<(Mark, usize)>,
    pub copies: usize,
    /// The next `n` begins find no connection.
    pub unavailable: u32,
    /// A value refused wherever it is written.
    pub refuse: Option<String>,
    /// Every commit is refused by the fence.
    pub fenced: bool,
    /// The next begin finds a lost commit.
    pub lost: bool,
    /// The next write of a transaction that already wrote something loses the connection.
    pub drop_second_write: bool,
}

pub struct Memory {
    pub store: Arc<Mutex<Store>>,
    /// The open transaction's view of the rows, and how many rows it wrote.
    tx: Option<(Rows, usize)>,
}

impl Memory {
    pub fn new() -> (Memory, Arc<Mutex<Store>>) {
        let store = Arc::new(Mutex::new(Store::default()));
        (
            Memory {
                store: store.clone(),
                tx: None,
            },
            store,
        )
    }
}

/// A COPY text field's value: `\\t`, `\\n`, `\\r` and `\\\\` read back, in one pass (so an
/// escaped backslash before a `t` stays a backslash and a `t`).
fn unescape(f: &str) -> String {
    let mut out = String::with_capacity(f.len());
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The rows of COPY text.
fn copy_rows(data: &[u8]) -> Vec<Vec<Option<String>>> {
    let text = std::str::from_utf8(data).unwrap();
    text.lines()
        .map(|line| {
            line.split('\t')
                .map(|f| (f != "\\N").then(|| unescape(f)))
                .collect()
        })
        .collect()
}

fn write_into(
    rows: &mut Rows,
    groups: &[Group<'_>],
    refuse: Option<&str>,
    copies: &mut usize,
) -> Result<usize, Failure> {
    let mut n = 0;
    for g in groups {
        let table = g.meta.target.to_string();
        let key_of = |fields: &[Option<String>], key: &[usize]| {
            key.iter()
                .map(|&k| fields[k].clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        };
        let full: Vec<Vec<Option<String>>> = match (&g.copy, g.op) {
            (Some(data), _) => {
                *copies += 1;
                copy_rows(data)
            }
            (None, _) => (0..g.changes.len())
                .map(|i| g.columns.iter().map(|c| c[i].clone()).collect())
                .collect(),
        };
        for fields in full {
            if let Some(bad) = refuse {
                if fields.iter().any(|f| f.as_deref() == Some(bad)) {
                    return Err(Failure::Refused(format!(
                        "value {bad} violates a check constraint (SQLSTATE 23514)"
                    )));
                }
            }
            n += 1;
            match g.op {
                Op::Delete => {
                    // The arrays of a delete are its key columns.
                    let all: Vec<usize> = (0..fields.len()).collect();
                    rows.remove(&(table.clone(), key_of(&fields, &all)));
                }
                Op::Upsert => {
                    let k = (table.clone(), key_of(&fields, &g.meta.key));
                    if g.copy.is_some() && rows.contains_key(&k) {
                        return Err(Failure::Refused(format!(
                            "duplicate key value violates unique constraint: ({}) (SQLSTATE 23505)",
                            k.1
                        )));
                    }
                    rows.insert(k, fields);
                }
            }
        }
    }
    Ok(n)
}

impl Destination for Memory {
    async fn begin(&mut self) -> Result<(), Failure> {
        let mut s = self.store.lock().unwrap();
        if s.unavailable > 0 {
            s.unavailable -= 1;
            return Err(Failure::Unavailable("connection refused".into()));
        }
        if std::mem::take(&mut s.lost) {
            return Err(Failure::Lost(
                "worker 0 had committed up to b.000001:900#1, PostgreSQL holds nothing".into(),
            ));
        }
        self.tx = Some((s.rows.clone(), 0));
        Ok(())
    }

    async fn write(&mut self, groups: &[Group<'_>]) -> Result<(), Failure> {
        let mut s = self.store.lock().unwrap();
        let (rows, n) = self.tx.as_mut().expect("a transaction is open");
        if *n > 0 && std::mem::take(&mut s.drop_second_write) {
            self.tx = None;
            return Err(Failure::Unavailable("connection reset by peer".into()));
        }
        let refuse = s.refuse.clone();
        *n += write_into(rows, groups, refuse.as_deref(), &mut s.copies)?;
        Ok(())
    }

    async fn try_alone(&mut self, group: &Group<'_>) -> Result<(), Failure> {
        let mut s = self.store.lock().unwrap();
        let (rows, _) = self.tx.as_ref().expect("a transaction is open");
        let refuse = s.refuse.clone();
        let mut scratch = rows.clone();
        write_into(
            &mut scratch,
            std::slice::from_ref(group),
            refuse.as_deref(),
            &mut s.copies,
        )
        .map(|_| ())
    }

    async fn commit(&mut self, mark: &Mark, _origin: Option<Origin>) -> Result<(), Failure> {
        let mut s = self.store.lock().unwrap();
        if s.fenced {
            return Err(Failure::Fenced(anyhow::anyhow!(
                "another sync holds the lease (SQLSTATE MGSFN)"
            )));
        }
        let (rows, n) = self.tx.take().expect("a transaction is open");
        s.rows = rows;
        s.commits.push((mark.clone(), n));
        Ok(())
    }

    async fn rollback(&mut self) {
        self.tx = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;
    use crate::config::Consistency;
    use crate::model::change::{Change, RowKind};
    use crate::model::position::Position;
    use crate::model::table::TableMeta;
    use crate::ops::metrics::Metrics;
    use crate::postgres::writer::test_support::{change, table};
    use crate::postgres::writer::Worker;
    use crate::window::AckWindow;

    fn pos(n: u64) -> Position {
        Position::new("b.000001", n)
    }

    /// Source transactions of (kind, id, v), each in the window and sealed, as the reader
    /// sends them: the changes, in order, with their transaction and place.
    async fn transactions(
        w: &AckWindow,
        t: &Arc<TableMeta>,
        txns: &[&[(RowKind, i64, i64)]],
    ) -> Vec<Change> {
        let mut out = Vec::new();
        for (i, rows) in txns.iter().enumerate() {
            let txn = w.begin();
            for (j, &(kind, id, v)) in rows.iter().enumerate() {
                let mut c = change(t, kind, id, v);
                c.txn = txn;
                c.pos = pos(100 * (i as u64 + 1));
                c.seq = j as u32 + 1;
                w.add(txn, 1).await;
                out.push(c);
            }
            w.seal(txn, pos(100 * (i as u64 + 1) + 50), None);
        }
        out
    }

    /// Runs one worker over `changes` (queue closed after them) against `dest`.
    async fn apply(
        dest: Memory,
        window: &Arc<AckWindow>,
        changes: Vec<Change>,
        consistency: Consistency,
        batch_size: usize,
        applied: Option<Mark>,
    ) -> anyhow::Result<()> {
        let (tx, rx) = mpsc::channel(changes.len() + 1);
        for c in changes {
            tx.send(c).await.unwrap();
        }
        drop(tx);
        Worker::with_destination(
            0,
            rx,
            dest,
            window,
            batch_size,
            Metrics::silent(),
            consistency,
            applied,
        )
        .run()
        .await
    }

    fn rows(store: &Arc<Mutex<Store>>) -> Vec<(String, String)> {
        let s = store.lock().unwrap();
        s.rows
            .iter()
            .map(|((_, k), f)| (k.clone(), f[1].clone().unwrap_or_default()))
            .collect()
    }

    fn window() -> Arc<AckWindow> {
        Arc::new(AckWindow::new(1000, pos(4), None))
    }

    use RowKind::*;

    #[tokio::test]
    async fn new_rows_go_by_copy_and_a_replay_falls_back_to_upserts() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        // The rows exist already: a replay after a crash.
        store.lock().unwrap().rows.insert(
            ("s.t".into(), "1".into()),
            vec![Some("1".into()), Some("0".into())],
        );
        let changes = transactions(&w, &t, &[&[(Insert, 1, 10), (Insert, 2, 20)]]).await;
        apply(dest, &w, changes, Consistency::Key, 100, None)
            .await
            .unwrap();
        assert_eq!(
            rows(&store),
            vec![("1".into(), "10".into()), ("2".into(), "20".into())]
        );
        {
            let s = store.lock().unwrap();
            assert_eq!(s.copies, 1, "one COPY tried, refused by the existing key");
            assert_eq!(s.commits.len(), 1, "then one commit, by upserts");
            assert_eq!(s.commits[0].0.to_string(), "b.000001:100#2");
        }
        assert_eq!(w.acked(), pos(150));

        // Fresh rows: COPY, committed at once.
        let w = window();
        let (dest, store) = Memory::new();
        let changes = transactions(&w, &t, &[&[(Insert, 1, 10), (Insert, 2, 20)]]).await;
        apply(dest, &w, changes, Consistency::Key, 100, None)
            .await
            .unwrap();
        assert_eq!(store.lock().unwrap().copies, 1);
        assert_eq!(rows(&store).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_row_is_named_and_nothing_is_committed_or_acknowledged() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().refuse = Some("666".into());
        let changes = transactions(
            &w,
            &t,
            &[&[(Update, 1, 10)], &[(Update, 7, 666), (Update, 8, 1)]],
        )
        .await;
        let e = apply(dest, &w, changes, Consistency::Key, 100, None)
            .await
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("key id=7"), "{msg}");
        assert!(msg.contains("binlog position b.000001:200"), "{msg}");
        assert!(msg.contains("SQLSTATE 23514"), "{msg}");
        assert!(!crate::error::is_transient(&e), "{msg}");
        let s = store.lock().unwrap();
        assert!(s.commits.is_empty() && s.rows.is_empty());
        assert_eq!(w.acked(), pos(4));
    }

    #[tokio::test(start_paused = true)]
    async fn connection_trouble_is_retried_in_place_and_commits_once() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().unavailable = 3;
        let changes = transactions(&w, &t, &[&[(Update, 1, 10)], &[(Delete, 1, 10)]]).await;
        apply(dest, &w, changes, Consistency::Key, 100, None)
            .await
            .unwrap();
        let s = store.lock().unwrap();
        assert_eq!(s.unavailable, 0);
        assert_eq!(s.commits.len(), 1);
        assert!(s.rows.is_empty(), "the delete is the row's last change");
        assert_eq!(w.acked(), pos(250));
    }

    #[tokio::test]
    async fn the_fence_stops_the_worker_without_a_retry() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().fenced = true;
        let changes = transactions(&w, &t, &[&[(Update, 1, 10)]]).await;
        let e = apply(dest, &w, changes, Consistency::Key, 100, None)
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("batch not committed"), "{e:#}");
        assert!(store.lock().unwrap().commits.is_empty());
        assert_eq!(w.acked(), pos(4));
    }

    #[tokio::test]
    async fn a_lost_commit_restarts_the_pipeline() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().lost = true;
        let changes = transactions(&w, &t, &[&[(Update, 1, 10)]]).await;
        let e = apply(dest, &w, changes, Consistency::Transaction, 100, None)
            .await
            .unwrap_err();
        assert!(crate::error::is_transient(&e), "{e:#}");
        assert!(format!("{e:#}").contains("lost commits"), "{e:#}");
        assert!(store.lock().unwrap().commits.is_empty());
    }

    #[tokio::test]
    async fn changes_at_or_before_the_checkpoint_are_acknowledged_not_written() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        let changes = transactions(&w, &t, &[&[(Update, 1, 10)], &[(Update, 2, 20)]]).await;
        let applied = Mark {
            file: "b.000001".into(),
            pos: 100,
            seq: 1,
        };
        apply(dest, &w, changes, Consistency::Key, 100, Some(applied))
            .await
            .unwrap();
        assert_eq!(rows(&store), vec![("2".into(), "20".into())]);
        assert_eq!(w.acked(), pos(250));
    }

    #[tokio::test]
    async fn grouped_commits_end_at_source_transaction_ends() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        // Batches of 2: the 3-change transaction is never split between commits.
        let changes = transactions(
            &w,
            &t,
            &[
                &[(Update, 1, 1)],
                &[(Update, 2, 1), (Update, 3, 1), (Update, 4, 1)],
                &[(Update, 5, 1)],
            ],
        )
        .await;
        apply(dest, &w, changes, Consistency::Transaction, 2, None)
            .await
            .unwrap();
        let s = store.lock().unwrap();
        let ends: Vec<String> = s.commits.iter().map(|(m, _)| m.to_string()).collect();
        // Each commit's mark is the last change of a source transaction.
        for e in &ends {
            assert!(
                ["b.000001:100#1", "b.000001:200#3", "b.000001:300#1"].contains(&e.as_str()),
                "{ends:?}"
            );
        }
        assert_eq!(ends.last().unwrap(), "b.000001:300#1");
        assert_eq!(s.rows.len(), 5);
        assert_eq!(w.acked(), pos(350));
    }

    #[tokio::test]
    async fn a_grouped_transaction_written_in_parts_is_not_retried_in_place() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().drop_second_write = true;
        // One source transaction of 5 changes, batches of 2: written in parts.
        let big: Vec<(RowKind, i64, i64)> = (1..=5).map(|i| (Update, i, i)).collect();
        let changes = transactions(&w, &t, &[&big]).await;
        let e = apply(dest, &w, changes, Consistency::Transaction, 2, None)
            .await
            .unwrap_err();
        assert!(crate::error::is_transient(&e), "{e:#}");
        let s = store.lock().unwrap();
        assert!(
            s.commits.is_empty() && s.rows.is_empty(),
            "nothing of it commits"
        );
        assert_eq!(w.acked(), pos(4), "the saved position stays before it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_ends_does_not_wait_for_postgresql() {
        let t = table("t");
        let w = window();
        let (dest, store) = Memory::new();
        store.lock().unwrap().unavailable = u32::MAX;
        let changes = transactions(&w, &t, &[&[(Update, 1, 10)]]).await;
        // The queue closes behind a sealed transaction while PostgreSQL is down: the applier
        // ends (the next start replays it) instead of retrying for ever.
        let done = tokio::time::timeout(
            std::time::Duration::from_secs(3600),
            apply(dest, &w, changes, Consistency::Transaction, 100, None),
        )
        .await
        .expect("the applier ends");
        let e = done.unwrap_err();
        assert!(crate::error::is_transient(&e), "{e:#}");
        assert!(store.lock().unwrap().commits.is_empty());
        assert_eq!(w.acked(), pos(4));
    }
}
