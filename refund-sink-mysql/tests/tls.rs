//! MySqlSink over TLS, against a private MariaDB that refuses TCP connections without it
//! (`--require-secure-transport`, which needs the grant tables), with a CA and server
//! certificate made by the test (the `openssl` command).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::PrivateServer;
use common::*;
use mysql_async::prelude::Queryable;
use refund_sink_mysql::connect::opts_from_url;
use refund_sink_mysql::{MySqlSink, SinkError};
use wdt_qimen::sync::Sink;

const FLAT: &str = "aftersales_refund_refund_search";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let (cert, key) = (format!("{name}.pem"), format!("{name}-key.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &cert,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(cert)
}

/// A server certificate for `localhost` and 127.0.0.1 signed by CA `ca` (`server.pem`,
/// `server-key.pem`).
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// `SHOW STATUS LIKE 'Ssl_cipher'` on a connection made from `url` as the sink makes it.
async fn cipher(url: &str) -> String {
    let opts = opts_from_url(url).unwrap().opts;
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    let row: Option<(String, String)> = c.query_first("SHOW STATUS LIKE 'Ssl_cipher'").await.unwrap();
    c.disconnect().await.unwrap();
    row.map(|(_, v)| v).unwrap_or_default()
}

async fn write_one(url: &str, id: i64) {
    let sink = MySqlSink::builder(url)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let r = sink.commit(batch(vec![refund(id, at(1, 0), 1)], None)).await.unwrap();
    assert_eq!(r.inserted, 1, "{url}");
    sink.disconnect().await.unwrap();
}

#[tokio::test]
async fn the_sink_connects_over_tls_as_the_ssl_mode_says() {
    let certs = tempfile::tempdir().unwrap();
    let ca = make_ca(certs.path(), "ca");
    let other_ca = make_ca(certs.path(), "other-ca");
    make_server_cert(certs.path(), "ca");
    let file = |name: &str| certs.path().join(name).to_str().unwrap().to_owned();
    let server = PrivateServer::start_with_grant_tables(&[
        format!("--ssl-ca={}", file("ca.pem")),
        format!("--ssl-cert={}", file("server.pem")),
        format!("--ssl-key={}", file("server-key.pem")),
        "--require-secure-transport=ON".into(),
    ])
    .await;
    server.create_db("tls").await;
    let url = |query: &str| server.url("tls", query);
    let (ca, other_ca) = (ca.display().to_string(), other_ca.display().to_string());

    // Over TCP without TLS the server refuses, so a sink that writes below did use TLS (and
    // stayed on TCP: the Unix socket is allowed without TLS).
    let plain = MySqlSink::builder(url("?prefer_socket=false"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(plain, SinkError::Mysql { .. }), "{plain:?}");

    let verify_ca = url(&format!("?ssl-mode=VERIFY_CA&ssl-ca={ca}"));
    write_one(&verify_ca, 1).await;
    assert!(!cipher(&verify_ca).await.is_empty(), "no TLS cipher on {verify_ca}");
    write_one(&url("?ssl-mode=REQUIRED"), 2).await;
    write_one(&url(&format!("?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")), 3).await;
    write_one(
        &url(&format!("?ssl_mode=verify_identity&ssl_ca={ca}&ssl-hostname=localhost")),
        4,
    )
    .await;
    write_one(&url(&format!("?ssl-ca={ca}")), 5).await;
    let preferred = url("?ssl-mode=PREFERRED");
    write_one(&preferred, 6).await;
    assert!(
        !cipher(&preferred).await.is_empty(),
        "PREFERRED did not use the server's TLS"
    );
    let mut admin = server.admin().await;
    let n: Option<u64> = admin
        .query_first(format!("SELECT COUNT(*) FROM tls.`{FLAT}`"))
        .await
        .unwrap();
    assert_eq!(n, Some(6));
    admin.disconnect().await.unwrap();

    // A certificate that does not verify fails at once, with what to change.
    let e = MySqlSink::builder(url(&format!("?ssl-mode=VERIFY_CA&ssl-ca={other_ca}")))
        .build()
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SinkError::Tls { .. }), "{e:?}");
    assert!(text.contains("UnknownIssuer") && text.contains("ssl-ca"), "{text}");
    let e = MySqlSink::builder(url(&format!(
        "?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&ssl-hostname=db.example"
    )))
    .build()
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, SinkError::Tls { .. }), "{e:?}");
    assert!(text.contains("db.example") && text.contains("ssl-hostname"), "{text}");
    // mysql_async 0.36 checks the name under VERIFY_CA too; the error says what to do.
    let e = MySqlSink::builder(url(&format!("?ssl-mode=VERIFY_CA&ssl-ca={ca}&ssl-hostname=db.example")))
        .build()
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("even for VERIFY_CA") && text.contains("REQUIRED"),
        "{text}"
    );
}

#[tokio::test]
async fn preferred_falls_back_to_plain_when_the_server_offers_no_tls() {
    let db = TestDb::new("preferred").await;
    let url = format!("{}?ssl-mode=PREFERRED", db.url);
    write_one(&url, 1).await;
    assert_eq!(db.count(FLAT).await, 1);
    // REQUIRED does not fall back (unless the shared server has TLS after all).
    let mut c = db.conn().await;
    let have_ssl: Option<String> = c.query_first("SELECT @@have_ssl").await.unwrap();
    c.disconnect().await.unwrap();
    if have_ssl.as_deref() != Some("YES") {
        let e = MySqlSink::builder(format!("{}?ssl-mode=REQUIRED", db.url))
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, SinkError::Tls { detail, .. } if detail.contains("does not offer TLS")),
            "{e:?}"
        );
    }
    db.drop_db().await;
}
