//! Which MySQL server to read from, when `mysql_addr` lists several: the first that answers at
//! start, and after a failure the current one if it still answers, else one that can serve the
//! sync's GTID state (a failover).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Config;
use crate::model::history::Place;
use crate::mysql::connect::{check_mysql, MysqlServer};
use crate::pipeline::start::plan_resume;
use crate::tls::MysqlTls;

/// Connects to the first server of `mysql_addr` that answers; with several, each is tried in
/// turn until `start_retry_secs` have passed.
pub async fn connect_first(
    cfg: &Config,
    servers: &[String],
    tls: &MysqlTls,
) -> Result<(usize, MysqlServer)> {
    if servers.len() == 1 {
        return Ok((0, check_mysql(&cfg.for_server(&servers[0]), tls).await?));
    }
    let deadline = Instant::now() + Duration::from_secs(cfg.start_retry_secs);
    loop {
        let mut last = None;
        for (i, addr) in servers.iter().enumerate() {
            let one = Config {
                start_retry_secs: 0,
                ..cfg.for_server(addr)
            };
            match check_mysql(&one, tls).await {
                Ok(m) => return Ok((i, m)),
                Err(e) => {
                    tracing::warn!("MySQL at {addr}: {e:#}");
                    last = Some(e);
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(last.expect("at least one server"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// After a failure, with several servers: the current one if it still answers, else the
/// first other that can serve `place`'s GTID state (a promoted replica, or a replica that has
/// every transaction of it, and the last one applied with the same stamp). `None` when none
/// can yet (the caller tries again later).
pub async fn pick_server(
    cfg: &Config,
    servers: &[String],
    at: usize,
    tls: &MysqlTls,
    place: &Place,
) -> Option<(usize, MysqlServer)> {
    for k in 0..servers.len() {
        let i = (at + k) % servers.len();
        let one = Config {
            start_retry_secs: 0,
            ..cfg.for_server(&servers[i])
        };
        let Ok(m) = check_mysql(&one, tls).await else {
            continue;
        };
        if i == at {
            return Some((i, m));
        }
        match plan_resume(&one, &m.pool, &m.opts, place, true).await {
            Ok(r) if r.by_gtid => return Some((i, m)),
            Ok(_) => {}
            Err(e) => tracing::warn!("MySQL at {}: {e:#}", servers[i]),
        }
    }
    None
}
