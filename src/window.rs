//! Windowed acknowledgements: how far the binlog position may be saved.
//!
//! At most `concurrent_ack_win` changes are in flight (a semaphore the reader takes a permit
//! from per change and a worker gives back after its PostgreSQL commit). Each source
//! transaction is an entry in arrival order with the count of its changes not yet committed;
//! the saved position is the end of the last transaction that is sealed (its XID / COMMIT was
//! read) and whose changes, and all earlier ones, are committed. So a crash replays, never skips.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Semaphore};

use crate::model::change::TxnId;
use crate::model::gtid::GtidState;
use crate::model::history::{Fingerprint, Origin, Place, Stamp};
use crate::model::position::Position;

#[derive(Debug)]
struct Entry {
    id: TxnId,
    remaining: usize,
    /// End position once the transaction's commit event was read.
    end: Option<Position>,
    /// What it does to the GTID state once acknowledged.
    gtid: Option<GtidStep>,
}

/// A transaction's effect on the GTID state.
#[derive(Debug)]
enum GtidStep {
    /// One transaction's GTID, with its stamp.
    Add(Stamp),
    /// The whole state (a new file's PREVIOUS_GTIDS / GTID_LIST).
    Set(GtidState),
}

#[derive(Debug)]
struct Tracker {
    entries: VecDeque<Entry>,
    next_id: TxnId,
    acked: Position,
    /// The GTID state at `acked`, when known.
    gtids: Option<GtidState>,
    /// The last transaction acknowledged (see [`crate::model::history`]).
    last: Option<Stamp>,
    /// The origin of each binlog file the stream entered, newest last, from the acknowledged
    /// position's file on (the reader may be many files ahead of it).
    origins: VecDeque<(Arc<str>, Origin)>,
    /// The origin the start file must have (a resume by file and offset): the stream's own
    /// FORMAT_DESCRIPTION event is checked against it before anything of the file is read.
    expected: Option<(Arc<str>, Origin)>,
}

impl Tracker {
    /// Pops finished transactions off the front; returns true if `acked` moved.
    fn advance(&mut self) -> bool {
        let mut moved = false;
        while let Some(front) = self.entries.front() {
            match (&front.end, front.remaining) {
                (Some(end), 0) => {
                    self.acked = end.clone();
                    let front = self.entries.pop_front().expect("front exists");
                    match (front.gtid, &mut self.gtids) {
                        // A file's list of earlier GTIDs: never less than what was read (a
                        // resume by GTID skips transactions the list does not name).
                        (Some(GtidStep::Set(s)), Some(g)) => g.merge(&s),
                        (Some(GtidStep::Set(s)), g) => *g = Some(s),
                        (Some(GtidStep::Add(stamp)), g) => {
                            let added = match g {
                                Some(g) => g.add(&stamp.gtid),
                                None => Ok(()),
                            };
                            self.last = Some(stamp);
                            if let Err(e) = added {
                                // A mixed stream cannot happen; forget rather than mislead.
                                tracing::warn!(
                                    "{e:#}; the GTID state is unknown until the next binlog file"
                                );
                                self.gtids = None;
                            }
                        }
                        _ => {}
                    }
                    moved = true;
                }
                _ => break,
            }
        }
        moved
    }
}

/// The acknowledgement window between the reader and the workers.
///
/// Contract: the reader opens a transaction ([`AckWindow::begin`]), adds each change (taking a
/// permit: at most `concurrent_ack_win` changes in flight, so memory is bounded whatever the
/// transaction size) and seals it with its end position; a worker acknowledges a change only
/// after its PostgreSQL commit. The acknowledged position is the end of the last sealed
/// transaction whose changes, **and every change before it**, are committed: it only moves
/// forward, never past an uncommitted change, so a crash replays and never skips.
pub struct AckWindow {
    permits: Arc<Semaphore>,
    size: usize,
    tracker: Mutex<Tracker>,
    acked_tx: watch::Sender<Position>,
    /// Signalled at every seal: the applier of whole transactions waits for one.
    sealed: tokio::sync::Notify,
}

impl AckWindow {
    pub fn new(size: usize, start: Position, gtids: Option<GtidState>) -> Self {
        let (acked_tx, _) = watch::channel(start.clone());
        AckWindow {
            permits: Arc::new(Semaphore::new(size)),
            size,
            tracker: Mutex::new(Tracker {
                entries: VecDeque::new(),
                next_id: 0,
                acked: start,
                gtids,
                last: None,
                origins: VecDeque::new(),
                expected: None,
            }),
            acked_tx,
            sealed: tokio::sync::Notify::new(),
        }
    }

