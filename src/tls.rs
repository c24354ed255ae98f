//! TLS to both servers.
//!
//! The modes are each server's own client's (MySQL's `--ssl-mode`, libpq's `sslmode`), so an
//! operator's settings carry over, and both default to what those clients do: encrypt when the
//! server offers it. What each mode checks once TLS is on:
//! - `preferred`/`prefer`, `required`/`require`: nothing (encryption against eavesdroppers only);
//! - `verify_ca`/`verify-ca`: that the certificate chains to the CA (any host name: MySQL's
//!   auto-generated certificates name no host);
//! - `verify_identity`/`verify-full`: the chain and that the certificate names the host.
//!
//! A CA file given with a mode that would not check it makes the mode `verify_ca` (libpq does
//! this for `require`): a configured CA is never silently ignored. Without a CA file the
//! verifying modes trust the Mozilla roots (webpki-roots), enough for managed services whose
//! certificates chain to a public CA.
//!
//! rustls with the `ring` provider is used on both sides: no OpenSSL to install or link, and one
//! TLS stack to reason about.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::{Config, MysqlSsl, PgSslMode};

/// What is checked of the server's certificate once TLS is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Nothing,
    Chain,
    ChainAndName,
}

/// The effective setting for one server, after a CA file has had its say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls {
    /// TLS at all.
    pub on: bool,
    /// Plain text is acceptable when the server offers no TLS (or its handshake fails).
    pub fallback: bool,
    pub verify: Verify,
}

impl Tls {
    fn new(mode: Tls, ca_given: bool) -> Tls {
        if mode.on && ca_given && mode.verify == Verify::Nothing {
            Tls {
                on: true,
                fallback: false,
                verify: Verify::Chain,
            }
        } else {
            mode
        }
    }

    /// For the log line at start, and `check`.
    pub fn describe(&self, version: Option<&str>) -> String {
        match version {
            None | Some("") if self.on => "not encrypted: the server offers no TLS".into(),
            None | Some("") => "not encrypted (TLS disabled in the config)".into(),
            Some(v) => format!(
                "{v}, {}",
                match self.verify {
                    Verify::Nothing => "server certificate not verified",
                    Verify::Chain => "server certificate verified against the CA",
                    Verify::ChainAndName =>
                        "server certificate verified against the CA and the host name",
                }
            ),
        }
    }
}

/// The five modes of either client, weakest first (the order of both enums): MySQL's and
/// libpq's names for the same five settings.
const LEVELS: [Tls; 5] = [
    // disabled / disable
    Tls {
        on: false,
        fallback: true,
        verify: Verify::Nothing,
    },
    // preferred / prefer
    Tls {
        on: true,
        fallback: true,
        verify: Verify::Nothing,
    },
    // required / require
    Tls {
        on: true,
        fallback: false,
        verify: Verify::Nothing,
    },
    // verify_ca / verify-ca
    Tls {
        on: true,
        fallback: false,
        verify: Verify::Chain,
    },
    // verify_identity / verify-full
    Tls {
        on: true,
        fallback: false,
        verify: Verify::ChainAndName,
    },
];

impl MysqlSsl {
    fn tls(self) -> Tls {
        LEVELS[self as usize]
    }
}

impl PgSslMode {
    fn tls(self) -> Tls {
        LEVELS[self as usize]
    }
}

/// Makes `ring` the process's rustls provider: mysql_async builds its TLS config with the
/// process default, which must be unambiguous even if another crate enables a second provider.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS files of one server, read and checked at start so that a wrong path is a config
/// error naming the key, not a failure on the first connection.
#[derive(Clone, Default)]
struct Files {
    ca: Option<Vec<CertificateDer<'static>>>,
    /// PEM bytes of the client certificate chain and key, when the server wants a client
    /// certificate.
    client: Option<(Vec<u8>, Vec<u8>)>,
}

