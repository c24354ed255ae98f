//! The binlog reader: connects as a replica, follows the stream, turns the rows of configured
//! tables into [`Change`]s routed by key to the workers, and marks transaction boundaries in
//! the acknowledgement window.
//!
//! Rows of tables that are not configured are never decoded (decoding is the reader's main
//! cost); their transactions only move the resumable position.

mod query;
mod schema;
mod stream;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_async::binlog::EventType;
use mysql_async::prelude::Queryable;
use mysql_async::BinlogStreamRequest;
use tokio::sync::{mpsc, watch};

use crate::catalog::SchemaLoader;
use crate::config::{Config, Flavor};
use crate::error::Transient;
use crate::model::change::TxnId;
use crate::model::change::{BarrierRequest, Change, Op, RowKind};
use crate::model::gtid::GtidState;
use crate::model::history::Stamp;
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::Position;
use crate::model::table::{Skip, TableMeta};
use crate::mysql::history::{mysql_stamp, origin_of, stamp_of};
use crate::mysql::layout::{binlog_column_names, image, layout_of, Layout};
use crate::mysql::rows::RowPlan;
use crate::ops::metrics::Metrics;
use crate::state::reload::Reloads;
use crate::window::AckWindow;
use stream::{
    classify_stream_error, mariadb_gtid, mariadb_gtid_list, mysql_gtid, mysql_previous_gtids,
    place_event, rotate_name, Prepared, StreamState,
};

/// A connection silent this long (ten missed heartbeats) is dead, whatever TCP says.
const SILENCE: Duration = Duration::from_secs(10);

/// MariaDB's GTID event type (unknown to mysql_common).
const MARIADB_GTID_EVENT: u8 = 162;
/// MariaDB's GTID_LIST event type: the GTID state at the start of a file.
const MARIADB_GTID_LIST_EVENT: u8 = 163;

/// How the reader's run ended when it did not fail.
#[derive(Debug)]
pub enum Stop {
    Shutdown,
}

/// The binlog reader: a replica connection that turns row events into [`Change`]s.
///
/// Contract: changes are sent in binlog order, each to the worker its key hashes to (so one
/// key's changes stay in order), each registered in the [`AckWindow`] before it is sent, its
/// transaction sealed at the commit event (XID, COMMIT, an XA outcome). It never skips an
/// event it cannot read or place: it stops with the position and what to do. It runs no
/// PostgreSQL SQL: a [`Barrier`] (a TRUNCATE) goes to the writer side, and the reader sends
/// nothing after it until the writer side has applied it.
pub struct Reader {
    cfg: Arc<Config>,
    opts: mysql_async::Opts,
    loader: Arc<SchemaLoader>,
    out: Outputs,
    /// Loaded tables by source name; `None` for a configured table that is skipped.
    metas: HashMap<TableName, Option<Arc<TableMeta>>>,
    /// How many source tables write into each target (a TRUNCATE of one shard must not empty all).
    target_sources: HashMap<TableName, HashSet<TableName>>,
    metrics: Metrics,
    /// Tables reloaded by `init --tables`: their changes before the copy are skipped.
    reloads: Reloads,
    /// Every worker committed everything up to here before this run began: rows before it
    /// are not decoded (the table definitions this run starts with may be newer than them),
    /// and a schema change up to it is applied already.
    floor: Option<Mark>,
}

/// What PostgreSQL holds already when a run begins: the reader does not decode it again.
pub struct AlreadyApplied {
    /// Tables reloaded by `init --tables` (their changes before the copy are in it).
    pub reloads: Reloads,
    /// The lowest worker checkpoint: everything before it is committed by every worker.
    pub floor: Option<Mark>,
}

/// Where the reader's output goes: the window every change is registered in, the workers'
/// queues (index = worker id), the writer side's barrier queue, and the stop signal it obeys.
pub struct Outputs {
    pub window: Arc<AckWindow>,
    pub workers: Vec<mpsc::Sender<Change>>,
    pub barriers: mpsc::Sender<BarrierRequest>,
    pub shutdown: watch::Receiver<bool>,
}