    /// Starts from a saved place: its fingerprint is what the window reports until the stream
    /// says more, and `check_origin` says whether the stream's first file must have the
    /// saved origin (a resume by file and offset on the server that wrote it).
    pub fn resuming(self, fp: &Fingerprint, check_origin: bool) -> Self {
        {
            let mut t = self.tracker.lock().unwrap();
            t.last = fp.last.clone();
            if let Some(o) = fp.origin {
                let file = t.acked.file.clone();
                t.origins.push_back((file.clone(), o));
                if check_origin {
                    t.expected = Some((file, o));
                }
            }
        }
        self
    }

    /// The stream entered `file`, whose FORMAT_DESCRIPTION event says it has `origin`. An
    /// error (the origin saved for it) when this is the start file of a resume by file and
    /// offset and the server's file is another one of the same name.
    pub fn note_origin(&self, file: Arc<str>, origin: Origin) -> Result<(), Origin> {
        let mut t = self.tracker.lock().unwrap();
        if let Some((f, o)) = t.expected.take() {
            if f == file && o != origin {
                t.expected = Some((f, o));
                return Err(o);
            }
        }
        t.origins.retain(|(f, _)| *f != file);
        t.origins.push_back((file, origin));
        // A file before the acknowledged one is named by no later save: the acknowledged
        // position and every worker's next mark (a change in flight) are at or after it.
        let acked = t.acked.file.clone();
        let behind = |f: &str| {
            crate::model::mark::binlog_base(f) == crate::model::mark::binlog_base(&acked)
                && crate::model::position::file_index(f)
                    < crate::model::position::file_index(&acked)
        };
        t.origins.retain(|(f, _)| !behind(f));
        Ok(())
    }

    /// The origin of `file`, when the stream said it (for a worker's checkpoint).
    pub fn origin_of(&self, file: &str) -> Option<Origin> {
        let t = self.tracker.lock().unwrap();
        t.origins
            .iter()
            .rev()
            .find(|(f, _)| &**f == file)
            .map(|(_, o)| *o)
    }

    /// Returns at the next seal (or at once if one happened since the last call): one waiter.
    pub async fn next_seal(&self) {
        self.sealed.notified().await
    }

    /// Opens a transaction; changes are then added with [`AckWindow::add`].
    pub fn begin(&self) -> TxnId {
        let mut t = self.tracker.lock().unwrap();
        let id = t.next_id;
        t.next_id += 1;
        t.entries.push_back(Entry {
            id,
            remaining: 0,
            end: None,
            gtid: None,
        });
        id
    }

    /// Waits for room for `n` more changes in flight, then counts them against `txn`:
    /// one semaphore wait and one lock for all the rows of an event, not one per row.
    pub async fn add(&self, txn: TxnId, n: usize) {
        debug_assert!(
            n <= self.size,
            "callers add at most a window's worth at once"
        );
        self.permits
            .acquire_many(n as u32)
            .await
            .expect("window semaphore is never closed")
            .forget();
        let mut t = self.tracker.lock().unwrap();
        if let Some(e) = t.entries.iter_mut().rev().find(|e| e.id == txn) {
            e.remaining += n;
        }
    }

    /// The most changes one [`AckWindow::add`] may ask room for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The transaction's commit event was read at `end`.
    /// `gtid` is the transaction's own GTID, when the stream gave one.
    pub fn seal(&self, txn: TxnId, end: Position, gtid: Option<Stamp>) {
        self.seal_step(txn, end, gtid.map(GtidStep::Add));
    }

    fn seal_step(&self, txn: TxnId, end: Position, step: Option<GtidStep>) {
        {
            let mut t = self.tracker.lock().unwrap();
            if let Some(e) = t.entries.iter_mut().rev().find(|e| e.id == txn) {
                e.end = Some(end);
                e.gtid = step;
            }
            if t.advance() {
                self.acked_tx.send_replace(t.acked.clone());
            }
        }
        self.sealed.notify_one();
    }

    /// A boundary with no configured change before it (another table's transaction, a rotate):
    /// safe to resume from once everything before it is committed.
    pub fn boundary(&self, end: Position, gtid: Option<Stamp>) {
        let id = self.begin();
        self.seal(id, end, gtid);
    }

    /// A resume point where the GTID state is given whole (a new binlog file says which
    /// GTIDs all earlier files hold).
    pub fn boundary_with_state(&self, end: Position, state: GtidState) {
        let id = self.begin();
        self.seal_step(id, end, Some(GtidStep::Set(state)));
    }

