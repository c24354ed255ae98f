//! TLS to both servers, against the real MariaDB and PostgreSQL that `scripts/test-env.sh`
//! starts with a throw-away CA. The server certificate names `localhost` only, so connecting
//! to `127.0.0.1` shows the difference between checking the CA and checking the host name.
//! The accounts used for the TLS cases are refused by the servers themselves without TLS
//! (MariaDB `REQUIRE SSL` / `REQUIRE X509`, PostgreSQL `hostssl` + `hostnossl … reject`), so a
//! passing sync proves the sessions were encrypted, not just that the config was accepted.

use std::path::Path;

use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T_MY: &str = "CREATE TABLE t (
    id INT NOT NULL PRIMARY KEY,
    v VARCHAR(40) CHARACTER SET utf8mb4 NULL,
    d DECIMAL(30,10) NULL,
    b VARBINARY(16) NULL
) ENGINE=InnoDB";
const T_PG: &str = "CREATE TABLE t (
    id integer NOT NULL PRIMARY KEY,
    v varchar(40),
    d numeric(30,10),
    b bytea
)";

fn pem(env: &Env, name: &str) -> String {
    let p = env.tls.dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: the test servers were started without TLS; run scripts/test-env.sh up",
        p.display()
    );
    toml_str(&p.to_string_lossy())
}

/// Inserts, updates and deletes that touch every column, in several transactions.
async fn workload(db: &TestDb) {
    let mut c = db.my().await;
    for i in 0..200 {
        my_q(
            &mut c,
            &format!(
                "INSERT INTO t VALUES ({i}, 'row {i} ✓', {i}.0123456789, UNHEX('00FF{i:04X}'))"
            ),
        )
        .await;
    }
    my_q(&mut c, "BEGIN").await;
    my_q(
        &mut c,
        "UPDATE t SET v = CONCAT(v, ' upd'), d = -d WHERE id % 3 = 0",
    )
    .await;
    my_q(&mut c, "DELETE FROM t WHERE id % 7 = 0").await;
    my_q(&mut c, "COMMIT").await;
    my_q(&mut c, "BEGIN").await;
    my_q(
        &mut c,
        "INSERT INTO t VALUES (100000, 'rolled back', 1, NULL)",
    )
    .await;
    my_q(&mut c, "ROLLBACK").await;
    let _ = c.disconnect().await;
}

/// The sync's own PostgreSQL sessions, as the server sees them: (encrypted, all).
async fn pg_sessions_encrypted(env: &Env) -> (i64, i64) {
    let pg = env.pg().await;
    let row = pg
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'mysql-gp-sync'",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

async fn sync_and_compare(env: &Env, db: &TestDb, cfg: &SyncConfig) -> SyncProc {
    let mut sync = SyncProc::start(env, cfg).await;
    workload(db).await;
    // bytea reads back as `\x…` hex.
    let my_sql = format!(
        "SELECT id, v, d, LOWER(CONCAT('\\\\x', HEX(b))) AS b FROM {}",
        quote_my(&db.t("t"))
    );
    sync.wait_query_equal(&my_sql, &db.t("t"), &["id"], secs(60))
        .await;
    sync.assert_alive("after the workload");
    sync
}

#[tokio::test]
async fn verify_identity_and_verify_full_over_tls_only_accounts() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("tls_full").await;
    db.create_table(T_MY, T_PG).await;
    let mut cfg = SyncConfig::new(&env, &db.name, &["t"])
        .set("mysql_ssl", "\"verify_identity\"")
        .set("mysql_ssl_ca", &pem(&env, "ca.pem"))
        .set("pg_sslmode", "\"verify-full\"")
        .set("pg_sslrootcert", &pem(&env, "ca.pem"));
    // The certificate names `localhost`, so that is the name to connect by.
    cfg.mysql_addr = format!("localhost:{}", env.mysql_port);
    cfg.pg_host = "localhost".into();
    (cfg.mysql_user, cfg.mysql_pass) = env.tls.mysql_tls.clone();
    (cfg.pg_user, cfg.pg_pass) = env.tls.pg_tls.clone();
    let mut sync = sync_and_compare(&env, &db, &cfg).await;
    let (encrypted, all) = pg_sessions_encrypted(&env).await;
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} sessions encrypted"
    );
    let log = sync.log();
    for server in ["MySQL at localhost", "PostgreSQL at localhost"] {
        assert!(
            log.lines().any(|l| l.contains(server)
                && l.contains(": TLSv1.")
                && l.contains("verified against the CA and the host name")),
            "the log should say {server} is reached over verified TLS:\n{log}"
        );
    }
    sync.sigterm_and_wait().await;
}