impl Reader {
    /// A reader of the configured tables; `metas` are the tables loaded at start (more are
    /// loaded as they appear in the binlog).
    pub fn new(
        cfg: Arc<Config>,
        opts: mysql_async::Opts,
        loader: Arc<SchemaLoader>,
        metas: HashMap<TableName, Option<Arc<TableMeta>>>,
        done: AlreadyApplied,
        metrics: Metrics,
        out: Outputs,
    ) -> Self {
        let AlreadyApplied { reloads, floor } = done;
        let mut target_sources: HashMap<TableName, HashSet<TableName>> = HashMap::new();
        for (k, m) in &metas {
            if let Some(m) = m {
                target_sources
                    .entry(m.target.clone())
                    .or_default()
                    .insert(k.clone());
            }
        }
        Reader {
            cfg,
            opts,
            loader,
            out,
            metas,
            target_sources,
            metrics,
            reloads,
            floor,
        }
    }

    /// Whether an event at `at` lies before the floor (all of it committed by every worker).
    fn before_floor(&self, at: &Position) -> bool {
        self.floor.as_ref().is_some_and(|f| {
            let m = Mark::at(at);
            m < *f && !(m.file == f.file && m.pos == f.pos)
        })
    }

    /// Reads from `start` (a transaction boundary) until shutdown or failure; with `by_gtid`,
    /// asks the server for what follows that GTID state instead of for `start`'s file and
    /// offset (which may be another server's).
    pub async fn run(mut self, start: Position, by_gtid: Option<GtidState>) -> Result<Stop> {
        let mut conn = mysql_async::Conn::new(self.opts.clone())
            .await
            .map_err(|e| {
                Transient(format!(
                    "cannot connect to MySQL at {}: {e}",
                    self.cfg.mysql_addr
                ))
            })?;
        if self.cfg.flavor == Flavor::Mariadb {
            // Without it MariaDB rewrites its GTID events as BEGIN queries; with it we get them raw.
            conn.query_drop("SET @mariadb_slave_capability = 4").await?;
        }
        // One heartbeat a second lets a dead connection be noticed by the read timeout below.
        conn.query_drop("SET @master_heartbeat_period = 1000000000")
            .await?;
        let mut request = BinlogStreamRequest::new(self.cfg.server_id);
        let from = match &by_gtid {
            None => {
                request = request
                    .with_filename(start.file.as_bytes())
                    .with_pos(start.pos);
                start.to_string()
            }
            Some(g @ GtidState::Mysql(_)) => {
                request = request.with_gtid().with_gtid_set(g.mysql_sids()?);
                format!("GTID set {g}")
            }
            Some(g @ GtidState::Mariadb(_)) => {
                // Strict: a position the server's binlog does not hold is an error, not a guess.
                conn.exec_drop("SET @slave_connect_state = ?", (g.to_string(),))
                    .await?;
                conn.query_drop(
                    "SET @slave_gtid_strict_mode = 1, @slave_gtid_ignore_duplicates = 0",
                )
                .await?;
                format!("GTID position {g}")
            }
        };
        let mut stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| Transient(format!("binlog dump request at {from} failed: {e}")))?;
        tracing::info!("reading the binlog from {from}");

