//! From the connection URL to mysql_async's [`Opts`]: TLS as MySQL's own clients spell it
//! (`ssl-mode`, `ssl-ca`), TCP keepalive, and clear errors when a TLS handshake fails.
//!
//! | URL parameter | meaning |
//! |---|---|
//! | `ssl-mode=DISABLED` | plain TCP (also the default when no TLS parameter is given) |
//! | `ssl-mode=PREFERRED` | TLS when the server offers it, else plain; the certificate is not checked |
//! | `ssl-mode=REQUIRED` | TLS or fail; the certificate is not checked (it is when `ssl-ca` is given) |
//! | `ssl-mode=VERIFY_CA` | TLS, the certificate must chain to `ssl-ca` (or a public root without it) |
//! | `ssl-mode=VERIFY_IDENTITY` | as `VERIFY_CA`, and the certificate must name the host |
//! | `ssl-ca=/path/ca.pem` | the CA (PEM or DER) to trust instead of the public roots; alone it means `VERIFY_CA` |
//! | `ssl-hostname=db.internal` | the name to check the certificate against instead of the URL's host |
//!
//! `ssl_mode`, `ssl_ca` and `ssl_hostname` are accepted too, and mode values in any case with `_`
//! or `-`. mysql_async's own `require_ssl`, `verify_ca`, `verify_identity` and `built_in_roots`
//! still work when `ssl-mode` is not given. With TLS on, the sink stays on TCP instead of
//! switching to the server's Unix socket (mysql_async's `prefer_socket`), unless the URL sets
//! `prefer_socket`.
//!
//! mysql_async 0.36 checks the certificate's name even when asked not to (its name-mismatch test
//! does not recognise the error text of current rustls), so with `VERIFY_CA` a certificate that
//! does not name the URL's host fails with a [`SinkError::Tls`] that says to add `ssl-hostname`.

use std::str::FromStr;

use mysql_async::{DriverError, IoError, Opts, OptsBuilder, SslOpts};

use crate::error::SinkError;

/// TCP keepalive of every connection unless the URL sets `tcp_keepalive` (milliseconds): a
/// peer that vanished is noticed on an idle pooled connection.
pub const DEFAULT_TCP_KEEPALIVE_MS: u32 = 30_000;

/// `ssl-mode`, as MySQL's clients spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disabled,
    /// TLS when the server offers it; the certificate is not checked.
    Preferred,
    /// TLS or fail; the certificate is not checked unless a CA is given.
    Required,
    /// TLS; the certificate must chain to the CA.
    VerifyCa,
    /// TLS; the certificate must chain to the CA and name the host.
    VerifyIdentity,
}

impl FromStr for SslMode {
    type Err = SinkError;

    fn from_str(s: &str) -> Result<Self, SinkError> {
        match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => Ok(SslMode::Disabled),
            "PREFERRED" => Ok(SslMode::Preferred),
            "REQUIRED" => Ok(SslMode::Required),
            "VERIFY_CA" => Ok(SslMode::VerifyCa),
            "VERIFY_IDENTITY" => Ok(SslMode::VerifyIdentity),
            _ => Err(SinkError::InvalidConfig {
                problem: format!("unknown ssl-mode {s:?} in the MySQL URL"),
                fix: "use one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY".into(),
            }),
        }
    }
}

/// The connection options of a URL, and the TLS mode it asked for.
#[derive(Debug, Clone)]
pub struct ConnectOpts {
    /// What mysql_async connects with.
    pub opts: Opts,
    /// The `ssl-mode` given (or implied by `ssl-ca`); `None` when the URL used neither.
    pub ssl_mode: Option<SslMode>,
}

/// The sink's own URL parameters, taken out before mysql_async reads the rest.
#[derive(Debug, Default)]
struct OwnParams {
    mode: Option<SslMode>,
    ca: Option<String>,
    hostname: Option<String>,
    driver_tls: Vec<String>,
    prefer_socket: bool,
    tcp_keepalive: bool,
}