#[tokio::test]
async fn client_certificates_with_verify_ca_by_address() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("tls_x509").await;
    db.create_table(T_MY, T_PG).await;
    // By address: the certificate does not name 127.0.0.1, which verify_ca does not mind.
    let mut cfg = SyncConfig::new(&env, &db.name, &["t"])
        .set("mysql_ssl", "\"verify_ca\"")
        .set("mysql_ssl_ca", &pem(&env, "ca.pem"))
        .set("mysql_ssl_cert", &pem(&env, "client-cert.pem"))
        .set("mysql_ssl_key", &pem(&env, "client-key.pem"))
        .set("pg_sslmode", "\"verify-ca\"")
        .set("pg_sslrootcert", &pem(&env, "ca.pem"))
        .set("pg_sslcert", &pem(&env, "client-cert.pem"))
        .set("pg_sslkey", &pem(&env, "client-key.pem"));
    assert_eq!(cfg.pg_host, "127.0.0.1");
    (cfg.mysql_user, cfg.mysql_pass) = env.tls.mysql_x509.clone();
    (cfg.pg_user, cfg.pg_pass) = env.tls.pg_cert.clone();
    let mut sync = sync_and_compare(&env, &db, &cfg).await;
    let log = sync.log();
    assert!(
        log.contains("TLSv1.") && log.contains("verified against the CA"),
        "{log}"
    );
    sync.sigterm_and_wait().await;
}

#[tokio::test]
async fn by_default_the_sync_encrypts_when_the_servers_offer_tls() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("tls_default").await;
    db.create_table(T_MY, T_PG).await;
    // The ordinary accounts, no TLS keys at all: `preferred` / `prefer`.
    let cfg = SyncConfig::new(&env, &db.name, &["t"]);
    assert!(cfg.extra.is_empty());
    let mut sync = sync_and_compare(&env, &db, &cfg).await;
    let (encrypted, all) = pg_sessions_encrypted(&env).await;
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} sessions encrypted"
    );
    let log = sync.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains(": TLSv1.") && l.contains("server certificate not verified"))
            .count(),
        2,
        "MySQL and PostgreSQL should each be logged as TLS, unverified:\n{log}"
    );
    sync.sigterm_and_wait().await;
}

/// Runs the sync with `cfg` and expects it to stop at once with an error naming each of
/// `mentions`, leaving master.info as it was.
async fn refused(env: &Env, cfg: &SyncConfig, mentions: &[&str]) {
    let mut sync = SyncProc::start(env, cfg).await;
    let before = sync.master_info();
    let st = sync.wait_exit(secs(30)).await;
    assert!(
        matches!(st.code(), Some(c) if c != 0),
        "expected a failure, got {st}\n{}",
        sync.diag()
    );
    let err = sync.stderr();
    for m in mentions {
        assert!(
            err.lines()
                .any(|l| l.starts_with("Error:") && l.contains(m)),
            "the error should mention {m:?}:\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(sync.master_info(), before, "master.info must not move");
}

#[tokio::test]
async fn refusals_name_the_setting_to_change() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("tls_refused").await;
    db.create_table(T_MY, T_PG).await;
    let base = SyncConfig::new(&env, &db.name, &["t"]);

    // Host name not in the certificate.
    let cfg = base
        .clone()
        .set("mysql_ssl", "\"verify_identity\"")
        .set("mysql_ssl_ca", &pem(&env, "ca.pem"));
    refused(
        &env,
        &cfg,
        &[
            "MySQL at 127.0.0.1",
            "127.0.0.1",
            "mysql_ssl = \"verify_ca\"",
        ],
    )
    .await;
    let cfg = base
        .clone()
        .set("pg_sslmode", "\"verify-full\"")
        .set("pg_sslrootcert", &pem(&env, "ca.pem"));
    refused(
        &env,
        &cfg,
        &["PostgreSQL at 127.0.0.1", "pg_sslmode = \"verify-ca\""],
    )
    .await;

    // A CA that did not sign the server's certificate: given with `required`, it is still
    // checked.
    let cfg = base
        .clone()
        .set("mysql_ssl", "\"required\"")
        .set("mysql_ssl_ca", &pem(&env, "other-ca.pem"));
    refused(&env, &cfg, &["UnknownIssuer", "set mysql_ssl_ca"]).await;
    let cfg = base
        .clone()
        .set("pg_sslrootcert", &pem(&env, "other-ca.pem"));
    refused(&env, &cfg, &["UnknownIssuer", "set pg_sslrootcert"]).await;

    // TLS turned off for accounts the servers only admit over TLS.
    let mut cfg = base.clone().set("mysql_ssl", "\"disabled\"");
    (cfg.mysql_user, cfg.mysql_pass) = env.tls.mysql_tls.clone();
    refused(&env, &cfg, &["Access denied", "REQUIRE SSL"]).await;
    let mut cfg = base.clone().set("pg_sslmode", "\"disable\"");
    (cfg.pg_user, cfg.pg_pass) = env.tls.pg_tls.clone();
    refused(&env, &cfg, &["no encryption", "hostssl"]).await;

    // An X509 account without a client certificate.
    let mut cfg = base.clone().set("mysql_ssl", "\"required\"");
    (cfg.mysql_user, cfg.mysql_pass) = env.tls.mysql_x509.clone();
    refused(&env, &cfg, &["Access denied", "mysql_ssl_cert"]).await;

    // Passwords stay out of every message above (checked on the last run's output).
    let cfg = base.clone().set("mysql_ssl", "\"verify_identity\"");
    let mut sync = SyncProc::start(&env, &cfg).await;
    sync.wait_exit(secs(30)).await;
    let all = format!("{}{}{}", sync.stderr(), sync.stdout(), sync.log());
    assert!(
        !all.contains(&env.repl_pass) && !all.contains(&env.pg_pass),
        "{all}"
    );
}

#[tokio::test]
async fn tls_files_are_checked_as_config() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let base = SyncConfig::new(&env, "tls_cfg_nodb", &["t"]);
    let cases: [(SyncConfig, &[&str]); 4] = [
        (
            base.clone().set("mysql_ssl_ca", "\"/nonexistent/ca.pem\""),
            &["mysql_ssl_ca", "/nonexistent/ca.pem"],
        ),
        (
            base.clone()
                .set("pg_sslrootcert", &pem(&env, "client-key.pem")),
            &["pg_sslrootcert", "no PEM certificate"],
        ),
        (
            base.clone()
                .set("pg_sslcert", &pem(&env, "client-cert.pem")),
            &["pg_sslcert", "pg_sslkey", "give both"],
        ),
        (
            base.clone().set("mysql_ssl", "\"on\""),
            &["mysql_ssl", "verify_identity"],
        ),
    ];
    for (cfg, mentions) in cases {
        let mut sync = SyncProc::start_raw(&env, &cfg.to_toml(Path::new("{DATA_DIR}")), None).await;
        let st = sync.wait_exit(secs(30)).await;
        assert_eq!(
            st.code(),
            Some(2),
            "a config mistake exits 2\n{}",
            sync.diag()
        );
        let err = sync.stderr();
        for m in mentions {
            assert!(err.contains(m), "the error should mention {m:?}:\n{err}");
        }
    }
}