    /// Whether `txn`'s commit event was read (so all its changes were sent). A transaction
    /// the window no longer holds was acknowledged whole, so it is sealed too.
    pub fn is_sealed(&self, txn: TxnId) -> bool {
        let t = self.tracker.lock().unwrap();
        let idx = t.entries.partition_point(|e| e.id < txn);
        t.entries
            .get(idx)
            .filter(|e| e.id == txn)
            .is_none_or(|e| e.end.is_some())
    }

    /// Workers report committed changes, as (transaction, count) pairs.
    pub fn ack(&self, done: &[(TxnId, usize)]) {
        let mut total = 0;
        let moved = {
            let mut t = self.tracker.lock().unwrap();
            for &(id, n) in done {
                total += n;
                // Entries are in id order, so a binary search finds the transaction.
                let idx = t.entries.partition_point(|e| e.id < id);
                if let Some(e) = t.entries.get_mut(idx).filter(|e| e.id == id) {
                    e.remaining = e.remaining.saturating_sub(n);
                }
            }
            let moved = t.advance();
            if moved {
                self.acked_tx.send_replace(t.acked.clone());
            }
            moved
        };
        let _ = moved;
        self.permits.add_permits(total);
    }

    /// The position up to which everything is committed in PostgreSQL.
    pub fn acked(&self) -> Position {
        self.tracker.lock().unwrap().acked.clone()
    }