/// Parses `url` (`mysql://user:password@host:port/db?…`) into connection options; see the module
/// docs for the TLS parameters. `ssl-ca` is read here, so a missing file fails at once.
pub fn opts_from_url(url: &str) -> Result<ConnectOpts, SinkError> {
    let redacted = crate::redact_url(url);
    let invalid = |source| {
        if crate::sink::credentials_may_leak(url) {
            // The parser saw part of the password as host, port or parameter: its complaint
            // would quote it.
            SinkError::InvalidConfig {
                problem: format!("the MySQL URL {redacted} cannot be parsed"),
                fix: "percent-encode the characters / ? # @ : in the user name and password \
                      (%2F %3F %23 %40 %3A), e.g. mysql://app:p%2Fss@db-host:3306/erp"
                    .into(),
            }
        } else {
            SinkError::InvalidUrl {
                url: redacted.clone(),
                source,
            }
        }
    };
    let mut parsed = url::Url::parse(url).map_err(|e| invalid(mysql_async::UrlError::Parse(e)))?;
    let mut own = OwnParams::default();
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "ssl-mode" | "ssl_mode" => own.mode = Some(value.parse()?),
            "ssl-ca" | "ssl_ca" => own.ca = Some(value.into_owned()),
            "ssl-hostname" | "ssl_hostname" => own.hostname = Some(value.into_owned()),
            other => {
                match other {
                    "require_ssl" | "verify_ca" | "verify_identity" | "built_in_roots" => {
                        own.driver_tls.push(other.to_owned())
                    }
                    "prefer_socket" => own.prefer_socket = true,
                    "tcp_keepalive" => own.tcp_keepalive = true,
                    _ => {}
                }
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
    }
    if own.mode.is_some() && !own.driver_tls.is_empty() {
        return Err(SinkError::InvalidConfig {
            problem: format!(
                "the MySQL URL {redacted} gives both ssl-mode and {}",
                own.driver_tls.join(", ")
            ),
            fix: "keep ssl-mode (and ssl-ca) and remove the others".into(),
        });
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let opts = Opts::from_url(parsed.as_str()).map_err(invalid)?;
    let mode = match (own.mode, &own.ca) {
        (None, Some(_)) => Some(SslMode::VerifyCa),
        (mode, _) => mode,
    };
    let mut builder = OptsBuilder::from_opts(opts.clone());
    if let Some(mode) = mode {
        builder = builder.ssl_opts(ssl_opts(mode, own.ca.as_deref(), own.hostname.as_deref())?);
    } else if own.hostname.is_some() {
        return Err(SinkError::InvalidConfig {
            problem: format!("the MySQL URL {redacted} gives ssl-hostname without TLS"),
            fix: "add ssl-mode=VERIFY_CA (or VERIFY_IDENTITY) and ssl-ca, or remove ssl-hostname".into(),
        });
    }
    let tls = mode.is_some_and(|m| m != SslMode::Disabled) || opts.ssl_opts().is_some();
    if tls && !own.prefer_socket {
        builder = builder.prefer_socket(false);
    }
    if !own.tcp_keepalive {
        builder = builder.tcp_keepalive(Some(DEFAULT_TCP_KEEPALIVE_MS));
    }
    Ok(ConnectOpts {
        opts: builder.into(),
        ssl_mode: mode,
    })
}

/// mysql_async's TLS options for `mode`.
fn ssl_opts(mode: SslMode, ca: Option<&str>, hostname: Option<&str>) -> Result<Option<SslOpts>, SinkError> {
    let verify = match mode {
        SslMode::Disabled => return Ok(None),
        SslMode::Preferred => false,
        SslMode::Required => ca.is_some(),
        SslMode::VerifyCa | SslMode::VerifyIdentity => true,
    };
    let mut opts = SslOpts::default()
        .with_danger_accept_invalid_certs(!verify)
        .with_danger_skip_domain_validation(mode != SslMode::VerifyIdentity)
        .with_danger_tls_hostname_override(hostname.map(str::to_owned));
    if let Some(path) = ca {
        opts = opts
            .with_root_certs(vec![read_ca(path)?.into()])
            .with_disable_built_in_roots(true);
    }
    Ok(Some(opts))
}

/// Reads the CA file of `ssl-ca`; it must hold a PEM certificate (or be DER).
fn read_ca(path: &str) -> Result<Vec<u8>, SinkError> {
    let bytes = std::fs::read(path).map_err(|e| SinkError::InvalidConfig {
        problem: format!("ssl-ca {path:?} cannot be read: {e}"),
        fix: "give the path of the CA certificate (PEM) that signed the server's certificate".into(),
    })?;
    let pem_without_cert = std::str::from_utf8(&bytes).is_ok_and(|text| !text.contains("-----BEGIN CERTIFICATE-----"));
    if bytes.is_empty() || pem_without_cert {
        return Err(SinkError::InvalidConfig {
            problem: format!("ssl-ca {path:?} holds no certificate"),
            fix: "give a PEM file with a `-----BEGIN CERTIFICATE-----` block (the CA, not a key)".into(),
        });
    }
    Ok(bytes)
}

/// Turns a failed connect at start-up into [`SinkError::Tls`] when TLS is what failed; other
/// errors are returned as they are.
pub(crate) fn explain_connect_error(e: SinkError, url: &str, mode: Option<SslMode>) -> SinkError {
    let SinkError::Mysql { source, .. } = &e else { return e };
    let tls = |detail: String, fix: &str| SinkError::Tls {
        url: url.to_owned(),
        detail,
        fix: fix.to_owned(),
    };
    match source {
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => tls(
            "the server does not offer TLS".into(),
            "enable TLS on the server (ssl_cert, ssl_key), or use ssl-mode=PREFERRED or DISABLED",
        ),
        mysql_async::Error::Io(IoError::Tls(t)) => tls(
            t.to_string(),
            "check ssl-ca: it must be the CA certificate (PEM) that signed the server's certificate",
        ),
        mysql_async::Error::Io(IoError::Io(io)) => match io.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(cert)) => {
                use rustls::CertificateError as C;
                let fix = match cert {
                    C::NotValidForName | C::NotValidForNameContext { .. } => {
                        if mode == Some(SslMode::VerifyIdentity) {
                            "connect with a host name the certificate names, or add \
                             ssl-hostname=<a name in the certificate> to the URL"
                        } else {
                            "add ssl-hostname=<a name in the certificate> to the URL (mysql_async 0.36 \
                             checks the name even for VERIFY_CA), or use ssl-mode=REQUIRED to \
                             encrypt without checking"
                        }
                    }
                    C::UnknownIssuer | C::BadSignature | C::BadEncoding => {
                        "give the CA that signed the server's certificate in ssl-ca, or use \
                         ssl-mode=REQUIRED to encrypt without checking"
                    }
                    C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                        "renew the server's certificate (or check this machine's clock)"
                    }
                    _ => "check the server's certificate and ssl-ca",
                };
                tls(format!("the server's certificate was refused: {cert}"), fix)
            }
            Some(other) => tls(
                other.to_string(),
                "check the server's TLS settings, or use ssl-mode=DISABLED",
            ),
            None => e,
        },
        _ => e,
    }
}