// ---------------------------------------------------------------------------
// Servers that offer no TLS: the real servers behind a relay that strips the offer, the way
// an old or unconfigured server answers.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Strip {
    /// Clears CLIENT_SSL in the MySQL server's greeting.
    MysqlGreeting,
    /// Answers PostgreSQL's SSLRequest with "N".
    PgSslRequest,
}

/// A relay on a free loopback port to `upstream` that hides the server's TLS.
async fn no_tls_relay(upstream: String, strip: Strip) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let ok = match strip {
                    Strip::MysqlGreeting => strip_mysql_greeting(&mut server, &mut client).await,
                    Strip::PgSslRequest => refuse_pg_ssl_request(&mut client, &mut server).await,
                };
                if ok.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    port
}

async fn strip_mysql_greeting(
    server: &mut TcpStream,
    client: &mut TcpStream,
) -> std::io::Result<()> {
    let mut header = [0u8; 4];
    server.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut body = vec![0u8; len];
    server.read_exact(&mut body).await?;
    // protocol version, server version + NUL, connection id, 8 bytes of scramble, filler,
    // then the low 16 bits of the capability flags; CLIENT_SSL is 0x0800.
    let nul = body[1..]
        .iter()
        .position(|&b| b == 0)
        .expect("server version")
        + 1;
    let flags = nul + 1 + 4 + 8 + 1;
    body[flags + 1] &= !0x08;
    client.write_all(&header).await?;
    client.write_all(&body).await
}

async fn refuse_pg_ssl_request(
    client: &mut TcpStream,
    server: &mut TcpStream,
) -> std::io::Result<()> {
    let mut first = [0u8; 8];
    client.read_exact(&mut first).await?;
    if first == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] {
        client.write_all(b"N").await
    } else {
        server.write_all(&first).await
    }
}

#[tokio::test]
async fn servers_without_tls_preferred_goes_plain_required_refuses() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("tls_none").await;
    db.create_table(T_MY, T_PG).await;
    let my_port = no_tls_relay(env.mysql_addr(), Strip::MysqlGreeting).await;
    let pg_port = no_tls_relay(
        format!("{}:{}", env.pg_host, env.pg_port),
        Strip::PgSslRequest,
    )
    .await;
    let mut base = SyncConfig::new(&env, &db.name, &["t"]);
    base.mysql_addr = format!("127.0.0.1:{my_port}");
    base.pg_port = pg_port;

    let mut sync = sync_and_compare(&env, &db, &base).await;
    let log = sync.log();
    assert!(
        log.contains("offers no TLS")
            && log.contains("connecting without TLS (mysql_ssl = preferred"),
        "preferred should fall back to plain text, saying so:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "PostgreSQL at 127.0.0.1:{pg_port}: not encrypted: the server offers no TLS"
        )),
        "{log}"
    );
    sync.sigterm_and_wait().await;

    let cfg = base.clone().set("mysql_ssl", "\"required\"");
    refused(
        &env,
        &cfg,
        &[
            "offers no TLS but mysql_ssl = required",
            "mysql_ssl = preferred",
        ],
    )
    .await;
    let cfg = base.clone().set("pg_sslmode", "\"require\"");
    refused(
        &env,
        &cfg,
        &["offers no TLS but pg_sslmode = require", "ssl = on"],
    )
    .await;
}