    /// The acknowledged position, the GTID state there (when known) and its fingerprint.
    pub fn acked_place(&self) -> Place {
        let t = self.tracker.lock().unwrap();
        Place {
            pos: t.acked.clone(),
            gtids: t.gtids.clone(),
            fp: Fingerprint {
                origin: t
                    .origins
                    .iter()
                    .rev()
                    .find(|(f, _)| *f == t.acked.file)
                    .map(|(_, o)| *o),
                last: t.last.clone(),
            },
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.acked_tx.subscribe()
    }

    /// Changes currently in flight.
    pub fn in_flight(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    /// Waits until nothing is in flight: a barrier across workers (TRUNCATE needs one).
    pub async fn drain(&self) {
        let all = self
            .permits
            .acquire_many(self.size as u32)
            .await
            .expect("window semaphore is never closed");
        drop(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> Position {
        Position::new("b.000001", n)
    }

    #[tokio::test]
    async fn advances_only_past_fully_committed_prefix() {
        let w = AckWindow::new(10, p(4), None);
        let t1 = w.begin();
        w.add(t1, 1).await;
        w.add(t1, 1).await;
        w.seal(t1, p(100), None);
        let t2 = w.begin();
        w.add(t2, 1).await;
        w.seal(t2, p(200), None);
        assert_eq!(w.in_flight(), 3);
        // t2 finishes first: nothing may be saved yet.
        w.ack(&[(t2, 1)]);
        assert_eq!(w.acked(), p(4));
        w.ack(&[(t1, 1)]);
        assert_eq!(w.acked(), p(4), "t1 still has one change in flight");
        w.ack(&[(t1, 1)]);
        assert_eq!(w.acked(), p(200));
        assert_eq!(w.in_flight(), 0);
    }

    #[tokio::test]
    async fn the_gtid_state_moves_with_the_acknowledged_position() {
        let mariadb = |t: &str| GtidState::parse(t, true).unwrap();
        let g = |seq| Stamp {
            gtid: crate::model::gtid::Gtid::Mariadb {
                domain: 0,
                server: 1,
                seq,
            },
            at: 1_000 + seq,
        };
        let gt = |w: &AckWindow| {
            let p = w.acked_place();
            (p.pos, p.gtids)
        };
        let w = AckWindow::new(10, p(4), Some(mariadb("0-1-10")));
        let t1 = w.begin();
        w.add(t1, 1).await;
        w.seal(t1, p(100), Some(g(11)));
        w.boundary(p(150), Some(g(12)));
        assert_eq!(gt(&w), (p(4), Some(mariadb("0-1-10"))));
        assert_eq!(w.acked_place().fp.last, None);
        w.ack(&[(t1, 1)]);
        assert_eq!(gt(&w), (p(150), Some(mariadb("0-1-12"))));
        assert_eq!(
            w.acked_place().fp.last,
            Some(g(12)),
            "the last transaction's stamp"
        );
        w.boundary_with_state(p(200), mariadb("0-1-12,1-2-3"));
        assert_eq!(gt(&w).1, Some(mariadb("0-1-12,1-2-3")));
        assert_eq!(
            w.acked_place().fp.last,
            Some(g(12)),
            "a file's list is no transaction"
        );
        // Unknown stays unknown until a whole state comes.
        let w = AckWindow::new(10, p(4), None);
        w.boundary(p(10), Some(g(1)));
        assert_eq!(gt(&w), (p(10), None));
    }

    #[test]
    fn the_origin_goes_with_the_file_and_the_start_file_must_match() {
        let o = |created| Origin {
            server_id: 1,
            created,
        };
        let saved = Fingerprint {
            origin: Some(o(100)),
            last: None,
        };
        let w = AckWindow::new(10, p(4), None).resuming(&saved, true);
        assert_eq!(w.acked_place().fp.origin, Some(o(100)));
        // The server's file of that name was created at another time: refused.
        assert_eq!(w.note_origin("b.000001".into(), o(200)), Err(o(100)));
        w.note_origin("b.000001".into(), o(100)).unwrap();
        w.note_origin("b.000002".into(), o(300)).unwrap();
        w.boundary(Position::new("b.000002", 4), None);
        assert_eq!(w.acked_place().fp.origin, Some(o(300)));
        // A resume by GTID: the start file's name may be another server's.
        let w = AckWindow::new(10, p(4), None).resuming(&saved, false);
        w.note_origin("b.000001".into(), o(200)).unwrap();
        assert_eq!(w.acked_place().fp.origin, Some(o(200)));
        // A file the stream has not said anything of has no known origin.
        w.boundary(Position::new("b.000009", 4), None);
        assert_eq!(w.acked_place().fp.origin, None);
        // The reader may be many files ahead of the acknowledged position: their origins are
        // kept until the acknowledged position has left them.
        let w = AckWindow::new(10, p(4), None);
        let held = w.begin();
        for i in 1..=12u32 {
            w.note_origin(format!("b.{i:06}").into(), o(i)).unwrap();
        }
        assert_eq!(w.origin_of("b.000001"), Some(o(1)));
        w.seal(held, Position::new("b.000011", 4), None);
        w.note_origin("b.000013".into(), o(13)).unwrap();
        assert_eq!(
            w.origin_of("b.000010"),
            None,
            "behind the acknowledged file"
        );
        assert_eq!(w.origin_of("b.000011"), Some(o(11)));
        assert_eq!(w.acked_place().fp.origin, Some(o(11)));
    }

    #[tokio::test]
    async fn unsealed_transaction_blocks_even_when_committed() {
        let w = AckWindow::new(10, p(4), None);
        let t1 = w.begin();
        w.add(t1, 1).await;
        w.ack(&[(t1, 1)]);
        assert_eq!(w.acked(), p(4), "its commit event was not read yet");
        w.seal(t1, p(50), None);
        assert_eq!(w.acked(), p(50));
    }

    #[tokio::test]
    async fn empty_boundaries_move_only_behind_pending_work() {
        let w = AckWindow::new(10, p(4), None);
        w.boundary(p(10), None);
        assert_eq!(w.acked(), p(10));
        let t1 = w.begin();
        w.add(t1, 1).await;
        w.seal(t1, p(20), None);
        w.boundary(p(30), None);
        assert_eq!(w.acked(), p(10));
        w.ack(&[(t1, 1)]);
        assert_eq!(w.acked(), p(30));
    }

    // Paused time: the runtime moves the clock only once every task is idle, so after the
    // sleep the task has had every chance to finish, and "not finished" means it waits.
    #[tokio::test(start_paused = true)]
    async fn window_bounds_changes_in_flight() {
        let w = Arc::new(AckWindow::new(2, p(4), None));
        let t1 = w.begin();
        w.add(t1, 1).await;
        w.add(t1, 1).await;
        let w2 = w.clone();
        let third = tokio::spawn(async move { w2.add(t1, 1).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "a third change must wait for room");
        w.ack(&[(t1, 1)]);
        tokio::time::timeout(std::time::Duration::from_secs(5), third)
            .await
            .unwrap()
            .unwrap();
    }

    // Paused time, as above.
    #[tokio::test(start_paused = true)]
    async fn adding_an_events_rows_waits_for_room_for_all_of_them() {
        let w = Arc::new(AckWindow::new(4, p(4), None));
        let t1 = w.begin();
        w.add(t1, 3).await;
        let w2 = w.clone();
        let two_more = tokio::spawn(async move { w2.add(t1, 2).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!two_more.is_finished(), "only one slot is free");
        w.ack(&[(t1, 1)]);
        tokio::time::timeout(std::time::Duration::from_secs(5), two_more)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.in_flight(), 4);
    }

    // Paused time, as above.
    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_in_flight_changes() {
        let w = Arc::new(AckWindow::new(4, p(4), None));
        let t1 = w.begin();
        w.add(t1, 1).await;
        let w2 = w.clone();
        let d = tokio::spawn(async move { w2.drain().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!d.is_finished());
        w.ack(&[(t1, 1)]);
        tokio::time::timeout(std::time::Duration::from_secs(5), d)
            .await
            .unwrap()
            .unwrap();
    }
}