fn read_files(
    ca: &Option<std::path::PathBuf>,
    cert: &Option<std::path::PathBuf>,
    key: &Option<std::path::PathBuf>,
    keys: [&str; 3],
) -> Result<Files> {
    let ca = match ca {
        // libpq's `sslrootcert=system`: the public roots.
        Some(p) if p.as_os_str() == "system" => None,
        Some(p) => Some(read_certs(p).with_context(|| format!("`{}`", keys[0]))?),
        None => None,
    };
    let client = match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) => {
            read_certs(c).with_context(|| format!("`{}`", keys[1]))?;
            let key_pem = std::fs::read(k)
                .with_context(|| format!("`{}`: cannot read {}", keys[2], k.display()))?;
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                anyhow::anyhow!("`{}`: no private key in {}: {e}", keys[2], k.display())
            })?;
            warn_if_key_exposed(k);
            Some((std::fs::read(c)?, key_pem))
        }
        (Some(_), None) => bail!("`{}` is set but `{}` is not: give both", keys[1], keys[2]),
        (None, Some(_)) => bail!("`{}` is set but `{}` is not: give both", keys[2], keys[1]),
    };
    Ok(Files { ca, client })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

fn warn_if_key_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "{} (a private key) can be read by other users: chmod 600 it",
                path.display()
            );
        }
    }
}

/// MySQL's TLS setting and the `SslOpts` that carry it out (`None`: plain text).
#[derive(Clone)]
pub struct MysqlTls {
    pub tls: Tls,
    ssl: Option<mysql_async::SslOpts>,
}

impl MysqlTls {
    pub fn new(cfg: &Config) -> Result<MysqlTls> {
        let files = read_files(
            &cfg.mysql_ssl_ca,
            &cfg.mysql_ssl_cert,
            &cfg.mysql_ssl_key,
            ["mysql_ssl_ca", "mysql_ssl_cert", "mysql_ssl_key"],
        )?;
        let tls = Tls::new(cfg.mysql_ssl.tls(), files.ca.is_some());
        if !tls.on {
            return Ok(MysqlTls { tls, ssl: None });
        }
        let mut ssl = mysql_async::SslOpts::default();
        if let Some(ca) = files.ca {
            ssl = ssl
                .with_root_certs(ca.into_iter().map(|c| c.to_vec().into()).collect())
                .with_disable_built_in_roots(true);
        }
        if let Some((cert, key)) = files.client {
            ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                cert.into(),
                key.into(),
            )));
        }
        ssl = match tls.verify {
            Verify::Nothing => ssl.with_danger_accept_invalid_certs(true),
            Verify::Chain => ssl.with_danger_skip_domain_validation(true),
            Verify::ChainAndName => ssl,
        };
        Ok(MysqlTls {
            tls,
            ssl: Some(ssl),
        })
    }

    /// The options for TLS as configured, or plain text after `preferred` fell back.
    pub fn ssl_opts(&self, plain: bool) -> Option<mysql_async::SslOpts> {
        if plain {
            None
        } else {
            self.ssl.clone()
        }
    }
}

/// PostgreSQL's TLS setting and the connector that carries it out.
#[derive(Clone)]
pub struct PgTls {
    pub tls: Tls,
    connector: tokio_postgres_rustls::MakeRustlsConnect,
}

impl PgTls {
    pub fn new(cfg: &Config) -> Result<PgTls> {
        let files = read_files(
            &cfg.pg_sslrootcert,
            &cfg.pg_sslcert,
            &cfg.pg_sslkey,
            ["pg_sslrootcert", "pg_sslcert", "pg_sslkey"],
        )?;
        let tls = Tls::new(cfg.pg_sslmode.tls(), files.ca.is_some());
        let config = client_config(&files, tls.verify)?;
        Ok(PgTls {
            tls,
            connector: tokio_postgres_rustls::MakeRustlsConnect::new(config),
        })
    }

    /// The mode for tokio-postgres: it sends no TLS request for `Disable`, falls back to plain
    /// text on the server's "no" for `Prefer`, and refuses plain text for `Require`.
    pub fn ssl_mode(&self, plain: bool) -> deadpool_postgres::SslMode {
        match (self.tls.on && !plain, self.tls.fallback) {
            (false, _) => deadpool_postgres::SslMode::Disable,
            (true, true) => deadpool_postgres::SslMode::Prefer,
            (true, false) => deadpool_postgres::SslMode::Require,
        }
    }