        let mut st = StreamState {
            file: start.file.clone(),
            txn: None,
            gtid: None,
            rotated_to: None,
            in_begin: false,
            tables: HashMap::new(),
            anchor: start.pos,
            anchor_seq: 0,
            xa: None,
            prepared: Vec::new(),
        };
        loop {
            let next = tokio::select! {
                _ = self.out.shutdown.changed() => return Ok(Stop::Shutdown),
                n = tokio::time::timeout(SILENCE, stream.next()) => n,
            };
            let event = match next {
                Err(_) => {
                    return Err(Transient(format!(
                        "no binlog event nor heartbeat for {SILENCE:?} (the server sends one a second); reconnecting"
                    ))
                    .into())
                }
                Ok(None) => {
                    return Err(Transient("the server closed the binlog stream".into()).into())
                }
                Ok(Some(Err(e))) => return Err(classify_stream_error(e, &st.file).into_anyhow()),
                Ok(Some(Ok(ev))) => ev,
            };
            if *self.out.shutdown.borrow() {
                return Ok(Stop::Shutdown);
            }
            // The reader also talks to PostgreSQL (TRUNCATE, a table's layout) and to MySQL
            // (information_schema): a lost connection there is retried like the binlog's own
            // (`crate::error::is_transient` finds it in the chain), anything else is fatal.
            self.on_event(&mut st, event).await?;
        }
    }

    async fn on_event(&mut self, st: &mut StreamState, event: Event) -> Result<()> {
        let hdr = event.header();
        let raw_type = hdr.event_type_raw();
        let ts = hdr.timestamp() as u64;
        if ts != 0 {
            self.metrics.event_time(ts);
        }
        if raw_type == EventType::FORMAT_DESCRIPTION_EVENT as u8 {
            self.on_format_description(st, &event)?;
        }
        let Some(log_pos) = place_event(st, &event) else {
            // Artificial events (the first ROTATE, heartbeats, a replayed FORMAT_DESCRIPTION)
            // are not in the file here; only a ROTATE moves the position.
            if let Ok(Some(EventData::RotateEvent(r))) = event.read_data() {
                let name = rotate_name(&event, r.name_raw());
                self.on_rotate(st, name, r.position());
            }
            return Ok(());
        };
        let data = event.read_data().with_context(|| {
            format!(
                "cannot decode binlog event type {raw_type} ending at {}:{log_pos}",
                st.file
            )
        })?;
        match data {
            Some(EventData::RotateEvent(r)) => {
                let name = String::from_utf8_lossy(r.name_raw()).to_string();
                self.on_rotate(st, name, r.position());
            }
            Some(EventData::XidEvent(_)) => self.end_txn(st, log_pos),
            Some(EventData::XaPrepareLogEvent(body)) => {
                let Some((one_phase, xid)) = crate::mysql::statement::xa_prepare_xid(&body) else {
                    bail!("cannot read the XA PREPARE event ending at {}:{log_pos}", st.file);
                };
                let changes = st.xa.take().unwrap_or_default();
                if one_phase {
                    // XA COMMIT … ONE PHASE: an ordinary commit.
                    if let Some(txn) = st.txn {
                        self.dispatch(txn, changes).await?;
                    }
                    self.end_txn(st, log_pos);
                } else if changes.is_empty() {
                    // Nothing of a configured table: its outcome changes nothing here, and it
                    // must not hold the saved position back while it waits.
                    if let Some(t) = st.txn.take() {
                        let gtid = st.gtid.take();
                        self.out.window.seal(t, Position::new(st.file.clone(), log_pos), gtid);
                    }
                } else {
                    let hold = match st.txn.take() {
                        Some(t) => t,
                        None => self.out.window.begin(),
                    };
                    tracing::debug!("XA PREPARE {xid} at {}:{log_pos}: {} change(s) held", st.file, changes.len());
                    st.prepared.push(Prepared {
                        xid,
                        hold,
                        end: Position::new(st.file.clone(), log_pos),
                        gtid: st.gtid.take(),
                        changes,
                    });
                }
            }
            Some(EventData::QueryEvent(q)) => {
                let schema = q.schema().to_string();
                let query = q.query().to_string();
                self.on_query(st, &schema, &query, log_pos).await?;
            }
            Some(EventData::TableMapEvent(tme)) => self.on_table_map(st, &tme, log_pos).await?,
            Some(EventData::GtidEvent(g)) => {
                st.in_begin = false; // a new transaction: the last one is over
                st.gtid = Some(mysql_stamp(&event, &g, mysql_gtid(&g)));
            }
            Some(EventData::AnonymousGtidEvent(_)) => st.gtid = None,
            Some(EventData::PreviousGtidsEvent(e)) => {
                if let (Some(state), None) = (mysql_previous_gtids(&e), st.txn) {
                    self.out
                        .window
                        .boundary_with_state(Position::new(st.file.clone(), log_pos), state);
                }
            }
            Some(EventData::RowsEvent(rows)) => {
                let (at, first_seq) = if hdr.log_pos() == 0 {
                    (st.anchor, st.anchor_seq)
                } else {
                    (log_pos.saturating_sub(hdr.event_size() as u64), 0)
                };
                let at = Position::new(st.file.clone(), at);
                let last_seq = self.on_rows(st, rows, at, ts as u32, first_seq).await?;
                if hdr.log_pos() == 0 {
                    st.anchor_seq = last_seq;
                }
            }
            Some(_) => {}
            // MariaDB's compressed rows events (log_bin_compress): their rows cannot be read.
            None if (166..=171).contains(&raw_type) => bail!(
                "the binlog at {}:{log_pos} holds a compressed rows event (MariaDB log_bin_compress=ON); \
                 set log_bin_compress=OFF on the server and resynchronise",
                st.file
            ),
            None if raw_type == MARIADB_GTID_EVENT => {
                st.in_begin = false;
                st.gtid = mariadb_gtid(&event).map(|g| stamp_of(&event, g));
                // One that opens a prepared XA transaction (MariaDB logs no XA START).
                if crate::mysql::statement::mariadb_gtid_prepared_xa(event.data()) {
                    self.xa_start(st);
                }
            }
            None if raw_type == MARIADB_GTID_LIST_EVENT => {
                if let (Some(state), None) = (mariadb_gtid_list(&event), st.txn) {
                    self.out
                        .window
                        .boundary_with_state(Position::new(st.file.clone(), log_pos), state);
                }
            }
            // ANNOTATE_ROWS, BINLOG_CHECKPOINT, GTID, GTID_LIST (MariaDB) and other vendor events.
            None => {}
        }
        Ok(())
    }

    /// The stream moves to `name` at `pos` (a new file, or the start of the stream). It is a
    /// resume point once the file's origin is known (see [`Self::on_format_description`]).
    fn on_rotate(&self, st: &mut StreamState, name: String, pos: u64) {
        st.file = name.into();
        st.anchor = pos;
        st.anchor_seq = 0;
        st.tables.clear();
        st.rotated_to = Some(pos);
    }

    /// A file's FORMAT_DESCRIPTION event (the first of every file, and sent first by a dump
    /// that starts inside one): the file's origin, checked against the saved one when this
    /// is the file a resume by file and offset starts in, before anything of it is read.
    fn on_format_description(&self, st: &mut StreamState, event: &Event) -> Result<()> {
        let origin = origin_of(event);
        if let Err(saved) = self.out.window.note_origin(st.file.clone(), origin) {
            bail!(
                "{}. Nothing was read from it. {}",
                crate::model::history::another_history(
                    &st.file,
                    &saved,
                    &format!("this server's {} was {}", st.file, origin.describe())
                ),
                crate::model::history::WAYS_FORWARD
            );
        }
        if let Some(pos) = st.rotated_to.take() {
            if st.txn.is_none() {
                self.out
                    .window
                    .boundary(Position::new(st.file.clone(), pos), None);
            }
        }
        Ok(())
    }

    /// Sends `changes` of transaction `txn` to their workers, waiting for room in the window.
    async fn dispatch(&self, txn: TxnId, changes: Vec<Change>) -> Result<()> {
        let n = self.out.workers.len();
        let mut changes = changes.into_iter().peekable();
        // Room is asked for an eighth of the window at a time: asking for the whole window
        // would wait until every worker is idle (an empty window) before each chunk of a large
        // event, and the workers would then stand still while the next one is sent.
        let step = (self.out.window.size() / 8).max(1);
        while changes.peek().is_some() {
            let chunk: Vec<Change> = changes.by_ref().take(step).collect();
            self.out.window.add(txn, chunk.len()).await;
            for c in chunk {
                let w = c.worker(n);
                if self.out.workers[w].send(c).await.is_err() {
                    // A consequence, not a cause: the worker's own error (fatal or not) is
                    // what the pipeline reports (see `pipeline::run::drain`).
                    return Err(Transient(format!("apply worker {w} stopped")).into());
                }
            }
        }
        Ok(())
    }

    /// The current transaction (if it had changes) ends here; either way this is a resume point.
    fn end_txn(&self, st: &mut StreamState, log_pos: u64) {
        st.in_begin = false;
        let gtid = st.gtid.take();
        self.resume_point(st, log_pos, gtid);
    }

    /// A place to resume from inside BEGIN … COMMIT (after a SAVEPOINT, or a statement of
    /// another table): its changes so far are sealed, but the transaction's GTID waits for its
    /// end, so the GTID state never names a transaction half applied.
    fn resume_point(&self, st: &mut StreamState, log_pos: u64, gtid: Option<Stamp>) {
        let end = Position::new(st.file.clone(), log_pos);
        match st.txn.take() {
            Some(t) => self.out.window.seal(t, end, gtid),
            None => self.out.window.boundary(end, gtid),
        }
    }

    /// The loaded table for a configured source table; `None` when it is skipped.
    pub(super) async fn meta(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Option<Arc<TableMeta>>> {
        let key = TableName::new(schema, table);
        if let Some(m) = self.metas.get(&key) {
            return Ok(m.clone());
        }
        let loaded = match self.loader.load(schema, table).await? {
            Ok(m) => Some(m),
            Err(Skip::NoKey) if self.cfg.skip_no_pk_table => {
                tracing::warn!("skipping table {schema}.{table}: it has no primary key and no NOT NULL unique key");
                None
            }
            Err(Skip::NoKey) => bail!(
                "table {schema}.{table} has no primary key and no NOT NULL unique key, so its rows cannot be \
                 matched in PostgreSQL; add a primary key, or set skip_no_pk_table = true to skip such tables"
            ),
        };
        if let Some(m) = &loaded {
            self.target_sources
                .entry(m.target.clone())
                .or_default()
                .insert(key.clone());
        }
        self.metas.insert(key, loaded.clone());
        Ok(loaded)
    }

    async fn on_table_map(
        &mut self,
        st: &mut StreamState,
        tme: &TableMapEvent<'_>,
        log_pos: u64,
    ) -> Result<()> {
        let id = tme.table_id();
        if let Some(Some(l)) = st.tables.get(&id) {
            // The same table map again (every transaction repeats it): nothing to redo.
            if l.plan.made_from(tme) {
                return Ok(());
            }
        }
        let (schema, table) = (
            tme.database_name().to_string(),
            tme.table_name().to_string(),
        );
        if let Some(Some(l)) = st.tables.get(&id) {
            if l.meta.source.schema == schema && l.meta.source.table == table {
                // Same table, another table map (its columns changed under the same id).
                let plan = RowPlan::new(tme).map_err(|e| {
                    anyhow!(
                        "table map of {schema}.{table} at {}:{log_pos}: {e:#}",
                        st.file
                    )
                })?;
                let layout = Layout {
                    meta: l.meta.clone(),
                    map: l.map.clone(),
                    plan,
                };
                st.tables.insert(id, Some(Arc::new(layout)));
                return Ok(());
            }
        }
        if !self.loader.rules().is_configured(&schema, &table) {
            st.tables.insert(id, None);
            return Ok(());
        }
        let names = binlog_column_names(tme);
        let count = tme.columns_count() as usize;
        let plan = RowPlan::new(tme).map_err(|e| {
            anyhow!(
                "table map of {schema}.{table} at {}:{log_pos}: {e:#}",
                st.file
            )
        })?;
        let mut reloaded = false;
        let layout = loop {
            let Some(meta) = self.meta(&schema, &table).await? else {
                break None;
            };
            match layout_of(&meta, names.as_deref(), count) {
                Some(map) => {
                    let plan = plan.clone();
                    break Some(Arc::new(Layout { meta, map, plan }));
                }
                // Rows this run does not decode (before the floor) may be older than the
                // definition it started with.
                None if self.before_floor(&Position::new(st.file.clone(), log_pos)) => break None,
                None if !reloaded => {
                    // The table may have changed since it was loaded: look again once.
                    self.metas.remove(&TableName::new(schema.clone(), table.clone()));
                    reloaded = true;
                }
                None => bail!(
                    "table {schema}.{table} at {}:{log_pos}: the binlog rows have {count} columns{} but the table now has {} ({}); \
                     its schema changed since these rows were written: make the PostgreSQL table match and restart \
                     from a position after the change, or re-load the table",
                    st.file,
                    names.as_ref().map(|n| format!(" ({})", n.join(", "))).unwrap_or_default(),
                    meta.columns.len(),
                    meta.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        };
        st.tables.insert(id, layout);
        Ok(())
    }

    async fn on_rows(
        &mut self,
        st: &mut StreamState,
        rows: RowsEventData<'_>,
        at: Position,
        ts: u32,
        first_seq: u32,
    ) -> Result<u32> {
        let Some(Some(layout)) = st.tables.get(&rows.table_id()).cloned() else {
            return Ok(first_seq);
        };
        let name = layout.meta.source_name();
        if self.reloads.in_copy(name, &at) {
            return Ok(first_seq); // in the table's reloaded copy already
        }
        // XA rows are stamped at their outcome, later: the workers decide for those.
        if st.xa.is_none() && self.before_floor(&at) {
            return Ok(first_seq); // committed by every worker before this run
        }
        if matches!(rows, RowsEventData::PartialUpdateRowsEvent(_)) {
            bail!(
                "the binlog at {at} holds a partial JSON update for {name}: set binlog_row_value_options='' \
                 on the server (partial JSON updates are not replicated), then, with the sync stopped, run \
                 `mysql-gp-sync init --tables {name}`: it reloads that table at a new position and the sync \
                 skips its changes before it, this one included; the other tables keep their position"
            );
        }
        let decoded = layout.plan.rows(&rows).with_context(|| {
            format!(
                "cannot decode a row of {name} at {at}; to go on without it, stop the sync and run \
                 `mysql-gp-sync init --tables {name}` (reloads that table at a new position, skipping \
                 its changes before it; the other tables keep their position)"
            )
        })?;
        let kind = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => {
                EventType::WRITE_ROWS_EVENT
            }
            RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) => {
                EventType::UPDATE_ROWS_EVENT
            }
            _ => EventType::DELETE_ROWS_EVENT,
        };
        let mut changes: Vec<Change> = Vec::new();
        let txn = *st.txn.get_or_insert_with(|| self.out.window.begin());
        let mut seq: u32 = first_seq;
        for (before, after) in decoded {
            let before = before.map(|r| image(&layout, r, &at)).transpose()?;
            let after = after.map(|r| image(&layout, r, &at)).transpose()?;
            let mut mk = |op, kind, row| {
                seq += 1;
                Change {
                    table: layout.meta.clone(),
                    op,
                    kind,
                    row,
                    txn,
                    pos: at.clone(),
                    ts,
                    seq,
                }
            };
            match (kind, before, after) {
                (EventType::WRITE_ROWS_EVENT, _, Some(a)) => {
                    changes.push(mk(Op::Upsert, RowKind::Insert, a))
                }
                (EventType::DELETE_ROWS_EVENT, Some(b), _) => {
                    changes.push(mk(Op::Delete, RowKind::Delete, b))
                }
                (EventType::UPDATE_ROWS_EVENT, Some(b), Some(a)) => {
                    let same_key = layout.meta.key.iter().all(|&k| b[k] == a[k]);
                    if !same_key {
                        changes.push(mk(Op::Delete, RowKind::KeyMove, b));
                    }
                    changes.push(mk(Op::Upsert, RowKind::Update, a));
                }
                _ => bail!(
                    "malformed rows event for {} at {at}",
                    layout.meta.source_name()
                ),
            }
        }
        match &mut st.xa {
            Some(held) => held.extend(changes),
            None => self.dispatch(txn, changes).await?,
        }
        Ok(seq)
    }
}