/// True for the start-up error of `ssl-mode=PREFERRED` against a server without TLS.
pub(crate) fn is_no_tls_offered(e: &SinkError) -> bool {
    matches!(
        e,
        SinkError::Mysql {
            source: mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer),
            ..
        }
    )
}

/// `opts` without TLS (the `PREFERRED` fallback).
pub(crate) fn without_tls(opts: &Opts) -> Opts {
    OptsBuilder::from_opts(opts.clone()).ssl_opts(None::<SslOpts>).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let path = path.to_str().unwrap().to_owned();
        (dir, path)
    }

    #[test]
    fn without_tls_parameters_the_url_is_plain_with_keepalive() {
        let c = opts_from_url("mysql://u:p@db:3306/x?stmt_cache_size=8").unwrap();
        assert!(c.opts.ssl_opts().is_none());
        assert_eq!(c.ssl_mode, None);
        assert_eq!(c.opts.tcp_keepalive(), Some(DEFAULT_TCP_KEEPALIVE_MS));
        assert!(c.opts.prefer_socket());
        assert_eq!(c.opts.db_name(), Some("x"));
        assert_eq!(c.opts.pass(), Some("p"));
        let c = opts_from_url("mysql://u@db/x?tcp_keepalive=5000").unwrap();
        assert_eq!(c.opts.tcp_keepalive(), Some(5000));
    }

    #[test]
    fn ssl_modes_translate_to_the_drivers_options() {
        let (_dir, ca) = ca_file();
        let cases = [
            ("ssl-mode=DISABLED", false, None),
            ("ssl-mode=preferred", true, Some((true, true, false))),
            ("ssl_mode=REQUIRED", true, Some((true, true, false))),
            ("ssl-mode=verify-ca", true, Some((false, true, false))),
            ("ssl-mode=VERIFY_IDENTITY", true, Some((false, false, false))),
        ];
        for (query, tls, want) in cases {
            let c = opts_from_url(&format!("mysql://u@db/x?{query}")).unwrap();
            let got = c.opts.ssl_opts().map(|s| {
                (
                    s.accept_invalid_certs(),
                    s.skip_domain_validation(),
                    s.disable_built_in_roots(),
                )
            });
            assert_eq!(got, want, "{query}");
            assert_eq!(!c.opts.prefer_socket(), tls, "{query}: TLS stays on TCP");
        }
        // With a CA: REQUIRED verifies against it, and only it is trusted.
        for query in [format!("ssl-mode=REQUIRED&ssl-ca={ca}"), format!("ssl_ca={ca}")] {
            let c = opts_from_url(&format!("mysql://u@db/x?{query}&stmt_cache_size=8")).unwrap();
            let s = c.opts.ssl_opts().expect("TLS");
            assert!(!s.accept_invalid_certs() && s.disable_built_in_roots(), "{query}");
            assert_eq!(s.root_certs().len(), 1, "{query}");
        }
        assert_eq!(
            opts_from_url(&format!("mysql://u@db/x?ssl-ca={ca}")).unwrap().ssl_mode,
            Some(SslMode::VerifyCa)
        );
        let c = opts_from_url("mysql://u@10.0.0.5/x?ssl-mode=VERIFY_IDENTITY&ssl-hostname=db.internal").unwrap();
        assert_eq!(c.opts.ssl_opts().unwrap().tls_hostname_override(), Some("db.internal"));
        // The driver's own spellings still work, and an explicit prefer_socket is kept.
        let c = opts_from_url("mysql://u@db/x?require_ssl=true&verify_ca=false&prefer_socket=true").unwrap();
        assert!(c.opts.ssl_opts().unwrap().accept_invalid_certs());
        assert!(c.opts.prefer_socket());
    }

    #[test]
    fn bad_tls_parameters_name_the_field_value_and_fix() {
        let e = opts_from_url("mysql://u:secret@db/x?ssl-mode=ALWAYS")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"ALWAYS\"") && e.contains("VERIFY_CA"), "{e}");
        let e = opts_from_url("mysql://u:secret@db/x?ssl-mode=REQUIRED&require_ssl=true")
            .unwrap_err()
            .to_string();
        assert!(e.contains("require_ssl") && !e.contains("secret"), "{e}");
        let e = opts_from_url("mysql://u@db/x?ssl-ca=/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ca.pem") && e.contains("cannot be read"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
        let e = opts_from_url(&format!("mysql://u@db/x?ssl-ca={}", key.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no certificate"), "{e}");
        let e = opts_from_url("mysql://u@db/x?ssl-hostname=h").unwrap_err().to_string();
        assert!(e.contains("ssl-hostname without TLS"), "{e}");
        let e = opts_from_url("mysql://u:secret@db/x?nonsense=1").unwrap_err();
        assert!(matches!(e, SinkError::InvalidUrl { .. }) && !e.to_string().contains("secret"));
    }
}