    pub fn connector(&self) -> tokio_postgres_rustls::MakeRustlsConnect {
        self.connector.clone()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(files: &Files, verify: Verify) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    match &files.ca {
        Some(certs) => {
            for c in certs {
                roots
                    .add(c.clone())
                    .context("`pg_sslrootcert`: a certificate in it is not usable as a CA")?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let roots = Arc::new(roots);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match verify {
        Verify::ChainAndName => builder.with_root_certificates(roots),
        Verify::Chain | Verify::Nothing => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .context("TLS certificate verifier")?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Lenient {
                    webpki,
                    check_chain: verify == Verify::Chain,
                }))
        }
    };
    Ok(match &files.client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>()?;
            let key = PrivateKeyDer::from_pem_slice(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .context("`pg_sslcert` / `pg_sslkey` do not belong together")?
        }
        None => builder.with_no_client_auth(),
    })
}

/// A verifier for the modes that check less than everything: the chain only (`verify-ca`), or
/// nothing (`require`, `prefer`). The handshake's signatures are always checked, so the server
/// still proves it holds the key of the certificate it shows.
#[derive(Debug)]
struct Lenient {
    webpki: Arc<WebPkiServerVerifier>,
    check_chain: bool,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The rustls error somewhere in an error's chain: a failed handshake or a refused certificate.
pub fn tls_failure<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cur = err.source();
    }
    None
}

/// What to do about a TLS failure, for the error message.
pub fn advice(e: &rustls::Error, server: &str) -> String {
    let (ca, mode, chain_only) = match server {
        "MySQL" => ("mysql_ssl_ca", "mysql_ssl", "verify_ca"),
        _ => ("pg_sslrootcert", "pg_sslmode", "verify-ca"),
    };
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the {server} server's certificate does not name the host connected to: connect by a name \
             the certificate holds, or set {mode} = \"{chain_only}\" to check the CA only"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "the {server} server's certificate was refused: set {ca} to the CA that signed it"
        ),
        _ => format!("the TLS handshake with {server} failed: check {mode} and the server's TLS settings"),
    }
}

/// Marks a failed TLS attempt that `preferred` may retry in plain text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoTls(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_makes_a_non_verifying_mode_check_the_chain() {
        for mode in [MysqlSsl::Preferred, MysqlSsl::Required] {
            let t = Tls::new(mode.tls(), true);
            assert_eq!((t.on, t.fallback, t.verify), (true, false, Verify::Chain));
        }
        let t = Tls::new(MysqlSsl::VerifyIdentity.tls(), true);
        assert_eq!(t.verify, Verify::ChainAndName);
        assert!(!Tls::new(MysqlSsl::Disabled.tls(), true).on);
        let t = Tls::new(PgSslMode::Prefer.tls(), false);
        assert_eq!((t.on, t.fallback, t.verify), (true, true, Verify::Nothing));
    }

    #[test]
    fn modes_parse_in_any_case_and_refuse_others() {
        #[derive(serde::Deserialize)]
        struct T {
            m: MysqlSsl,
            p: PgSslMode,
        }
        let t: T = toml::from_str("m = \"VERIFY_IDENTITY\"\np = \"verify-full\"").unwrap();
        assert_eq!(
            (t.m, t.p),
            (MysqlSsl::VerifyIdentity, PgSslMode::VerifyFull)
        );
        let t: T = toml::from_str("m = \"verify-ca\"\np = \"VERIFY_CA\"").unwrap();
        assert_eq!((t.m, t.p), (MysqlSsl::VerifyCa, PgSslMode::VerifyCa));
        let e = toml::from_str::<T>("m = \"on\"\np = \"prefer\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected one of disabled, preferred"), "{e}");
        let e = toml::from_str::<T>("m = \"required\"\np = \"allow\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("pg_sslmode"), "{e}");
    }
}
